"""Transport exceptions -> the driver's errors, in one place for both transports.

Runtimes raise what their host raises (OSError and its ConnectionError family,
ssl errors, ValueError for a URL or header they refuse); the API layer hands
them here so an unreachable or dropped connection is a ConnectionFailedError
(a WebSocketError for a session) whatever the transport, with the original as
`__cause__`. Messages name the endpoint, never the connection string, so no
password reaches them.
"""

from __future__ import annotations

from ppg_edge.core.errors import (
    ConnectionFailedError,
    ProtocolError,
    ValidationError,
    WebSocketError,
)

TRANSPORT_ERRORS = (OSError, ValueError)
"""What a runtime raises for a request or socket that failed (anything else is a bug)."""


def transport_failure(
    exc: BaseException, what: str, *, session: bool = False
) -> ValidationError | ConnectionFailedError:
    """The error for `what` ("the request to https://host failed", ...) raised by `exc`.

    An OSError (ssl's errors included, though a certificate error is also a
    ValueError) is the connection failing. A plain ValueError is the runtime
    refusing our own input (a URL, a header) before sending it: a ValidationError.
    Callers let the driver's own errors (a timeout is also an OSError) pass first.
    """
    if isinstance(exc, ValueError) and not isinstance(exc, OSError):
        return ValidationError(f"{what}: {exc}")
    if session:
        return session_failure(exc, what)
    return ConnectionFailedError(f"{what}: {exc}")


def session_failure(exc: BaseException, what: str) -> WebSocketError:
    """A session's socket failing while opening, reading, sending or authenticating."""
    return WebSocketError(f"{what}: {exc}")


def cut_short(exc: BaseException) -> ProtocolError:
    """A response body that broke off before its end: never a short result."""
    return ProtocolError(f"the response was cut short: {exc}")
