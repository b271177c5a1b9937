"""The few waiting primitives the async face needs, behind names the sync face twins.

`scripts/generate_sync.py` writes the synchronous face from the async modules
by dropping `async`/`await`; what cannot be written that way (a timeout around
an await, closing something in the background, pulling a user's stream that
may be sync or async) lives here, and `ppg_edge/_sync/concurrency.py` is its hand-written
blocking twin with the same names. Keep the two small and in step.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ppg_edge.core.errors import QueryTimeoutError

T = TypeVar("T")


class Deadline:
    """The moment a statement must be finished by; None means no limit."""

    def __init__(self, timeout: float | None, action: str = "the statement") -> None:
        self.timeout = timeout
        self.action = action
        self._when = None if timeout is None else asyncio.get_running_loop().time() + timeout

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, raising QueryTimeoutError if the deadline passes first."""
        __tracebackhide__ = True
        if self._when is None:
            return await awaitable
        try:
            async with asyncio.timeout_at(self._when):
                return await awaitable
        except TimeoutError:
            raise QueryTimeoutError(
                f"{self.action} did not finish within its {self.timeout:g} s timeout"
            ) from None

    async def run(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        """`await function(*args)` within the deadline (the form the sync twin can bound)."""
        __tracebackhide__ = True
        return await self.wait(function(*args))


class Closer:
    """Closes things in the background and lets their owner wait for those closes."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def later(self, close: Callable[[], Awaitable[None]]) -> None:
        """Start `close()` without waiting for it (say, a close handshake's round trip)."""
        task = asyncio.ensure_future(close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for every close started so far; their errors are not the owner's."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def pull(source: AsyncIterable[T] | Iterable[T]) -> AsyncIterator[T]:
    """The items of a user's iterable, sync or async (the sync twin takes sync ones only)."""
    if isinstance(source, AsyncIterable):
        async for item in source:
            yield item
    else:
        for item in source:
            yield item
