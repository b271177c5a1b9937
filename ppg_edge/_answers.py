"""Turning a statement's frames into what the API returns, on either transport.

A frame source yields a statement's Description and DataRow frames (or, over
HTTP, whole `RowRun`s) in batches (whatever one network read completed), raises
the DatabaseError of an error frame at its place, and ends at the complete
frame. Rows are built a batch at a time by the result's generated function
(`TypeRegistry.batch_builder`), in the shape the result's row factory gives
(`ppg_edge.rows`: `Row`s for the low level, dicts for the high level, tuples for
the DB-API, a class): one path whatever the shape. `Deadline` bounds every
wait for the server by one statement-wide timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ppg_edge._concurrency import Deadline
from ppg_edge._results import CollectableIterator, QueryResult
from ppg_edge.core.answer import RowRun
from ppg_edge.core.config import check_timeout
from ppg_edge.core.errors import ProtocolError
from ppg_edge.core.frames import Column, DataRow, Description, Frame, affected_count
from ppg_edge.core.types import TypeRegistry
from ppg_edge.core.types.batches import BatchBuilder, RowShape
from ppg_edge.rows import RowFactory, shape_of, values_row

__all__ = [
    "Deadline",
    "RowMaker",
    "effective_timeout",
    "exec_count",
    "start_query",
    "statement_deadline",
]

FrameBatches = AsyncIterator[Sequence[Frame | RowRun]]


def effective_timeout(timeout: float | None, inherited: float | None) -> float | None:
    """A statement's or session's own timeout (validated), else the one it inherits."""
    own = check_timeout(timeout)
    return inherited if own is None else own


def statement_deadline(timeout: float | None, inherited: float | None) -> Deadline:
    """The deadline of one statement: its own timeout, else the client's or session's."""
    return Deadline(effective_timeout(timeout, inherited))


async def start_query(
    frames: FrameBatches, registry: TypeRegistry, row_factory: RowFactory = values_row
) -> QueryResult:
    """Wait for the row description (or the end), then stream the rows lazily."""
    __tracebackhide__ = True
    first: Sequence[Frame | RowRun] = []
    try:
        while not first:
            batch = await anext(frames, None)
            if batch is None:
                break
            first = batch
    except BaseException:
        await _close(frames)
        raise
    columns: list[Column] = []
    if first:
        head = first[0]
        if not isinstance(head, Description):
            await _close(frames)
            raise ProtocolError("rows arrived before the row description")
        columns = list(head.columns)
    try:
        maker = RowMaker(registry, columns, row_factory)
    except BaseException:
        await _close(frames)
        raise
    rows = _rows(first[1:], frames, maker)
    return QueryResult(columns, CollectableIterator(rows), maker.use)


class RowMaker:
    """Builds a result's rows, a batch at a time, in its row factory's shape.

    A `RowRun` goes through the result's generated flat function, a session's
    checked `DataRow`s through its batch function; if either fails, the rows
    are checked, parsed and built again one by one, for the exact error.
    """

    def __init__(
        self,
        registry: TypeRegistry,
        columns: Sequence[Column],
        row_factory: RowFactory = values_row,
    ) -> None:
        self._registry = registry
        self._columns = tuple(columns)
        self._oids = [column.oid for column in columns]
        self._shape: RowShape = shape_of(row_factory, self._columns)
        self._parse = registry.row_parser(self._oids)
        self._build: BatchBuilder | None = None
        self._flat: BatchBuilder | None = None
        self._built = False

    def use(self, row_factory: RowFactory) -> bool:
        """Build the rows with another factory instead; False once rows were built."""
        if self._built:
            return False
        self._shape = shape_of(row_factory, self._columns)
        self._build = self._flat = None
        return True

    def rows(self, items: Sequence[Frame | RowRun]) -> list[Any]:
        """The rows of one batch of frames."""
        self._built = True
        if len(items) == 1 and type(items[0]) is RowRun:  # an HTTP read's rows
            return self._run(items[0])
        if all(type(item) is DataRow for item in items):  # a session's batch: checked rows
            build = self._build
            if build is None:
                build = self._build = self._registry.batch_builder(self._oids, self._shape)
            try:
                return build([item.values for item in items])  # type: ignore[union-attr]
            except Exception:  # a parser failed: the careful path, for its exact error
                return [self._one(_row(item).values) for item in items]
        built: list[Any] = []
        for item in items:
            if type(item) is RowRun:
                built += self._run(item)
            else:
                built.append(self._one(_row(item).values))
        return built

    def _run(self, run: RowRun) -> list[Any]:
        """A run's rows through the flat function, else line by line for the exact error."""
        build = self._flat
        if build is None:
            build = self._flat = self._registry.flat_builder(self._oids, self._shape)
        try:
            return build(run.values)
        except Exception:  # a parser failed: the careful path, for its exact error
            return [self._one(row.values) for row in run.frames(self._columns)]

    def _one(self, values: list[str | None]) -> Any:
        return self._shape.make(self._parse(values))


async def _rows(
    first: Sequence[Frame | RowRun], frames: FrameBatches, maker: RowMaker
) -> AsyncIterator[list[Any]]:
    __tracebackhide__ = True
    try:
        if first:
            yield maker.rows(first)
        async for batch in frames:
            yield maker.rows(batch)
    finally:
        await _close(frames)


def _row(frame: Frame | RowRun) -> DataRow:
    if not isinstance(frame, DataRow):
        raise ProtocolError("a frame other than a row arrived among the rows")
    return frame


async def exec_count(frames: FrameBatches) -> int:
    """Read an exec statement's answer to its end and return the affected count."""
    __tracebackhide__ = True
    rows: list[DataRow] = []
    try:
        async for batch in frames:
            rows.extend(frame for frame in batch if isinstance(frame, DataRow))
            if any(isinstance(frame, RowRun) for frame in batch):
                raise ProtocolError("an exec answer's rows arrived as a run")
            if len(rows) > 1:
                raise ProtocolError("an exec answer holds more than one row")
    finally:
        await _close(frames)
    return affected_count(rows)


async def _close(frames: FrameBatches) -> None:
    close = getattr(frames, "aclose", None)
    if close is not None:
        await close()
