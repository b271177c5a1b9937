"""The Cloudflare Python Workers adapter: workerd's `fetch` and fetch-upgrade WebSockets.

Inside a Worker every I/O object belongs to the request that created it, so
this runtime keeps nothing between calls: no pool, no cached socket, and
`aclose` has nothing to release. HTTP goes through the global `fetch` with a
streamed request body (a ReadableStream pulled from the driver's chunks) and a
streamed response body (read through its reader). Outbound WebSockets use the
client form Cloudflare documents with a full example: a `fetch` of the http(s)
URL carrying `Upgrade: websocket`, whose response holds a `webSocket` that the
Worker `accept()`s. That form shows the handshake's HTTP status when a server
refuses, carries the subprotocol offer as a plain header and hands back a socket
that is open at once, with no `open` event to wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Sequence
from typing import Any

import js  # type: ignore[import-not-found]

from ppg_edge.runtime.base import (
    Body,
    Chunk,
    Headers,
    HttpResponse,
    Message,
    WebSocket,
    WebSocketClosed,
    WebSocketRejected,
    within_send_now_limit,
)
from ppg_edge.runtime.jsbridge import (
    JsException,
    ListenerScope,
    is_js_null,
    js_fetch,
    js_headers,
    js_object,
    readable_stream,
    receive_queued,
    to_js,
)

WORKERS_USER_AGENT = "Cloudflare-Workers"
"""`navigator.userAgent` inside every Worker (documented by Cloudflare)."""

SMALL_BODY_LIMIT = 64 * 1024
"""Request bodies of known size up to this many bytes are sent in one piece."""

ABNORMAL_CLOSURE = 1006
"""Close code reported when the socket fails without a close frame."""

UPGRADE_ERROR_BODY_LIMIT = 512
"""Characters of a refused upgrade's body quoted in the error."""

ERROR_CLOSE_GRACE = 1.0
"""Seconds an `error` event waits for the `close` event (and its code) before ending the socket."""


def in_cloudflare_workers() -> bool:
    """True inside a Cloudflare Worker.

    workerd sets `navigator.userAgent` to "Cloudflare-Workers"; the
    `WebSocketPair` global exists in no browser or Node either, so it backs the
    check up for Workers with an old compatibility date.
    """
    navigator = getattr(js, "navigator", None)
    if navigator is not None and getattr(navigator, "userAgent", None) == WORKERS_USER_AGENT:
        return True
    return hasattr(js, "WebSocketPair")


def _http_url(url: str) -> str:
    """workerd's fetch takes only http(s) URLs, the WebSocket handshake included."""
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    return url


async def _request_body(body: AsyncIterable[Chunk], body_size: int | None) -> Any:
    """Small bodies of known size as one Uint8Array (with Content-Length), others streamed."""
    if body_size is not None and body_size <= SMALL_BODY_LIMIT:
        joined = b"".join([bytes(chunk) async for chunk in body])
        return to_js(joined)
    stream, _finished = readable_stream(body)
    return stream


class _AcceptedWebSocket:
    """A workerd WebSocket after `accept()`: events feed a queue, `receive` drains it."""

    def __init__(self, socket: Any, subprotocol: str | None) -> None:
        self._socket = socket
        self._subprotocol = subprotocol
        self._queue: asyncio.Queue[Message | WebSocketClosed] = asyncio.Queue()
        self._closed: WebSocketClosed | None = None
        self._listeners = ListenerScope()
        self._listeners.listen(socket, "message", self._on_message)
        self._listeners.listen(socket, "close", self._on_close)
        self._listeners.listen(socket, "error", self._on_error)
        socket.accept()

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def close_status(self) -> WebSocketClosed | None:
        return self._closed

    def _on_message(self, event: Any) -> None:
        data = event.data
        self._queue.put_nowait(data if isinstance(data, str) else data.to_bytes())

    def _on_close(self, event: Any) -> None:
        self._finish(WebSocketClosed(int(event.code), str(event.reason or "")))

    def _on_error(self, _event: Any) -> None:
        """A close event with the real code normally follows; end the socket anyway if not."""
        failed = WebSocketClosed(ABNORMAL_CLOSURE, "WebSocket connection failed")
        asyncio.get_running_loop().call_later(ERROR_CLOSE_GRACE, self._finish, failed)

    def _finish(self, closed: WebSocketClosed) -> None:
        """Record the end once, wake a waiting receiver, and let go of the JS listeners."""
        if self._closed is not None:
            return
        self._closed = closed
        self._queue.put_nowait(closed)
        self._listeners.release_soon()

    async def send(self, message: Message) -> None:
        if self._closed is not None:
            raise self._closed
        self._put(message)

    def send_now(self, messages: Sequence[Message]) -> bool:
        """One `send` each at once (workerd's `send` never waits), if the socket is open;
        a failed `send` raises as in `send`."""
        if self._closed is not None or not within_send_now_limit(messages):
            return False
        for message in messages:
            self._put(message)
        return True

    def _put(self, message: Message) -> None:
        payload = message if isinstance(message, str) else to_js(bytes(message))
        try:
            self._socket.send(payload)
        except JsException as exc:
            raise ConnectionError(f"WebSocket send failed: {exc.message}") from None

    async def send_many(self, messages: Sequence[Message]) -> None:
        """workerd has no batched send: one `send` each, back to back."""
        for message in messages:
            await self.send(message)

    async def receive_many(self) -> list[Message]:
        if self._closed is not None and self._queue.empty():
            raise self._closed
        return await receive_queued(self._queue)

    async def receive(self) -> Message:
        if self._closed is not None and self._queue.empty():
            raise self._closed
        item = await self._queue.get()
        if isinstance(item, WebSocketClosed):
            raise item
        return item

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is not None:
            return
        try:
            self._socket.close(code, reason)
        except JsException:
            self._socket.close()
        self._finish(WebSocketClosed(code, reason))


async def _refusal(response: Any) -> WebSocketRejected:
    """The error for a server that answered the upgrade with plain HTTP, with its status."""
    try:
        text = str(await response.text())[:UPGRADE_ERROR_BODY_LIMIT]
    except JsException:
        text = ""
    status = int(response.status)
    suffix = f": {text}" if text else ""
    return WebSocketRejected(status, text, f"WebSocket upgrade refused with HTTP {status}{suffix}")


class CloudflareRuntime:
    """Runtime for Cloudflare Python Workers; create one per request, like the driver does."""

    async def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> HttpResponse:
        init: dict[str, Any] = {"headers": js_headers(headers)}
        if body is not None:
            init["body"] = await _request_body(body, body_size)
            init["duplex"] = "half"
        return await js_fetch(method, url, init)

    async def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Headers = ()
    ) -> WebSocket:
        offer = [("Upgrade", "websocket"), *headers]
        if subprotocols:
            offer.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
        init = {"headers": js_headers(offer)}
        try:
            response = await js.fetch(_http_url(url), js_object(init))
        except JsException as exc:
            raise ConnectionError(f"WebSocket handshake failed: {exc.message}") from None
        socket = getattr(response, "webSocket", None)
        if is_js_null(socket):
            raise await _refusal(response)
        chosen = response.headers.get("Sec-WebSocket-Protocol")
        return _AcceptedWebSocket(socket, None if is_js_null(chosen) else str(chosen))

    async def aclose(self) -> None:
        """Nothing is pooled across requests in a Worker, so there is nothing to release."""
