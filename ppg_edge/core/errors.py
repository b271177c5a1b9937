"""The exception hierarchy every layer of the driver raises.

It mirrors the official client's classes (GenericError and its children) and
adds ProtocolError for malformed or truncated answers, QueryTimeoutError and
ConnectTimeoutError. No message or repr ever carries a password.
"""

from __future__ import annotations

from collections.abc import Mapping


class GenericError(Exception):
    """Base of every error raised by ppg_edge."""


class ValidationError(GenericError):
    """Bad input or configuration, caught before anything is sent."""


class HttpResponseError(GenericError):
    """The server answered an HTTP request with a non-2xx status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = message


class WebSocketError(GenericError):
    """A session's WebSocket failed or closed while statements were waiting.

    `close_code` is the WebSocket close code once a socket was open; `status` is
    the HTTP status of a refused upgrade (e.g. 401, 403, 404) where the runtime
    can see it, and None otherwise.
    """

    def __init__(
        self,
        message: str,
        close_code: int | None = None,
        reason: str = "",
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.close_code = close_code
        self.reason = reason
        self.status = status


class DataError(GenericError):
    """A result value the Python type cannot represent, e.g. infinity dates or BC years."""


class ProtocolError(GenericError):
    """The server sent something the protocol does not allow, or stopped short."""


class QueryTimeoutError(GenericError, TimeoutError):
    """A statement did not finish within its timeout."""


class ConnectTimeoutError(GenericError, ConnectionError, TimeoutError):
    """Connecting took longer than the connect timeout.

    Connecting is TCP, TLS and, for a session, the WebSocket upgrade and the
    credentials message. Also a ConnectionError, which is what runtimes raise
    for a connection that could not be made.
    """


class DatabaseError(GenericError):
    """PostgreSQL reported an error; `code` is the SQLSTATE, `message` the server's text.

    `str(e)` carries both, e.g. "division by zero (SQLSTATE 22012)", so a notebook's
    or a log's one-line traceback says which error it was.
    """

    def __init__(self, message: str, code: str, details: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, str] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.message} (SQLSTATE {self.code})" if self.code else self.message

    @property
    def severity(self) -> str | None:
        return self.details.get("severity")

    def __repr__(self) -> str:
        return f"DatabaseError(code={self.code!r}, message={self.message!r})"
