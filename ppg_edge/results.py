"""What statements hand back: rows and the iterator that streams them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ppg_edge.closing import AsyncClosing
from ppg_edge.core.frames import Column

T = TypeVar("T")
U = TypeVar("U")

__all__ = ["CollectableIterator", "Column", "QueryResult", "Row"]


@dataclass(slots=True)
class Row:
    """One result row of the low-level API; `values` are parsed, in column order."""

    values: list[Any]


class CollectableIterator(AsyncClosing, Generic[T]):
    """An async iterator, usable once, that can also `collect()` what is left.

    Items arrive in batches (whatever one network read completed), so handing
    out one item costs no coroutine switch. `aclose()` (or leaving
    `async with it:`) stops early and releases the connection they come from.
    """

    def __init__(
        self,
        batches: AsyncIterator[list[T]],
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._batches = batches
        self._on_close = on_close
        self._items: list[T] = []
        self._index = 0
        self._closed = False

    def __aiter__(self) -> CollectableIterator[T]:
        return self

    async def __anext__(self) -> T:
        while self._index >= len(self._items):
            batch = await self._next_batch()
            if batch is None:
                raise StopAsyncIteration
            self._items, self._index = batch, 0
        item = self._items[self._index]
        self._index += 1
        return item

    async def _next_batch(self) -> list[T] | None:
        if self._closed:
            return None
        try:
            return await anext(self._batches)
        except StopAsyncIteration:
            await self.aclose()
            return None
        except BaseException:
            await self.aclose()
            raise

    async def batches(self) -> AsyncIterator[list[T]]:
        """The remaining items, a batch at a time."""
        rest = self._items[self._index :]
        self._items, self._index = [], 0
        if rest:
            yield rest
        while (batch := await self._next_batch()) is not None:
            yield batch

    def map(self, transform: Callable[[T], U]) -> CollectableIterator[U]:
        """A new iterator over the remaining items, transformed; it takes over this one."""

        async def mapped() -> AsyncIterator[list[U]]:
            async for batch in self.batches():
                yield [transform(item) for item in batch]

        return CollectableIterator(mapped(), self.aclose)

    async def collect(self) -> list[T]:
        """Every remaining item, as a list."""
        items: list[T] = []
        async for batch in self.batches():
            items.extend(batch)
        return items

    async def aclose(self) -> None:
        """Stop iterating and release the underlying response or statement."""
        if self._closed:
            return
        self._closed = True
        self._items, self._index = [], 0
        close = getattr(self._batches, "aclose", None)
        if close is not None:
            await close()
        if self._on_close is not None:
            await self._on_close()


@dataclass
class QueryResult:
    """The low-level answer to a query: its columns, known up front, and its streamed rows."""

    columns: list[Column]
    rows: CollectableIterator[Row]
