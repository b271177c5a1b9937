"""What a client's login must look like before the gateway hands it to libpq.

The client is the only source of a login. libpq would otherwise fill in what
is missing on its own (an empty password from a password file, an empty user
name from the OS account) or silently change what was sent (a NUL ends a
connection-string value; PostgreSQL truncates names to 63 bytes), so such
logins are refused here, where every ``Credentials`` is made, with a reason.
"""

from __future__ import annotations

from .errors import AuthenticationFailed, InvalidCredentials

MAX_NAME_BYTES = 63
"""PostgreSQL's ``NAMEDATALEN - 1``: no role or database has a longer name (the
server truncates longer ones, which would log in as another name than sent)."""
MAX_PASSWORD_BYTES = 8192
"""libpq's SCRAM exchange hashes the password 4096 times inside the gateway's event loop,
at a cost proportional to its length (a 64 MiB one would stall every client for minutes);
8 KiB still holds token-style passwords (cloud IAM and Entra ID access tokens)."""


def check_credentials(user: str, password: str, database: str | None) -> None:
    """Refuse a login libpq cannot carry as sent (400) or that cannot be meant (401)."""
    fields = (("user name", user), ("password", password), ("database name", database or ""))
    for what, value in fields:
        _check_carriable(what, value)
    if not user:
        raise AuthenticationFailed("empty user name")
    if not password:
        raise AuthenticationFailed("empty password (the gateway never supplies one)")
    for what, value in (("user name", user), ("database name", database or "")):
        if len(value.encode()) > MAX_NAME_BYTES:
            raise AuthenticationFailed(
                f"{what} longer than {MAX_NAME_BYTES} bytes (PostgreSQL's limit for names)"
            )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise AuthenticationFailed(f"password longer than {MAX_PASSWORD_BYTES} bytes")


def _check_carriable(what: str, value: str) -> None:
    """A NUL or an unencodable character would not reach PostgreSQL as sent."""
    if "\x00" in value:
        raise InvalidCredentials(f"the {what} must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidCredentials(f"the {what} is not valid Unicode") from None
