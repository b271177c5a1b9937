"""The state shared by the gateway's handlers, stored on the aiohttp application."""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field

from aiohttp import web

from ppg_edge.core.protocol import DATABASE_QUERY_PARAM

from .buffers import BodyBuffers
from .config import GatewayConfig
from .errors import AuthenticationFailed
from .upstream import Credentials, Pools, Upstream

LOG = logging.getLogger("ppg_edge_gateway")


@dataclass
class Gateway:
    """Configuration, the upstream, the HTTP pools, body buffers and live WebSocket sessions."""

    config: GatewayConfig
    upstream: Upstream
    pools: Pools
    buffers: BodyBuffers
    sessions: set[web.WebSocketResponse] = field(default_factory=set)

    def database(self, request: web.Request) -> str | None:
        """The database a request asks for with ``?db=``, else the configured default."""
        return request.query.get(DATABASE_QUERY_PARAM) or self.config.default_database


GATEWAY = web.AppKey("gateway", Gateway)
LOG_USER = "ppg_edge.user"
LOG_DATABASE = "ppg_edge.database"
LOGGED = "ppg_edge.logged"
"""Set on a request whose handler wrote its own log line (WebSocket sessions)."""


def basic_credentials(request: web.Request, database: str | None) -> Credentials:
    """Credentials from ``Authorization: Basic``; missing or malformed ones are a 401.

    Only checked credentials reach the log line (a NUL or a 5000-byte name never does).
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise AuthenticationFailed("missing Basic credentials (Authorization header)")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise AuthenticationFailed("malformed Basic credentials") from None
    user, colon, password = decoded.partition(":")
    if not colon or not user:
        raise AuthenticationFailed("malformed Basic credentials (need USER:PASSWORD)")
    credentials = Credentials(user, password, database)
    request[LOG_USER] = user
    request[LOG_DATABASE] = database
    return credentials
