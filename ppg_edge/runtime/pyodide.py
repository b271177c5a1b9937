"""The Pyodide runtime: the host's own `fetch` and `WebSocket` through the JS bridge.

It runs in a browser page, in a (module) Web Worker and in Pyodide on Node (where
`WebSocket` may be npm `ws`, installed as a global before Pyodide loads). Nothing
here blocks the JavaScript event loop: every wait is an awaited promise or an
asyncio primitive of Pyodide's WebLoop. What Cloudflare Workers share with it
is in `jsbridge`; `JsWebSocket`, `blob_body` and `js_bytes` fit other hosts too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Sequence
from typing import Any

import js  # type: ignore[import-not-found]

from ppg_edge.core.config import CLOSE_HANDSHAKE_TIMEOUT, DEFAULT_CONNECT_TIMEOUT
from ppg_edge.core.errors import ConnectTimeoutError
from ppg_edge.runtime.base import (
    Body,
    Chunk,
    Headers,
    HttpResponse,
    Message,
    WebSocket,
    WebSocketClosed,
    within_send_now_limit,
)
from ppg_edge.runtime.jsbridge import (
    JsException,
    ListenerScope,
    js_error_text,
    js_fetch,
    js_headers,
    receive_queued,
    to_js,
)

FORBIDDEN_REQUEST_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "host", "connection", "keep-alive", "upgrade"}
)
"""Headers that fetch sets itself; browsers drop them, so they are never passed on."""

WS_OPEN = 1
"""`WebSocket.readyState` of an open socket."""

WS_ABNORMAL_CLOSURE = 1006
"""The close code a host reports when a socket dies without a close frame."""

SEND_BUFFER_LIMIT = 8 * 1024 * 1024
"""Queued outgoing bytes above which `send` yields until the host has drained some."""

SEND_BUFFER_POLL = 0.005
"""Seconds between checks of `bufferedAmount` while the send buffer is full."""

UNREACHABLE_HINT = (
    ": the server is unreachable or, in a browser, does not allow this page's origin (CORS)"
)
"""Why a fetch usually rejects in a browser, added to the ConnectionError."""

MAX_CLOSE_REASON_BYTES = 123
"""The WebSocket close reason limit (a control frame's 125 bytes less the code)."""


def js_bytes(chunk: Chunk) -> Any:
    """A fresh JS `Uint8Array` holding a copy of `chunk`."""
    view = memoryview(chunk).cast("B")
    array = js.Uint8Array.new(view.nbytes)
    array.assign(view)
    return array


async def blob_body(chunks: AsyncIterable[Chunk]) -> Any:
    """A JS `Blob` of the body's chunks, each kept as its own part (never joined in Python).

    Browsers cannot stream a request body over HTTP/1.1, so the body is gathered
    first; large parameters stay separate buffers inside the Blob.
    """
    parts = js.Array.new()
    async for chunk in chunks:
        if memoryview(chunk).nbytes:
            parts.push(js_bytes(chunk))
    return js.Blob.new(parts)


class JsWebSocket:
    """A host WebSocket object (browser `WebSocket` or npm `ws`) as whole messages.

    Handlers are proxies added with `addEventListener`; once the socket closes
    they are removed and destroyed, so no destroyed proxy is ever called.
    """

    def __init__(self, socket: Any, url: str) -> None:
        self._socket = socket
        self._url = url
        self._messages: asyncio.Queue[Message | WebSocketClosed] = asyncio.Queue()
        self._opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed: asyncio.Future[WebSocketClosed] = asyncio.get_running_loop().create_future()
        self._listeners = ListenerScope()
        socket.binaryType = "arraybuffer"
        self._listeners.listen(socket, "open", self._on_open)
        self._listeners.listen(socket, "message", self._on_message)
        self._listeners.listen(socket, "close", self._on_close)
        self._listeners.listen(socket, "error", self._on_error)

    @property
    def subprotocol(self) -> str | None:
        return str(self._socket.protocol) or None

    @property
    def close_status(self) -> WebSocketClosed | None:
        return self._closed.result() if self._closed.done() else None

    async def wait_open(self, timeout: float | None = None) -> None:
        """Return once the handshake succeeded; a failed or unanswered one is a ConnectionError."""
        either: list[asyncio.Future[Any]] = [self._opened, self._closed]
        await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._opened.done():
            return
        if not self._closed.done():
            raise ConnectTimeoutError(
                f"WebSocket handshake with {self._url} got no answer within {timeout or 0:g} s"
            )
        closed = self._closed.result()
        raise ConnectionError(
            f"WebSocket handshake with {self._url} failed (close code {closed.code}): the server "
            "is unreachable, refused the upgrade or did not select the offered subprotocol"
        )

    async def send(self, message: Message) -> None:
        if self._closed.done():
            raise self._closed.result()
        if int(self._socket.readyState) != WS_OPEN:
            raise WebSocketClosed(WS_ABNORMAL_CLOSURE, "the WebSocket is not open")
        while int(self._socket.bufferedAmount) > SEND_BUFFER_LIMIT and not self._closed.done():
            await asyncio.sleep(SEND_BUFFER_POLL)
        self._put(message)

    def send_now(self, messages: Sequence[Message]) -> bool:
        """One `send` each at once, if the socket is open and the browser's send buffer
        is under `SEND_BUFFER_LIMIT` (`send` would not wait)."""
        if (
            self._closed.done()
            or int(self._socket.readyState) != WS_OPEN
            or int(self._socket.bufferedAmount) > SEND_BUFFER_LIMIT
            or not within_send_now_limit(messages)
        ):
            return False
        for message in messages:
            self._put(message)
        return True

    def _put(self, message: Message) -> None:
        self._socket.send(message if isinstance(message, str) else js_bytes(message))

    async def send_many(self, messages: Sequence[Message]) -> None:
        """Browsers have no batched send: one `send` each, back to back."""
        for message in messages:
            await self.send(message)

    async def receive_many(self) -> list[Message]:
        return await receive_queued(self._messages)

    async def receive(self) -> Message:
        item = await self._messages.get()
        if isinstance(item, WebSocketClosed):
            self._messages.put_nowait(item)
            raise item
        return item

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame and wait (bounded) for the peer's, then release the handlers."""
        if not self._closed.done():
            self._start_close(code, reason)
            try:
                await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_HANDSHAKE_TIMEOUT)
            except TimeoutError:
                self._finish(WebSocketClosed(WS_ABNORMAL_CLOSURE, "close handshake timed out"))

    def _start_close(self, code: int, reason: str) -> None:
        reason = reason.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")
        try:
            self._socket.close(code, reason)
        except JsException:
            # Browsers only let a script send 1000 or 3000-4999.
            self._socket.close(1000, reason)

    def _on_open(self, _event: Any) -> None:
        if not self._opened.done():
            self._opened.set_result(None)

    def _on_message(self, event: Any) -> None:
        data = event.data
        if isinstance(data, str):
            self._messages.put_nowait(data)
        else:
            self._messages.put_nowait(js.Uint8Array.new(data).to_bytes())

    def _on_error(self, _event: Any) -> None:
        """Hosts follow an error with a close event, which carries the code."""

    def _on_close(self, event: Any) -> None:
        self._finish(WebSocketClosed(int(event.code), str(event.reason or "")))

    def _finish(self, closed: WebSocketClosed) -> None:
        if self._closed.done():
            return
        self._closed.set_result(closed)
        self._messages.put_nowait(closed)
        self._listeners.release_soon()


class PyodideRuntime:
    """The Runtime for Pyodide hosts with global `fetch`, `Blob` and `WebSocket`.

    `connect_timeout` bounds the WebSocket handshake (None: no limit); the host
    owns TCP, TLS and keep-alive, and fetch has no connect timeout of its own here.
    """

    def __init__(self, connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT) -> None:
        self._connect_timeout = connect_timeout

    async def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> HttpResponse:
        """`fetch` with a Blob body; resolves once status and headers are in."""
        init: dict[str, Any] = {"headers": js_headers(headers, FORBIDDEN_REQUEST_HEADERS)}
        if body is not None:
            init["body"] = await blob_body(body)
        return await js_fetch(method, url, init, UNREACHABLE_HINT)

    async def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Headers = ()
    ) -> WebSocket:
        """Open a host WebSocket; hosts cannot add handshake headers, so `headers` is unused."""
        try:
            socket = js.WebSocket.new(url, to_js(list(subprotocols)))
        except JsException as exc:
            raise ConnectionError(
                f"cannot open a WebSocket to {url} ({js_error_text(exc)})"
            ) from None
        wrapper = JsWebSocket(socket, url)
        try:
            await wrapper.wait_open(self._connect_timeout)
        except BaseException:
            await wrapper.close()
            raise
        return wrapper

    async def aclose(self) -> None:
        """The host owns its connection pool; nothing to release."""
