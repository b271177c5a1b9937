"""Keep libpq from logging a client in with anything of the gateway's own.

Besides the parameters it is given, libpq takes a login from three places: the
process environment (``PGPASSWORD``, ``PGUSER``, ``PGSERVICE`` and its service
file, ``PGOPTIONS``, ``PGTZ``…: every libpq variable starts with ``PG``), files
under the home directory (``~/.pgpass``, the client certificate and key in
``~/.postgresql``), and the operating system (the OS user name, a Kerberos
ticket). The gateway closes each: the client's user, password (never empty)
and database are always given explicitly, which leaves ``PGUSER``,
``PGPASSWORD``, ``PGDATABASE`` and the password file nothing to fill in; the
``PG`` variables are removed from the process before every login, which also
leaves no service named, so no service file is read; and the parameters below
send no client certificate, use no password file or GSS encryption, and (libpq
16 and later) accept only authentication methods that check the client's
password, or none at all (a server set to trust).

``sslrootcert`` and ``sslcrl`` are left alone: they are how the gateway checks
the server (``sslmode=verify-full``), not how a client logs in.
"""

from __future__ import annotations

import os

from psycopg import pq

LIBPQ_VARIABLE_PREFIX = "PG"
NOWHERE = os.path.join(os.devnull, "none")
"""A file that cannot exist (its parent is not a directory): libpq then goes without."""
_NEUTRAL = {
    "passfile": NOWHERE,
    "sslcert": NOWHERE,
    "sslkey": NOWHERE,
    "gssencmode": "disable",
    "require_auth": "password,md5,scram-sha-256,none",
}


def _supported() -> set[str]:
    return {option.keyword.decode() for option in pq.Conninfo.get_defaults()}


NEUTRAL_PARAMETERS = {key: value for key, value in _NEUTRAL.items() if key in _supported()}
"""The parameters above this libpq knows (``require_auth`` came with libpq 16)."""


def forget_libpq_environment() -> None:
    """Remove every ``PG`` variable from the environment libpq reads at each login."""
    for name in [name for name in os.environ if name.startswith(LIBPQ_VARIABLE_PREFIX)]:
        del os.environ[name]
