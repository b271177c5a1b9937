"""Logins a client may claim, shared by HTTP (Basic, ``?db=``) and WebSocket (auth message) cases.

The fuzz gateway runs with a hostile libpq environment (PGPASSWORD, PGPASSFILE
and PGUSER naming the real login): any variant here that is not literally the
real user, password and database must still be refused, never filled in or
cut short by libpq.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ppg_edge.core.protocol import SESSION_PATH


@dataclass
class Login:
    """The real login of the fuzz gateway's role."""

    user: str
    password: str
    database: str


def credential_variant(rng: random.Random, login: Login) -> tuple[str, str, str]:
    """(label, user, password), never the real pair: each must fail to log in.

    Labels ending in ``-no-db`` also drop the database, so that libpq's
    default (the user name) comes into play.
    """
    user, password = login.user, login.password
    choices: list[tuple[str, str, str]] = [
        ("wrong-password", user, password + "x"),
        ("wrong-user", user + "x", password),
        ("empty-user", "", password),
        ("empty-password", user, ""),
        ("empty-both", "", ""),
        ("nul-user", user + "\x00", "WRONG"),
        ("nul-user-real-password", user + "\x00", password),
        ("nul-user-prefix", user[:3] + "\x00" + user[3:], password),
        ("nul-password", user, password + "\x00WRONG"),
        ("nul-password-prefix", user, password[:4] + "\x00"),
        ("nul-only-password", user, "\x00"),
        ("huge-user", "u" * rng.choice([64, 5000, 6000]), password),
        ("huge-user-no-db", "u" * rng.choice([64, 5000]), password),
        ("empty-user-no-db", "", password),
        ("huge-password", user, "p" * 5000),
        ("control-user", user + rng.choice(["\n", "\t", "\r", " ", "\x7f", "\x01"]), password),
        ("quote-user", user + "' password='x", password),
        ("injection-password", user, "x' user='postgres"),
        ("options-user", user + " options='-c statement_timeout=1'", password),
        ("unicode-user", user + "é", password),
        ("surrogate-user", user + "\udcff", password),
        ("colon-password", user, password + ":x"),
        ("space-password", user, " " + password),
    ]
    return rng.choice(choices)


def database_variant(rng: random.Random, login: Login) -> tuple[str, bytes, str, bool]:
    """(label, query string, expectation, wrong login) for the ``?db=`` parameter."""
    db = login.database.encode()
    choices: list[tuple[str, bytes, str, bool]] = [
        ("nul", b"?db=" + db + b"%00", "refuse", True),
        ("nul-middle", b"?db=" + db[:3] + b"%00" + db[3:], "refuse", True),
        ("nul-suffix", b"?db=" + db + b"%00x", "refuse", True),
        ("huge", b"?db=" + b"d" * 5000, "refuse", True),
        ("unknown", b"?db=" + db + b"x", "refuse", True),
        ("quote", b"?db=" + db + b"%27%20x", "refuse", True),
        ("non-utf8", b"?db=" + db + b"%FF", "refuse", True),
        ("options", b"?db=" + db + b"%20options%3D-cx", "refuse", True),
        ("empty", b"?db=", "ok", False),
        ("absent", b"", "ok", False),
        ("doubled", b"?db=" + db + b"&db=" + db + b"x", "any", False),
        ("bad-escape", b"?db=" + db + b"&%zz", "any", False),
    ]
    return rng.choice(choices)


def session_target(login: Login, query: bytes | None = None) -> str:
    """The WebSocket request target, with ``?db=`` unless told otherwise."""
    if query is None:
        query = b"?db=" + login.database.encode()
    return SESSION_PATH + query.decode("latin-1")
