"""Connection strings and client configuration (PROTOCOL.md section 1).

A connection string names the host, credentials and database; the driver talks
to `https://HOST` unless an explicit endpoint overrides it (a local gateway on
`http://127.0.0.1:PORT`, say). Credentials and database are kept exactly as
written, without percent-decoding, like the official client.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final
from urllib.parse import urlencode, urlsplit

from ppg_edge.core.errors import ValidationError
from ppg_edge.core.protocol import (
    CONNECTION_STRING_SCHEMES,
    DATABASE_QUERY_PARAM,
    MAX_RESULT_FRAME_BYTES,
    SESSION_PATH,
    STATEMENT_PATH,
)

if TYPE_CHECKING:
    from ppg_edge.core.types import ValueParser, ValueSerializer

_ENDPOINT_SCHEMES = {"http": "ws", "https": "wss"}

DEFAULT_CONNECT_TIMEOUT: Final = 10.0
"""Seconds connecting may take unless configured: TCP, TLS and, for a session, the
WebSocket upgrade and the credentials message.

A healthy endpoint answers in a few round trips, well under a second even across
continents; 10 s still covers three lost-SYN retransmissions (1 + 2 + 4 s), and
an endpoint that accepts and then says nothing fails fast instead of stalling.
"""

CLOSE_HANDSHAKE_TIMEOUT: Final = 5.0
"""Seconds closing a WebSocket may take (our close frame out, the server's back)
before the connection is dropped: a server that stops reading cannot hold it."""


@dataclass(frozen=True)
class ConnectionInfo:
    """Where and as whom to connect; the password never shows in repr or str."""

    endpoint: str
    username: str
    password: str = field(repr=False)
    database: str | None = None
    explicit_endpoint: bool = False
    """True when the caller named the endpoint (a gateway), not Prisma's default ``https://HOST``."""

    def statement_url(self) -> str:
        """The HTTP URL statements are POSTed to."""
        return self.endpoint + STATEMENT_PATH + self._query()

    def session_url(self) -> str:
        """The ws:// or wss:// URL of a WebSocket session."""
        scheme, rest = self.endpoint.split("://", 1)
        return f"{_ENDPOINT_SCHEMES[scheme]}://{rest}{SESSION_PATH}{self._query()}"

    def authorization(self) -> str:
        """The HTTP Basic Authorization header value."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    def auth_message(self) -> str:
        """The first message of a WebSocket session."""
        return json.dumps({"username": self.username, "password": self.password})

    def _query(self) -> str:
        if not self.database:
            return ""
        return "?" + urlencode({DATABASE_QUERY_PARAM: self.database})


def parse_connection_string(connection_string: str, endpoint: str | None = None) -> ConnectionInfo:
    """Split `postgres://USER:PASSWORD@HOST:PORT/DATABASE?…` into a ConnectionInfo."""
    if not isinstance(connection_string, str):
        raise ValidationError("the connection string must be a str")
    scheme, sep, rest = connection_string.partition("://")
    if not sep or scheme.lower() not in CONNECTION_STRING_SCHEMES:
        raise ValidationError("the connection string must start with postgres:// or postgresql://")
    authority, path = _split_authority(rest)
    userinfo, at, hostport = authority.rpartition("@")
    username, colon, password = userinfo.partition(":")
    if not at or not colon or not username or not password:
        raise ValidationError("the connection string must include a username and a password")
    host = _host(hostport)
    database = path[1:] if path.startswith("/") else path
    base = _endpoint(endpoint) if endpoint is not None else f"https://{host}"
    return ConnectionInfo(base, username, password, database or None, endpoint is not None)


def _split_authority(rest: str) -> tuple[str, str]:
    """Authority and path of what follows `scheme://`, dropping query and fragment."""
    end = len(rest)
    for mark in "?#":
        index = rest.find(mark)
        if index != -1:
            end = min(end, index)
    head = rest[:end]
    # The password may hold '/', so the path starts at the first '/' after the last '@'.
    at = head.rfind("@")
    slash = head.find("/", at + 1)
    if slash == -1:
        return head, ""
    return head[:slash], head[slash:]


def _host(hostport: str) -> str:
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1:
            raise ValidationError("the connection string has a malformed IPv6 host")
        host = hostport[: close + 1]
        tail = hostport[close + 1 :]
    else:
        host, _, port = hostport.partition(":")
        tail = f":{port}" if port else ""
    if not host or (tail and not (tail.startswith(":") and tail[1:].isdigit())):
        raise ValidationError("the connection string has no valid host")
    return host.lower()


def _endpoint(endpoint: str) -> str:
    """Validate an explicit endpoint and normalise it to `scheme://host[:port]`."""
    if not isinstance(endpoint, str):
        raise ValidationError("endpoint must be a str such as 'https://host'")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValidationError("endpoint is not a valid URL (bad port?)") from None
    # The endpoint is never echoed: a mistaken one might hold credentials.
    if parts.scheme not in _ENDPOINT_SCHEMES or not parts.hostname:
        raise ValidationError("endpoint must be an http:// or https:// URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValidationError("endpoint must be scheme://host[:port], with no path or credentials")
    return f"{parts.scheme}://{parts.netloc}"


def check_size(size: int, name: str) -> int:
    """A byte limit must be a positive int."""
    if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
        raise ValidationError(f"{name} must be a positive number of bytes")
    return size


def check_timeout(timeout: float | None, name: str = "timeout") -> float | None:
    """A timeout in seconds must be a positive finite number, or None for none."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValidationError(f"{name} must be a number of seconds or None")
    if not math.isfinite(timeout) or timeout <= 0:
        raise ValidationError(f"{name} must be a positive number of seconds")
    return float(timeout)


@dataclass
class ClientConfig:
    """Everything a client needs: the connection string plus types, endpoint and limits.

    `parsers` and `serializers` are used exactly as given. `default_client_config`
    adds the defaults: serializers are tried in order with the user's first, and
    parsers are keyed by OID with the user's overriding a default for the same OID.
    `timeout` bounds each statement (None: no limit); `connect_timeout` bounds
    connecting (None: no limit); `max_frame_bytes` caps one NDJSON line of an
    HTTP answer. The connection string is hidden from repr: it carries the password.
    """

    connection_string: str = field(repr=False)
    parsers: Sequence[ValueParser] = ()
    serializers: Sequence[ValueSerializer] = ()
    endpoint: str | None = None
    timeout: float | None = None
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES
    connection: ConnectionInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.connection = parse_connection_string(self.connection_string, self.endpoint)
        self.timeout = check_timeout(self.timeout)
        self.connect_timeout = check_timeout(self.connect_timeout, "connect_timeout")
        self.max_frame_bytes = check_size(self.max_frame_bytes, "max_frame_bytes")
        self.parsers = list(self.parsers)
        self.serializers = list(self.serializers)

    def __repr__(self) -> str:
        c = self.connection
        return (
            f"ClientConfig(endpoint={c.endpoint!r}, username={c.username!r}, "
            f"database={c.database!r}, parsers={len(self.parsers)}, "
            f"serializers={len(self.serializers)}, timeout={self.timeout!r}, "
            f"connect_timeout={self.connect_timeout!r})"
        )
