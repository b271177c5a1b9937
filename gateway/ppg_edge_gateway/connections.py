"""Every accepted TCP connection, bounded: a deadline for request heads, a cap, keep-alive.

aiohttp's ``RequestHandler`` parses requests but bounds neither how long a
client may take over a request head nor how many connections are open: a
slowloris client sending a byte a second holds a descriptor for as long as it
likes, and enough of them exhaust the process's descriptors. ``ConnectionGuard``
is the protocol factory the gateway listens with:

- at most ``limit`` connections (derived from the descriptor limit, see
  ``GatewayConfig.client_limit``); at the limit a new connection evicts the one
  that has waited longest for a request head (a slow head or an idle keep-alive:
  neither has a request running), else it is answered 503 and closed;
- a request head must be complete within ``--header-timeout`` of the
  connection's start, or of the first byte after the previous answer (408);
- TCP keep-alive probes after ``--heartbeat`` seconds of silence;
- a request the parser rejects is one INFO line that never quotes its bytes
  (aiohttp logs it at ERROR with a traceback quoting up to 100 of them, which
  for an oversized ``Authorization`` header is the base64 of the password);
- WebSocket frames pass ``FrameGate`` before aiohttp's parser.

Connections are counted when connected; one accept burst (at most the listen
backlog) may overshoot the cap, which ``FD_RESERVE`` leaves room for.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any, cast

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, BadStatusLine, LineTooLong
from aiohttp.http_websocket import WebSocketReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from . import metrics
from .config import KEEPALIVE_TIMEOUT, GatewayConfig
from .frame_gate import FrameGate
from .log_tally import Tally
from .state import LOG
from .wire_text import close_reason, safe_text

KEEPALIVE_PROBES = 3
HEAD_END = b"\r\n\r\n"
HEAD_SCAN_BYTES = 64 * 1024
"""How much of a chunk is searched for the end of a head (heads are at most ~8 KiB lines)."""
MAX_REASON_CHARS = 200


def plain_answer(status: int, phrase: str, text: str) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, for use below aiohttp."""
    body = (safe_text(text) + "\n").encode("utf-8")
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def keep_alive(transport: asyncio.BaseTransport, idle: float) -> None:
    """TCP keep-alive on an accepted socket: a silent dead peer is found in about 1.5 x idle."""
    sock = transport.get_extra_info("socket")
    if sock is None or not idle:
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if hasattr(socket, "TCP_KEEPIDLE"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, max(1, round(idle)))
        interval = max(1, round(idle / (2 * KEEPALIVE_PROBES)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_PROBES)


def bad_request_reason(exc: BaseException) -> str:
    """Why the parser refused a request, without the request bytes it may quote."""
    if isinstance(exc, LineTooLong):
        return f"a request line or header is longer than {exc.args[1]} bytes"
    if isinstance(exc, BadHttpMethod):
        return "bad HTTP method"
    if isinstance(exc, BadStatusLine):
        return "malformed request line"
    text = getattr(exc, "message", "") or str(exc)
    first = text.split("\n", 1)[0].rstrip(": ")
    # Parser messages quote the offending bytes after a colon or in quotes.
    for mark in ("'", '"', ": b"):
        first = first.split(mark, 1)[0]
    return first.strip(" :")[:MAX_REASON_CHARS] or "malformed request"


def close_frame(code: int, reason: str) -> bytes:
    """A server close frame (never masked) with ``code`` and a reason that fits."""
    payload = struct.pack("!H", code) + close_reason(reason)
    return bytes([0x88, len(payload)]) + payload


class GuardedHandler(RequestHandler):
    """aiohttp's per-connection protocol with a request-head deadline and a frame gate."""

    def __init__(self, guard: ConnectionGuard, manager: web.Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.guard = guard
        self.waiting_since: float | None = None
        """When it began waiting for a request head; None while a request runs."""
        self.head_bytes = 0
        self.head_tail = b""
        self.head_timer: asyncio.TimerHandle | None = None
        self.websocket_failure: tuple[int, str] | None = None
        """The code and reason ``FrameGate`` closed this WebSocket with, if it did."""
        self.ending = False
        """The last answer closes the connection: no further request will be read."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        metrics.count_sent(transport)
        keep_alive(transport, self.guard.config.heartbeat)
        self.guard.live.add(self)
        self._wait_for_head(arm=True)

    def connection_lost(self, exc: BaseException | None) -> None:
        self.guard.live.discard(self)
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        metrics.received(len(data))
        if self.waiting_since is not None and not self.ending:
            self.head_bytes += len(data)
            if self._head_ends_in(data):
                self.head_received()  # early: a crowd of new connections must not evict it
            elif self.head_timer is None:
                self._arm()
        super().data_received(data)

    def _head_ends_in(self, data: bytes) -> bool:
        """Whether the blank line that ends a request head has now arrived.

        The parser's own signal comes later (when its handler starts, see
        ``head_received``); this one comes with the bytes, so a connection whose
        head is in stops being a candidate for eviction at once.
        """
        seen = self.head_tail + data[:HEAD_SCAN_BYTES]
        self.head_tail = seen[-3:]
        return HEAD_END in seen

    def head_received(self) -> None:
        """A whole request head is in and its handler starts: the deadline is met."""
        self.waiting_since = None
        self._disarm()

    async def finish_response(
        self, request: BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        result = await super().finish_response(request, resp, start_time)
        # Idle keep-alive from here: the deadline starts with the next request's first byte.
        # Without keep-alive, bytes still coming are the rest of a refused body (aiohttp
        # reads and drops them for a while before closing), not a next request.
        self.ending = not resp.keep_alive
        self._wait_for_head(arm=False)
        return result

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """A request the parser refused: one INFO line and a 4xx with a reason, no traceback."""
        if status >= 500 or exc is None:
            return super().handle_error(request, status, exc, message)
        reason = bad_request_reason(exc)
        LOG.info("bad request from %s: %s", request.remote, reason)
        if request.writer.output_size > 0:
            raise ConnectionError("the answer had started; cannot send the error")
        response = web.Response(status=status, text=f"bad request: {reason}\n")
        response.force_close()
        return response

    def set_parser(self, parser: Any, data_received_cb: Any = None) -> None:
        """aiohttp installs its WebSocket parser: put the frame gate in front of it."""
        gate = FrameGate(parser, self._fail_websocket)
        super().set_parser(cast(WebSocketReader, gate), data_received_cb)

    def evict(self) -> None:
        """Close a connection waiting for a request head to make room for a new one."""
        self.force_close()

    def _fail_websocket(self, code: int, reason: str) -> None:
        """Fail the WebSocket (RFC 6455 7.1.7): a close frame with a reason, then close."""
        self.websocket_failure = (code, reason)
        if self.transport is not None:
            self.transport.write(close_frame(code, reason))
        self.force_close()

    def _wait_for_head(self, *, arm: bool) -> None:
        self.waiting_since = asyncio.get_running_loop().time()
        self.head_bytes = 0
        self.head_tail = b""
        if arm:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self.head_timer = loop.call_later(self.guard.config.header_timeout, self._head_late)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_late(self) -> None:
        self.head_timer = None
        if self.waiting_since is None or self.transport is None:
            return
        if self.head_bytes:
            timeout = self.guard.config.header_timeout
            answer = f"request head not received within {timeout:g} s"
            self.transport.write(plain_answer(408, "Request Timeout", answer))
        metrics.rejected("header_timeout")
        self.guard.late.note("connections closed without a request head in time")
        self.force_close()


class Refusal(asyncio.Protocol):
    """The protocol of a connection over the cap: 503 with a reason, then close."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).write(self.answer)
        transport.close()


class ConnectionGuard:
    """The protocol factory: counts live connections and keeps them under ``limit``."""

    def __init__(
        self, server: web.Server, config: GatewayConfig, limit: int, **options: Any
    ) -> None:
        self.server = server
        self.config = config
        self.limit = limit
        self.options = {"keepalive_timeout": KEEPALIVE_TIMEOUT, "access_log": None, **options}
        self.live: set[GuardedHandler] = set()
        self.tally = Tally(LOG, logging.WARNING)
        """Capacity events: evictions and refusals at the cap."""
        self.late = Tally(LOG, logging.INFO)
        """Clients too slow with their request head (their own doing)."""
        self._refusal = plain_answer(
            503, "Service Unavailable", f"too many connections (limit {limit}); try again later"
        )
        make_request = server.request_factory

        def tracked(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> Any:
            if isinstance(protocol, GuardedHandler):
                protocol.head_received()
            return make_request(message, payload, protocol, writer, task)

        server.request_factory = tracked

    def __call__(self) -> asyncio.Protocol:
        if len(self.live) >= self.limit and not self._evict():
            metrics.rejected("max_clients")
            self.tally.note(f"connections refused at the limit of {self.limit}")
            return Refusal(self._refusal)
        loop = asyncio.get_running_loop()
        return GuardedHandler(self, self.server, loop=loop, **self.options)

    def _evict(self) -> bool:
        """Close the connection that has waited longest for a request head, if any."""
        waiting = [handler for handler in self.live if handler.waiting_since is not None]
        if not waiting:
            return False
        victim = min(waiting, key=lambda handler: cast(float, handler.waiting_since))
        self.live.discard(victim)
        victim.evict()
        metrics.evicted()
        self.tally.note(f"idle connections closed at the limit of {self.limit}")
        return True
