"""What statements hand back: rows and the iterator that streams them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ppg_edge._closing import AsyncClosing
from ppg_edge._display import HTML_ROWS, count_caption, html_table
from ppg_edge.core.frames import Column

if TYPE_CHECKING:
    from ppg_edge.rows import RowFactory

T = TypeVar("T")
U = TypeVar("U")

__all__ = ["CollectableIterator", "Column", "QueryResult", "Row", "Rows"]


@dataclass(slots=True)
class Row:
    """One result row of the low-level API; `values` are parsed, in column order."""

    values: list[Any]


class Rows(list[T]):
    """The list `collect()` returns; Jupyter shows it as a table (first rows and a count).

    `columns` are the statement's columns where they are known (the low-level
    `QueryResult.rows` and `batch()` results), so a table of `Row`s has its names.
    """

    def __init__(self, items: Iterable[T] = (), columns: Sequence[Column] | None = None) -> None:
        super().__init__(items)
        self.columns = None if columns is None else list(columns)

    def _repr_html_(self) -> str:
        shown = self[:HTML_ROWS]
        headers, cells = _tabulate(shown, self.columns)
        return html_table(headers, cells, count_caption(len(shown), len(self)))


def _tabulate(items: list[Any], columns: list[Column] | None) -> tuple[list[str], list[list[Any]]]:
    """Headers and cells for dict rows, `Row`s, or any other items (one column)."""
    names = None if columns is None else [column.name for column in columns]
    if items and all(isinstance(item, dict) for item in items):
        keys = list(items[0])
        return keys, [[item.get(key) for key in keys] for item in items]
    if items and all(isinstance(item, Row) for item in items):
        width = len(items[0].values)
        headers = names if names and len(names) == width else [str(i + 1) for i in range(width)]
        return headers, [item.values for item in items]
    if not items and names is not None:
        return names, []
    return ["value"], [[item] for item in items]


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
        self._received = 0
        self.columns: list[Column] | None = None
        """The statement's columns, when known: `collect()` hands them to its `Rows`."""

    def __aiter__(self) -> AsyncIterator[T]:
        """`async for` takes the items from one async generator that stays suspended
        between them: no coroutine per item (`__anext__` makes one per call). On
        `benchmarks/compare.py --only decode` that is about 0.1 µs of a dict row's
        1.3. It reads the shared position on every item, so `__anext__`, `batches()`,
        `collect()` or `aclose()` in between see and leave the same state."""
        return self._each()

    async def _each(self) -> AsyncIterator[T]:
        __tracebackhide__ = True
        while True:
            index = self._index
            items = self._items
            if index < len(items):
                self._index = index + 1
                yield items[index]
                continue
            batch = await self._next_batch()
            if batch is None:
                return
            self._items, self._index = batch, 0

    async def __anext__(self) -> T:
        __tracebackhide__ = True
        while self._index >= len(self._items):
            batch = await self._next_batch()
            if batch is None:
                raise StopAsyncIteration
            self._items, self._index = batch, 0
        item = self._items[self._index]
        self._index += 1
        return item

    async def _next_batch(self) -> list[T] | None:
        __tracebackhide__ = True
        if self._closed:
            return None
        try:
            batch = await anext(self._batches)
        except StopAsyncIteration:
            await self.aclose()
            return None
        except BaseException:
            await self.aclose()
            raise
        self._received += len(batch)
        return batch

    @property
    def consumed(self) -> int:
        """How many items were handed out so far (by iteration, `batches()` or `collect()`)."""
        return self._received - (len(self._items) - self._index)

    @property
    def closed(self) -> bool:
        """True once the items ran out or the iterator was closed."""
        return self._closed

    async def batches(self) -> AsyncIterator[list[T]]:
        """The remaining items, a batch at a time."""
        __tracebackhide__ = True
        rest = self._items[self._index :]
        self._items, self._index = [], 0
        if rest:
            yield rest
        while (batch := await self._next_batch()) is not None:
            yield batch

    def map(self, transform: Callable[[T], U]) -> CollectableIterator[U]:
        """A new iterator over the remaining items, transformed; it takes over this one."""

        async def mapped() -> AsyncIterator[list[U]]:
            __tracebackhide__ = True
            async for batch in self.batches():
                yield [transform(item) for item in batch]

        return CollectableIterator(mapped(), self.aclose)

    async def collect(self) -> Rows[T]:
        """Every remaining item, as a list (that notebooks show as a table)."""
        __tracebackhide__ = True
        items: Rows[T] = Rows(columns=self.columns)
        async for batch in self.batches():
            items.extend(batch)
        return items

    async def aclose(self) -> None:
        """Stop iterating and release the underlying response or statement."""
        if self._closed:
            return
        self._closed = True
        self._received -= len(self._items) - self._index  # buffered, never handed out
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
    _use: Callable[[RowFactory], bool] | None = field(default=None, repr=False, compare=False)
    """Switches the row source to another row factory, if no row was built yet."""

    def __post_init__(self) -> None:
        self.rows.columns = self.columns

    def rows_as(self, row_factory: RowFactory) -> CollectableIterator[Any]:
        """The rows in another shape (`ppg_edge.rows`: `dict_row`, `tuple_row`…).

        This takes over `rows`. Called before any row was read, the rows are
        built straight from the wire values in that shape; after, the rows
        already in memory are rebuilt from their `Row.values`.
        """
        from ppg_edge.rows import check_factory, shape_of

        check_factory(row_factory)
        if self._use is not None and self._use(row_factory):
            return cast(CollectableIterator[Any], self.rows)
        shape = shape_of(row_factory, self.columns)
        mapped = self.rows.map(lambda row: shape.make(_values(row)))
        mapped.columns = self.columns
        return mapped

    def dict_rows(self) -> CollectableIterator[dict[str, Any]]:
        """The rows as dicts keyed by column name (what `connect()`'s query gives);
        `rows_as(dict_row)`."""
        from ppg_edge.rows import dict_row

        return self.rows_as(dict_row)

    def _repr_html_(self) -> str:
        """The columns as a table head, and how far the rows were read (reading them
        needs an `await`, which a notebook's display cannot do)."""
        read = f"{self.rows.consumed:,} rows read"
        state = "finished" if self.rows.closed else "more stream in through result.rows"
        caption = f"QueryResult: {len(self.columns)} columns; {read}, {state}"
        return html_table([column.name for column in self.columns], (), caption, body=False)


def _values(row: Any) -> list[Any]:
    """A built row's values in column order (a `Row`, a tuple, a dict)."""
    if isinstance(row, Row):
        return row.values
    if isinstance(row, dict):
        return list(row.values())
    return list(row)
