"""The exception hierarchy every layer of the driver raises: PEP 249's, with the driver's own.

PEP 249 (DB-API 2.0) names the tree every Python data tool catches; the official
client's classes (GenericError and its children) live in it, so code written
for either keeps working:

    Warning
    Error (alias GenericError)
        InterfaceError
            ValidationError             bad input or configuration, nothing sent
        DatabaseError                   `code` (SQLSTATE), `message`, `details`
            DataError                   SQLSTATE class 22
                UnrepresentableValueError   a value Python cannot hold (was DataError)
            OperationalError            08, 28, 40, 53, 57, ...
                HttpResponseError       a non-2xx HTTP answer
                QueryTimeoutError       the statement's timeout= ran out
                ConnectionFailedError   unreachable, dropped or broken connection
                    ConnectTimeoutError
                    WebSocketError      a session's socket failed, closed or was refused
                    ProtocolError       a malformed or truncated answer (the connection
                                        is dropped with it)
            IntegrityError              23
            InternalError               XX, 24, 25, ...
            ProgrammingError            42, 26, 34, 3D, ...
            NotSupportedError           0A

A server error becomes the class of its SQLSTATE (`core/sqlstate.py`: a class per
common SQLSTATE, else the class of its two-character SQLSTATE class). Every error
pickles (a traceback shipped to another process keeps its type and fields), and
no message or repr ever carries a password: messages name endpoints, never
connection strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class Warning(Exception):  # PEP 249 names it so, over the builtin here
    """PEP 249's Warning; the driver raises none today (PostgreSQL notices are not sent)."""


class Error(Exception):
    """Base of every error raised by ppg_edge (PEP 249's Error)."""


GenericError = Error
"""The official client's name for the base class; `except GenericError` catches every error."""


class InterfaceError(Error):
    """A misuse of the driver itself rather than an error of the database."""


class ValidationError(InterfaceError):
    """Bad input or configuration, caught before anything is sent."""


class DatabaseError(Error):
    """An error about the database; for a server error `code` is its SQLSTATE.

    `message` is the server's (or the driver's) text, `details` the server's other
    fields (severity, detail, hint, position, constraint, ...). `str(e)` carries the
    SQLSTATE, e.g. "division by zero (SQLSTATE 22012)", so a notebook's or a log's
    one-line traceback says which error it was. Errors the driver raises itself
    (a lost connection, a timeout) have an empty `code`.
    """

    sqlstate: ClassVar[str | None] = None
    """The SQLSTATE a subclass stands for (`core/sqlstate.py`), None for a whole class."""

    def __init__(
        self, message: str, code: str = "", details: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.details: dict[str, str] = dict(details or {})

    def __str__(self) -> str:
        return f"{self.message} (SQLSTATE {self.code})" if self.code else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    _init_fields: ClassVar[tuple[str, ...]] = ("message", "code", "details")
    """The attributes __init__ takes, in order: what unpickling passes back to it."""

    def __reduce__(self) -> tuple[Any, ...]:
        args = tuple(getattr(self, name) for name in self._init_fields)
        return (type(self), args, self.__dict__)

    @property
    def severity(self) -> str | None:
        return self.details.get("severity")


class DataError(DatabaseError):
    """A problem with a value: SQLSTATE class 22 (division by zero, invalid text, ...).

    Before PEP 249's tree this name meant only a result value Python cannot
    represent; that is now `UnrepresentableValueError`, a subclass, so
    `except DataError` still catches it.
    """


class UnrepresentableValueError(DataError):
    """A result value the Python type cannot represent, e.g. infinity dates or BC years."""


class OperationalError(DatabaseError):
    """The database's operation failed, not the statement: connections, resources, timeouts."""


class IntegrityError(DatabaseError):
    """A constraint was violated: SQLSTATE class 23."""


class InternalError(DatabaseError):
    """The database is in a state it should not be: SQLSTATE class XX, transaction state."""


class ProgrammingError(DatabaseError):
    """The statement is wrong: syntax, undefined objects, privileges (SQLSTATE class 42, ...)."""


class NotSupportedError(DatabaseError):
    """The database does not support what was asked: SQLSTATE class 0A."""


class HttpResponseError(OperationalError):
    """The server answered an HTTP request with a non-2xx status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = message

    _init_fields = ("status", "body")


class QueryTimeoutError(OperationalError, TimeoutError):
    """A statement did not finish within its timeout."""


class ConnectionFailedError(OperationalError):
    """The server could not be reached, or the connection dropped or broke mid-answer.

    The one class for it on both transports (HTTP statements and WebSocket
    sessions), so a retry loop needs one `except`; the transport's own exception
    is the `__cause__`. Not an OSError, so code catching the runtimes' OSErrors
    never swallows it (only ConnectTimeoutError is also a ConnectionError, as before).
    """


class ConnectTimeoutError(ConnectionFailedError, ConnectionError, TimeoutError):
    """Connecting took longer than the connect timeout.

    Connecting is TCP, TLS and, for a session, the WebSocket upgrade and the
    credentials message. Also a ConnectionError, which is what runtimes raise
    for a connection that could not be made.
    """


class WebSocketError(ConnectionFailedError):
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

    _init_fields = ("message", "close_code", "reason", "status")


class ProtocolError(ConnectionFailedError):
    """The server sent something the protocol does not allow, or stopped short.

    The connection is dropped with it (an HTTP response is not reused, a session
    closes with 1002), hence a ConnectionFailedError.
    """
