"""Typed failures inside the gateway, each mapped to one clear answer on the wire."""

from __future__ import annotations


class GatewayError(Exception):
    """Base of the gateway's own failures; the message is safe to show a client."""


class ProtocolViolation(GatewayError):
    """The client broke PROTOCOL.md: HTTP 400, WebSocket close 1002."""


class InvalidCredentials(ProtocolViolation):
    """Credentials a PostgreSQL login cannot carry: HTTP 400, WebSocket close 1008.

    A NUL ends a libpq connection-string value early (the rest of the login
    would be dropped) and a lone surrogate cannot be encoded, so both are
    refused before anything reaches libpq.
    """


class BodyTooLarge(GatewayError):
    """A statement exceeds the configured size limit: HTTP 413, WebSocket close 1009."""


class GatewayBusy(GatewayError):
    """The gateway itself is at a resource limit: HTTP 503, try again later."""


class AuthenticationFailed(GatewayError):
    """PostgreSQL rejected the login (password, role or database): HTTP 401, close 1008."""


class UpstreamUnavailable(GatewayError):
    """PostgreSQL could not be reached (502, close 1011) or is busy (503, close 1013)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status
