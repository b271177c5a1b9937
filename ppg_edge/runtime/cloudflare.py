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
import importlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from ppg_edge.runtime.base import Chunk, HttpResponse, Message, WebSocket, WebSocketClosed

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


def _js() -> Any:
    """The JavaScript global scope as Pyodide exposes it (only exists under Pyodide)."""
    return importlib.import_module("js")


def _ffi() -> Any:
    """`pyodide.ffi`: proxies, conversions and JsException."""
    return importlib.import_module("pyodide.ffi")


def in_cloudflare_workers() -> bool:
    """True inside a Cloudflare Worker.

    workerd sets `navigator.userAgent` to "Cloudflare-Workers"; the
    `WebSocketPair` global exists in no browser or Node either, so it backs the
    check up for Workers with an old compatibility date.
    """
    try:
        js = _js()
    except ImportError:
        return False
    navigator = getattr(js, "navigator", None)
    if navigator is not None and getattr(navigator, "userAgent", None) == WORKERS_USER_AGENT:
        return True
    return hasattr(js, "WebSocketPair")


def _is_nullish(value: Any) -> bool:
    """JS null/undefined arrive as None or as pyodide's `jsnull`, depending on the version."""
    return value is None or value is getattr(_ffi(), "jsnull", None)


def _http_url(url: str) -> str:
    """workerd's fetch takes only http(s) URLs, the WebSocket handshake included."""
    if url.startswith("wss://"):
        return "https://" + url[len("wss://") :]
    if url.startswith("ws://"):
        return "http://" + url[len("ws://") :]
    return url


def _js_headers(headers: Sequence[tuple[str, str]]) -> Any:
    """A JS Headers object with every pair appended in order."""
    result = _js().Headers.new()
    for name, value in headers:
        result.append(name, value)
    return result


def _js_object(mapping: Mapping[str, Any]) -> Any:
    """A plain JS object (not a Map) for fetch's init dictionary."""
    ffi = _ffi()
    return ffi.to_js(dict(mapping), dict_converter=_js().Object.fromEntries)


class _ProxyScope:
    """Python callables handed to JS, destroyed together once JS no longer calls them."""

    def __init__(self) -> None:
        self._proxies: list[Any] = []

    def wrap(self, function: Callable[..., Any]) -> Any:
        proxy = _ffi().create_proxy(function)
        self._proxies.append(proxy)
        return proxy

    def release(self) -> None:
        proxies, self._proxies = self._proxies, []
        for proxy in proxies:
            proxy.destroy()


def _readable_stream(chunks: AsyncIterable[Chunk]) -> Any:
    """A JS ReadableStream that pulls the driver's chunks one at a time (backpressure for free)."""
    iterator = aiter(chunks)
    scope = _ProxyScope()
    pulling: asyncio.Task[bytes] | None = None

    async def next_chunk() -> bytes:
        while True:
            chunk = bytes(await anext(iterator))
            if chunk:
                return chunk

    async def pull(controller: Any) -> None:
        nonlocal pulling
        pulling = asyncio.ensure_future(next_chunk())
        try:
            chunk = await pulling
        except StopAsyncIteration:
            controller.close()
            scope.release()
            return
        except asyncio.CancelledError:
            return
        except BaseException:
            scope.release()  # the stream errors (failing the fetch); no cancel will follow
            raise
        finally:
            pulling = None
        controller.enqueue(_ffi().to_js(chunk))

    async def cancel(_reason: Any = None) -> None:
        """fetch gave up on the body: stop a running pull, then close the chunk source."""
        if pulling is not None:
            running = pulling
            running.cancel()
            await asyncio.wait([running])
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()
        scope.release()

    source = {"pull": scope.wrap(pull), "cancel": scope.wrap(cancel)}
    return _js().ReadableStream.new(_js_object(source))


async def _request_body(body: AsyncIterable[Chunk], body_size: int | None) -> Any:
    """Small bodies of known size as one Uint8Array (with Content-Length), others streamed."""
    if body_size is not None and body_size <= SMALL_BODY_LIMIT:
        joined = b"".join([bytes(chunk) async for chunk in body])
        return _ffi().to_js(joined)
    return _readable_stream(body)


class _FetchResponse:
    """A workerd Response whose body is read chunk by chunk as it arrives."""

    def __init__(self, response: Any, controller: Any) -> None:
        self._response = response
        self._controller = controller
        self._reader: Any = None
        self._headers = {str(pair[0]).lower(): str(pair[1]) for pair in response.headers.entries()}

    @property
    def status(self) -> int:
        return int(self._response.status)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def body(self) -> AsyncIterator[bytes]:
        stream = self._response.body
        if _is_nullish(stream):
            return
        self._reader = stream.getReader()
        while True:
            try:
                result = await self._reader.read()
            except _ffi().JsException as exc:
                raise ConnectionError(f"response body cut short: {exc.message}") from None
            if result.done:
                return
            yield result.value.to_bytes()

    async def aclose(self) -> None:
        """Abort the subrequest: workerd drops its connection, nothing is kept for reuse."""
        self._controller.abort()
        target = self._reader if self._reader is not None else self._response.body
        if _is_nullish(target):
            return
        try:
            await target.cancel()
        except _ffi().JsException:
            return


class _AcceptedWebSocket:
    """A workerd WebSocket after `accept()`: events feed a queue, `receive` drains it."""

    def __init__(self, socket: Any, subprotocol: str | None) -> None:
        self._socket = socket
        self._subprotocol = subprotocol
        self._queue: asyncio.Queue[Message | WebSocketClosed] = asyncio.Queue()
        self._closed: WebSocketClosed | None = None
        self._scope = _ProxyScope()
        self._listeners = [
            ("message", self._scope.wrap(self._on_message)),
            ("close", self._scope.wrap(self._on_close)),
            ("error", self._scope.wrap(self._on_error)),
        ]
        for event, listener in self._listeners:
            socket.addEventListener(event, listener)
        socket.accept()

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

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
        for event, listener in self._listeners:
            self._socket.removeEventListener(event, listener)
        asyncio.get_running_loop().call_soon(self._scope.release)

    async def send(self, message: Message) -> None:
        if self._closed is not None:
            raise self._closed
        payload = message if isinstance(message, str) else _ffi().to_js(bytes(message))
        try:
            self._socket.send(payload)
        except _ffi().JsException as exc:
            raise ConnectionError(f"WebSocket send failed: {exc.message}") from None

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
        except _ffi().JsException:
            self._socket.close()
        self._finish(WebSocketClosed(code, reason))


async def _refusal_message(response: Any) -> str:
    """Why a server answered the upgrade with plain HTTP, for the ConnectionError."""
    try:
        text = str(await response.text())[:UPGRADE_ERROR_BODY_LIMIT]
    except _ffi().JsException:
        text = ""
    suffix = f": {text}" if text else ""
    return f"WebSocket upgrade refused with HTTP {int(response.status)}{suffix}"


class CloudflareRuntime:
    """Runtime for Cloudflare Python Workers; create one per request, like the driver does."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterable[Chunk] | None,
        body_size: int | None = None,
    ) -> HttpResponse:
        controller = _js().AbortController.new()
        init: dict[str, Any] = {
            "method": method,
            "headers": _js_headers(headers),
            "signal": controller.signal,
        }
        if body is not None:
            init["body"] = await _request_body(body, body_size)
            init["duplex"] = "half"
        try:
            response = await _js().fetch(url, _js_object(init))
        except _ffi().JsException as exc:
            raise ConnectionError(f"fetch {method} {url} failed: {exc.message}") from None
        return _FetchResponse(response, controller)

    async def websocket(
        self,
        url: str,
        subprotocols: Sequence[str],
        headers: Sequence[tuple[str, str]] = (),
    ) -> WebSocket:
        offer = [("Upgrade", "websocket"), *headers]
        if subprotocols:
            offer.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
        init = {"headers": _js_headers(offer)}
        try:
            response = await _js().fetch(_http_url(url), _js_object(init))
        except _ffi().JsException as exc:
            raise ConnectionError(f"WebSocket handshake failed: {exc.message}") from None
        socket = getattr(response, "webSocket", None)
        if _is_nullish(socket):
            raise ConnectionError(await _refusal_message(response))
        chosen = response.headers.get("Sec-WebSocket-Protocol")
        return _AcceptedWebSocket(socket, None if _is_nullish(chosen) else str(chosen))

    async def aclose(self) -> None:
        """Nothing is pooled across requests in a Worker, so there is nothing to release."""
