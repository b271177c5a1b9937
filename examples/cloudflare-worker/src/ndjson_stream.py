"""Turn a Python async iterator of bytes into a JS ReadableStream for a Worker's Response.

The stream is pull-based: workerd asks for the next chunk only when the client
has taken the previous one, so a large result travels in constant memory and
no Python task runs on its own after `fetch` returns. `on_done` runs exactly
once when the stream ends, fails or is cancelled (the client went away); the
returned future settles after it, so it can be handed to `ctx.waitUntil`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import js
from pyodide.ffi import create_proxy, to_js


def readable_stream(
    chunks: AsyncIterator[bytes], on_done: Callable[[], Awaitable[None]]
) -> tuple[Any, asyncio.Future[None]]:
    """A ReadableStream of `chunks`, and a future that settles once `on_done` has run."""
    finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    proxies: list[Any] = []

    async def finish() -> None:
        if finished.done():
            return
        try:
            await on_done()
        finally:
            for proxy in proxies:
                proxy.destroy()
            finished.set_result(None)

    pulling: asyncio.Task[bytes] | None = None

    async def next_chunk() -> bytes:
        return await anext(chunks)

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
            return  # cancel() stopped this pull; it also finishes
        except BaseException as exc:
            controller.error(js.Error.new(f"stream failed: {type(exc).__name__}"))
            await finish()
            raise
        finally:
            pulling = None
        controller.enqueue(to_js(chunk))

    async def cancel(_reason: Any = None) -> None:
        """The client went away: stop a running pull, close the iterator, clean up."""
        if pulling is not None:
            running = pulling
            running.cancel()
            await asyncio.wait([running])  # let the iterator unwind before it is closed
        closer = getattr(chunks, "aclose", None)
        if closer is not None:
            await closer()
        await finish()

    proxies.extend([create_proxy(pull), create_proxy(cancel)])
    source = to_js({"pull": proxies[0], "cancel": proxies[1]}, dict_converter=js.Object.fromEntries)
    return js.ReadableStream.new(source), finished
