"""A SQLAlchemy URL -> the arguments of ``ppg_edge.dbapi.connect``.

``postgresql+ppg_edge://USER:PASSWORD@HOST[:PORT]/DB?endpoint=http://127.0.0.1:8080``
becomes ``connect("postgresql://USER:PASSWORD@HOST[:PORT]/DB", endpoint=...)``: the
driver then reaches the endpoint when one is given, else ``https://HOST`` as it
always does. SQLAlchemy has already percent-decoded the URL's parts, and the driver
takes credentials exactly as written, so they are passed on decoded.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError

URL_OPTIONS = ("endpoint", "timeout", "connect_timeout")
"""Query keys of the URL passed on to the driver; ``timeout`` and ``connect_timeout`` in seconds."""

_UNSAFE_IN_CREDENTIALS = "?#"
"""Characters that would end the authority of the connection string the driver parses."""


def connect_arguments(url: URL) -> tuple[list[Any], dict[str, Any]]:
    """``(args, kwargs)`` for ``ppg_edge.dbapi.connect``; ``connect_args`` are added later."""
    if not url.host:
        raise ArgumentError("a postgresql+ppg_edge URL needs a host (the endpoint's, or any)")
    if not url.username or url.password is None:
        raise ArgumentError("a postgresql+ppg_edge URL needs a username and a password")
    for name, part in (("username", url.username), ("password", str(url.password))):
        if any(mark in part for mark in _UNSAFE_IN_CREDENTIALS):
            # Never echo the value: it is a credential.
            raise ArgumentError(
                f"the {name} cannot contain '?' or '#' (the driver cannot parse it)"
            )
    return [_connection_string(url)], _options(url)


def _connection_string(url: URL) -> str:
    host = str(url.host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    port = f":{url.port}" if url.port else ""
    database = f"/{url.database}" if url.database else ""
    return f"postgresql://{url.username}:{url.password}@{host}{port}{database}"


def _options(url: URL) -> dict[str, Any]:
    unknown = sorted(set(url.query) - set(URL_OPTIONS))
    if unknown:
        raise ArgumentError(
            f"unknown postgresql+ppg_edge URL option(s) {unknown}; known: {list(URL_OPTIONS)}"
        )
    options: dict[str, Any] = {}
    for key, value in url.query.items():
        if not isinstance(value, str):
            raise ArgumentError(f"the URL option {key!r} is given more than once")
        options[key] = value if key == "endpoint" else _seconds(key, value)
    return options


def _seconds(key: str, text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        return float(text)  # the driver checks the range, as for any caller
    except ValueError:
        raise ArgumentError(f"the URL option {key!r} must be a number of seconds") from None
