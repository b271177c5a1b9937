"""The CPython runtime: asyncio streams and stdlib `ssl`, with h11 and wsproto.

Only this module (and its halves, `cpython_http` and `cpython_websocket` with its
`cpython_frames` and `cpython_feed`) imports h11 and wsproto;
`ppg_edge.runtime.default_runtime` loads it lazily, so Pyodide and Workers never
touch it.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence

from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT
from ppg_edge.core.errors import ConnectTimeoutError
from ppg_edge.runtime.base import (
    Body,
    Headers,
    HttpResponse,
    ReplayableBody,
    WebSocket,
    WebSocketRejected,
)
from ppg_edge.runtime.cpython_http import (
    ConnectionPool,
    HttpConnection,
    exchange,
    parse_url,
    request_head,
)
from ppg_edge.runtime.cpython_websocket import Limits, open_websocket

__all__ = [
    "CPythonRuntime",
    "ConnectTimeoutError",
    "Limits",
    "WebSocketRejected",
]

_HTTP_SCHEMES = frozenset({"http", "https"})
_WS_SCHEMES = frozenset({"ws", "wss"})


class CPythonRuntime:
    """HTTP/1.1 with a keep-alive pool, and WebSockets, over asyncio sockets.

    `ssl_context` replaces the default verified context (for a private CA, say);
    `connect_timeout` bounds TCP+TLS setup, and for a WebSocket the upgrade as
    well, all within that one bound (None: no limit). Every socket has TCP
    keep-alive on (`cpython_http.enable_keepalive`).
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        max_idle_per_origin: int = 8,
        idle_timeout: float = 30.0,
        websocket_limits: Limits | None = None,
    ) -> None:
        self._tls = ssl_context
        self._connect_timeout = connect_timeout
        self._pool = ConnectionPool(ssl_context, connect_timeout, max_idle_per_origin, idle_timeout)
        self._limits = websocket_limits or Limits()

    async def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> HttpResponse:
        """Send a request; return once the response head is in (body still streaming).

        A pooled connection that turns out dead before any response byte (the
        server closed it just as we sent) is retried once on a fresh connection,
        but only when there is no body or it is a ReplayableBody.
        """
        origin, target = parse_url(url, _HTTP_SCHEMES)
        head = request_head(method, origin, target, headers, body, body_size)
        conn = await self._pool.acquire(origin)
        try:
            return await exchange(conn, head, body, self._pool)
        except ConnectionError:
            if not _replayable_failure(conn, body):
                raise
        conn = await self._pool.connect(origin)
        return await exchange(conn, head, body, self._pool)

    async def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Headers = ()
    ) -> WebSocket:
        """Open a WebSocket (`ws://` or `wss://`).

        Raises WebSocketRejected (a ConnectionError with `.status`) when
        the server answers the upgrade with another HTTP status.
        """
        origin, target = parse_url(url, _WS_SCHEMES)
        return await open_websocket(
            origin, target, subprotocols, headers, self._tls, self._connect_timeout, self._limits
        )

    async def aclose(self) -> None:
        """Close the idle pooled connections; later requests open new ones."""
        await self._pool.aclose()


def _replayable_failure(conn: HttpConnection, body: Body) -> bool:
    replayable = body is None or isinstance(body, ReplayableBody)
    return replayable and conn.reused and conn.bytes_received == 0
