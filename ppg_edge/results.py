"""What statements hand back: rows and the iterator that streams them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

from ppg_edge.core.frames import Column

T = TypeVar("T")

__all__ = ["CollectableIterator", "Column", "QueryResult", "Row"]


@dataclass(slots=True)
class Row:
    """One result row of the low-level API; `values` are parsed, in column order."""

    values: list[Any]


class CollectableIterator(Generic[T]):
    """An async iterator, usable once, that can also `collect()` what is left.

    `aclose()` (or leaving `async with it:`) stops early and releases the
    connection the items come from.
    """

    def __init__(
        self,
        source: AsyncIterator[T],
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._source = source
        self._on_close = on_close
        self._closed = False

    def __aiter__(self) -> CollectableIterator[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await self._source.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def collect(self) -> list[T]:
        """Every remaining item, as a list."""
        return [item async for item in self]

    async def aclose(self) -> None:
        """Stop iterating and release the underlying response or statement."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._source, "aclose", None)
        if close is not None:
            await close()
        if self._on_close is not None:
            await self._on_close()

    async def __aenter__(self) -> CollectableIterator[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass
class QueryResult:
    """The low-level answer to a query: its columns, known up front, and its streamed rows."""

    columns: list[Column]
    rows: CollectableIterator[Row]
