"""The sync face on hosts whose only I/O is async (Pyodide, Cloudflare Workers).

There the event loop is the host's (the browser's, the Worker's), and the only
way to block is to suspend the WebAssembly stack until a promise settles: JSPI,
as `pyodide.ffi.run_sync` exposes it where `can_run_sync()` holds (Chromium >=
137, Workers). `BridgedRuntime` gives the sync face the host's async runtime
with every wait handed to such a `block` function, bounded by the statement's
time left like the CPython sockets are. It moves no bytes itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ppg_edge._sync.concurrency import Expired, time_left
from ppg_edge._sync.transport import Body, Chunk, Headers, Message, ReplayableBody
from ppg_edge.core.errors import GenericError
from ppg_edge.runtime import base

T = TypeVar("T")
Block = Callable[[Awaitable[Any]], Any]
"""Runs an awaitable to its end from blocking code (JSPI's `run_sync`)."""

NO_JSPI = (
    "the synchronous face blocks through JSPI (pyodide.ffi.run_sync), which this host "
    "cannot do here: pyodide.ffi.can_run_sync() is False (it needs Chromium >= 137 and "
    "code started through runPythonAsync or a coroutine); use the async face"
)


def jspi_block(awaitable: Awaitable[T]) -> T:
    """`pyodide.ffi.run_sync`, or a clear GenericError where JSPI cannot suspend."""
    from pyodide.ffi import can_run_sync, run_sync  # type: ignore[import-not-found]

    if not can_run_sync():
        close = getattr(awaitable, "close", None)
        if close is not None:
            close()  # a coroutine never awaited: no "never awaited" warning
        raise GenericError(NO_JSPI)
    result: T = run_sync(awaitable)
    return result


class BridgedRuntime:
    """A blocking Runtime over an async one: each await handed to `block`."""

    def __init__(self, runtime: base.Runtime, block: Block) -> None:
        self._runtime = runtime
        self._block = block

    def wait(self, awaitable: Awaitable[T]) -> T:
        """Block for `awaitable`, within the running statement's time left."""
        left = time_left()
        if left is None:
            result: T = self._block(awaitable)
            return result
        try:
            bounded: T = self._block(asyncio.wait_for(awaitable, left))
        except TimeoutError as exc:
            if isinstance(exc, GenericError):
                raise  # the host runtime's own typed timeout (connecting)
            raise Expired from None
        return bounded

    def finish(self, awaitable: Awaitable[T]) -> T:
        """Block for a cleanup (a close): not cut short by a deadline that already ran out."""
        result: T = self._block(awaitable)
        return result

    def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> BridgedResponse:
        response = self.wait(
            self._runtime.request(method, url, headers, _async_body(body), body_size)
        )
        return BridgedResponse(response, self)

    def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Headers = ()
    ) -> BridgedWebSocket:
        return BridgedWebSocket(
            self.wait(self._runtime.websocket(url, subprotocols, headers)), self
        )

    def close(self) -> None:
        """Release the host runtime; without JSPI nothing could have been opened."""
        with contextlib.suppress(GenericError):
            self.finish(self._runtime.aclose())


def _async_body(body: Body) -> base.Body:
    if body is None:
        return None
    if isinstance(body, ReplayableBody):
        return base.ReplayableBody(lambda: _chunks(body))
    return _chunks(body)


async def _chunks(body: Body) -> AsyncIterator[Chunk]:
    """A sync body for the async runtime; pulling it does not wait for anything."""
    for chunk in body or ():
        yield chunk


class BridgedResponse:
    """An async runtime's response, read by blocking waits."""

    def __init__(self, response: base.HttpResponse, bridge: BridgedRuntime) -> None:
        self._response = response
        self._bridge = bridge

    @property
    def status(self) -> int:
        return self._response.status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    def body(self) -> Iterator[bytes]:
        chunks = self._response.body()
        try:
            while (chunk := self._bridge.wait(anext(chunks, None))) is not None:
                yield chunk
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                self._bridge.finish(close())

    def close(self) -> None:
        self._bridge.finish(self._response.aclose())


class BridgedWebSocket:
    """An async runtime's WebSocket, used by blocking waits."""

    def __init__(self, socket: base.WebSocket, bridge: BridgedRuntime) -> None:
        self._socket = socket
        self._bridge = bridge

    @property
    def subprotocol(self) -> str | None:
        return self._socket.subprotocol

    def send(self, message: Message) -> None:
        self._bridge.wait(self._socket.send(message))

    def send_many(self, messages: Sequence[Message]) -> None:
        self._bridge.wait(self._socket.send_many(messages))

    def receive(self) -> Message:
        return self._bridge.wait(self._socket.receive())

    def receive_many(self) -> list[Message]:
        return self._bridge.wait(self._socket.receive_many())

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._bridge.finish(self._socket.close(code, reason))
