"""What the two Pyodide-based runtimes share: JS conversions, listener proxies, fetch
bodies, and taking a WebSocket's queued messages in batches.

`pyodide` (browsers, Node) and `cloudflare` (Workers) both drive the host's own
`fetch` and `WebSocket` through Pyodide's JS bridge; the pieces that behave the
same on both hosts live here once. Importing it needs Pyodide (`js`, `pyodide.ffi`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Mapping,
    Sequence,
)
from typing import Any

import js  # type: ignore[import-not-found]
from pyodide.ffi import (  # type: ignore[import-not-found]
    JsException,
    create_proxy,
    to_js,
)

from ppg_edge.runtime.base import Chunk, Message, WebSocketClosed

try:
    from pyodide.ffi import jsnull
except ImportError:  # Pyodide before 0.28 turns JS null into None
    jsnull = None

__all__ = [
    "JsException",
    "JsFetchResponse",
    "ListenerScope",
    "is_js_null",
    "js_error_text",
    "js_fetch",
    "js_headers",
    "js_object",
    "readable_stream",
    "receive_queued",
    "to_js",
]


def is_js_null(value: Any) -> bool:
    """True for JS null and undefined, however this Pyodide version converts them."""
    return value is None or (jsnull is not None and value is jsnull)


def js_object(entries: Mapping[str, Any]) -> Any:
    """A plain JS object (not a Map) with these properties, e.g. fetch's init dictionary."""
    return to_js(dict(entries), dict_converter=js.Object.fromEntries)


def js_headers(headers: Sequence[tuple[str, str]], dropped: Collection[str] = ()) -> Any:
    """A JS `Headers` with every pair appended in order, except names (lower-case) in `dropped`."""
    result = js.Headers.new()
    for name, value in headers:
        if name.lower() not in dropped:
            result.append(name, value)
    return result


def js_error_text(exc: BaseException) -> str:
    """A JS exception as `Name: message`, without Pyodide's traceback noise."""
    name = getattr(exc, "name", None) or type(exc).__name__
    message = getattr(exc, "message", None) or str(exc)
    return f"{name}: {message}"


class ListenerScope:
    """Python callables handed to JS, released together once JS no longer calls them.

    A proxy cannot be destroyed while it runs (a handler may be what ends the
    scope), so `release_soon` detaches listeners at once and destroys on the next turn.
    """

    def __init__(self) -> None:
        self._proxies: list[Any] = []
        self._listeners: list[tuple[Any, str, Any]] = []

    def __len__(self) -> int:
        """How many event listeners are attached right now."""
        return len(self._listeners)

    def wrap(self, function: Callable[..., Any]) -> Any:
        """A proxy of `function` that lives until this scope is released."""
        proxy = create_proxy(function)
        self._proxies.append(proxy)
        return proxy

    def listen(self, target: Any, event: str, handler: Callable[[Any], None]) -> None:
        """`target.addEventListener(event, handler)`, removed again on release."""
        proxy = self.wrap(handler)
        target.addEventListener(event, proxy)
        self._listeners.append((target, event, proxy))

    def release(self) -> None:
        """Remove the listeners and destroy every proxy now."""
        self._detach()
        proxies, self._proxies = self._proxies, []
        for proxy in proxies:
            proxy.destroy()

    def release_soon(self) -> None:
        """Remove the listeners now and destroy the proxies on the next event-loop turn."""
        self._detach()
        asyncio.get_running_loop().call_soon(self.release)

    def _detach(self) -> None:
        listeners, self._listeners = self._listeners, []
        for target, event, proxy in listeners:
            target.removeEventListener(event, proxy)


def readable_stream(
    chunks: AsyncIterable[Chunk], on_done: Callable[[], Awaitable[None]] | None = None
) -> tuple[Any, asyncio.Future[None]]:
    """A pull-based JS ReadableStream of `chunks`, and a future that settles once it ended.

    The host asks for the next chunk only when it has taken the previous one, so
    the data crosses in constant memory and no Python task runs on its own. The
    stream ends, fails or is cancelled (its reader went away) exactly once:
    then `on_done` runs, the proxies are released and the future settles, so it
    can be handed to a Worker's `ctx.waitUntil`. Empty chunks are skipped.
    """
    iterator = aiter(chunks)
    scope = ListenerScope()
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    pulling: asyncio.Task[bytes] | None = None

    async def finish() -> None:
        if finished.done():
            return
        try:
            if on_done is not None:
                await on_done()
        finally:
            scope.release()
            finished.set_result(None)

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
            await finish()
            return
        except asyncio.CancelledError:
            return  # cancel() stopped this pull, and finishes the stream itself
        except BaseException as exc:
            controller.error(js.Error.new(f"stream failed: {type(exc).__name__}"))
            await finish()
            raise
        finally:
            pulling = None
        controller.enqueue(to_js(chunk))

    async def cancel(_reason: Any = None) -> None:
        """The reader gave up: stop a running pull, close the chunk source, finish."""
        if pulling is not None:
            running = pulling
            running.cancel()
            await asyncio.wait([running])  # let the source unwind before it is closed
        closer = getattr(iterator, "aclose", None)
        if closer is not None:
            await closer()
        await finish()

    source = js_object({"pull": scope.wrap(pull), "cancel": scope.wrap(cancel)})
    return js.ReadableStream.new(source), finished


async def js_fetch(
    method: str, url: str, init: Mapping[str, Any], hint: str = ""
) -> JsFetchResponse:
    """`fetch(url, init)` made abortable; returns once the status and headers are in.

    A fetch that rejects is a ConnectionError (`hint` says what that usually
    means on this host); a cancelled one is aborted so the host drops it too.
    """
    controller = js.AbortController.new()
    options = js_object({"method": method, **init, "signal": controller.signal})
    try:
        response = await js.fetch(url, options)
    except JsException as exc:
        raise ConnectionError(f"fetch {method} {url} failed ({js_error_text(exc)}){hint}") from None
    except asyncio.CancelledError:
        controller.abort()
        raise
    return JsFetchResponse(response, controller)


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
        """Abort the request and cancel its body: the host drops the connection."""
        if self._closed:
            return
        self._closed = True
        self._controller.abort()
        target = self._reader if self._reader is not None else self._response.body
        if not is_js_null(target):
            with contextlib.suppress(JsException):
                await target.cancel()


async def receive_queued(queue: asyncio.Queue[Message | WebSocketClosed]) -> list[Message]:
    """Every message the host's events queued, at least one (a WebSocket's `receive_many`).

    The close marker stays in the queue, so it ends this batch and every later
    call raises it; only the first wait can be cancelled, which loses nothing.
    """
    item = await queue.get()
    messages: list[Message] = []
    while True:
        if isinstance(item, WebSocketClosed):
            queue.put_nowait(item)  # nothing follows the marker: it stays last
            if messages:
                return messages
            raise item
        messages.append(item)
        if queue.empty():
            return messages
        item = queue.get_nowait()
