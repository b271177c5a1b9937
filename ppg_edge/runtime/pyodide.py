"""The Pyodide runtime: the host's own `fetch` and `WebSocket` through the JS bridge.

It runs in a browser page, in a (module) Web Worker and in Pyodide on Node (where
`WebSocket` may be npm `ws`, installed as a global before Pyodide loads). Nothing
here blocks the JavaScript event loop: every wait is an awaited promise or an
asyncio primitive of Pyodide's WebLoop. The pieces (`JsFetchResponse`,
`JsWebSocket`, `blob_body`, `js_bytes`) are reusable by other Pyodide-based hosts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found]
    JsException,
    create_proxy,
    to_js,
)

try:
    from pyodide.ffi import jsnull
except ImportError:  # Pyodide before 0.28 turns JS null into None
    jsnull = None

from ppg_edge.runtime.base import Chunk, HttpResponse, Message, WebSocket, WebSocketClosed

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

CLOSE_HANDSHAKE_TIMEOUT = 5.0
"""Seconds `close` waits for the peer's close frame before letting the socket go."""

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


def js_object(entries: Mapping[str, Any]) -> Any:
    """A plain JS object with these properties."""
    return to_js(dict(entries), dict_converter=js.Object.fromEntries)


def fetch_headers(headers: Sequence[tuple[str, str]]) -> Any:
    """A JS `Headers` of the request headers that a script may set."""
    result = js.Headers.new()
    for name, value in headers:
        if name.lower() not in FORBIDDEN_REQUEST_HEADERS:
            result.append(name, value)
    return result


def is_js_null(value: Any) -> bool:
    """True for JS null and undefined, however this Pyodide version converts them."""
    return value is None or (jsnull is not None and value is jsnull)


def js_error_text(exc: BaseException) -> str:
    """A JS exception as `Name: message`, without Pyodide's traceback noise."""
    name = getattr(exc, "name", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return f"{name}: {message}"


class JsFetchResponse:
    """A `fetch` Response whose body is read chunk by chunk through its reader."""

    def __init__(self, response: Any, controller: Any) -> None:
        self._response = response
        self._controller = controller
        self._reader: Any = None
        self._closed = False
        self._headers = {str(k).lower(): str(v) for k, v in response.headers.entries()}

    @property
    def status(self) -> int:
        return int(self._response.status)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def body(self) -> AsyncIterator[bytes]:
        """Yield each chunk as the host delivers it; a broken stream is a ConnectionError."""
        stream = self._response.body
        if is_js_null(stream) or self._closed:
            return
        self._reader = stream.getReader()
        while True:
            try:
                result = await self._reader.read()
            except JsException as exc:
                raise ConnectionError(
                    f"the response body was cut short ({js_error_text(exc)})"
                ) from None
            if result.done:
                return
            yield result.value.to_bytes()

    async def aclose(self) -> None:
        """Abort the request; the host drops the connection."""
        if self._closed:
            return
        self._closed = True
        self._controller.abort()
        if self._reader is not None:
            with contextlib.suppress(JsException):
                await self._reader.cancel()


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
        self._listeners: list[tuple[str, Any]] = []
        socket.binaryType = "arraybuffer"
        self._listen("open", self._on_open)
        self._listen("message", self._on_message)
        self._listen("close", self._on_close)
        self._listen("error", self._on_error)

    @property
    def subprotocol(self) -> str | None:
        return str(self._socket.protocol) or None

    async def wait_open(self, timeout: float | None = None) -> None:
        """Return once the handshake succeeded; a failed or unanswered one is a ConnectionError."""
        either: list[asyncio.Future[Any]] = [self._opened, self._closed]
        await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._opened.done():
            return
        if not self._closed.done():
            raise ConnectionError(
                f"WebSocket handshake with {self._url} got no answer within {timeout:g} s"
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
        self._socket.send(message if isinstance(message, str) else js_bytes(message))

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

    def _listen(self, event: str, handler: Callable[[Any], None]) -> None:
        proxy = create_proxy(handler)
        self._socket.addEventListener(event, proxy)
        self._listeners.append((event, proxy))

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
        # A handler cannot be destroyed while it runs: detach on the next turn.
        asyncio.get_running_loop().call_soon(self._detach)

    def _detach(self) -> None:
        listeners, self._listeners = self._listeners, []
        for event, proxy in listeners:
            self._socket.removeEventListener(event, proxy)
            proxy.destroy()


class PyodideRuntime:
    """The Runtime for Pyodide hosts with global `fetch`, `Blob` and `WebSocket`.

    `connect_timeout` bounds the WebSocket handshake; the host owns TCP and TLS.
    """

    def __init__(self, connect_timeout: float = 30.0) -> None:
        self._connect_timeout = connect_timeout

    async def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterable[Chunk] | None,
        body_size: int | None = None,
    ) -> HttpResponse:
        """`fetch` with a Blob body; resolves once status and headers are in."""
        controller = js.AbortController.new()
        options: dict[str, Any] = {
            "method": method,
            "headers": fetch_headers(headers),
            "signal": controller.signal,
        }
        if body is not None:
            options["body"] = await blob_body(body)
        try:
            response = await js.fetch(url, js_object(options))
        except JsException as exc:
            raise ConnectionError(
                f"fetch {method} {url} failed ({js_error_text(exc)}): the server is unreachable "
                "or, in a browser, does not allow this page's origin (CORS)"
            ) from None
        except asyncio.CancelledError:
            controller.abort()
            raise
        return JsFetchResponse(response, controller)

    async def websocket(
        self,
        url: str,
        subprotocols: Sequence[str],
        headers: Sequence[tuple[str, str]] = (),
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
