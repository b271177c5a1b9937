"""Turning a statement's frames into what the API returns, on either transport.

A frame source yields a statement's Description and DataRow frames (or, over
HTTP, whole `RowRun`s) in batches (whatever one network read completed), raises
the DatabaseError of an error frame at its place, and ends at the complete
frame. Rows are built a batch at a time by the result's generated function
(`TypeRegistry.batch_builder`), as `Row`s or, for the high-level API, straight
into dicts. `Deadline` bounds every wait for the server by one statement-wide
timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ppg_edge.concurrency import Deadline
from ppg_edge.core.answer import RowRun
from ppg_edge.core.config import check_timeout
from ppg_edge.core.errors import ProtocolError
from ppg_edge.core.frames import Column, DataRow, Description, Frame, affected_count
from ppg_edge.core.types import TypeRegistry
from ppg_edge.core.types.registry import BatchBuilder
from ppg_edge.results import CollectableIterator, QueryResult, Row

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


async def start_query(frames: FrameBatches, registry: TypeRegistry) -> QueryResult:
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
    maker = RowMaker(registry, columns)
    rows = _rows(first[1:], frames, maker)
    return QueryResult(columns, CollectableIterator(rows), maker.as_dicts)


class RowMaker:
    """Builds a result's rows, a batch at a time: `Row`s, or dicts once `as_dicts()`.

    A `RowRun` goes through the generated batch function; if that finds anything
    amiss, the run is checked and parsed again row by row, for the exact error.
    """

    def __init__(self, registry: TypeRegistry, columns: Sequence[Column]) -> None:
        self._registry = registry
        self._columns = tuple(columns)
        self._oids = [column.oid for column in columns]
        self._names: list[str] | None = None
        self._parse = registry.row_parser(self._oids)
        self._build: BatchBuilder | None = None

    def as_dicts(self) -> bool:
        """Build dicts keyed by column name instead; False once rows were built."""
        if self._build is not None:
            return False
        self._names = [column.name for column in self._columns]
        return True

    def rows(self, items: Sequence[Frame | RowRun]) -> list[Any]:
        """The rows of one batch of frames."""
        build = self._build
        if build is None:
            wrap = None if self._names is not None else Row
            build = self._build = self._registry.batch_builder(self._oids, self._names, wrap)
        if all(type(item) is DataRow for item in items):  # a session's batch: checked rows
            try:
                return build([item.values for item in items])  # type: ignore[union-attr]
            except Exception:  # a parser failed: the careful path, for its exact error
                return [self._one(_row(item).values) for item in items]
        built: list[Any] = []
        for item in items:
            if type(item) is RowRun:
                try:
                    built += build(item.values)
                except Exception:  # anything amiss: the careful path, for its exact error
                    built += [self._one(row.values) for row in item.frames(self._columns)]
            else:
                built.append(self._one(_row(item).values))
        return built

    def _one(self, values: list[str | None]) -> Any:
        parsed = self._parse(values)
        if self._names is None:
            return Row(parsed)
        return dict(zip(self._names, parsed, strict=True))


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
