"""Turning a statement's frames into what the API returns, on either transport.

A frame source yields a statement's Description and DataRow frames in batches
(whatever one network read completed), raises the DatabaseError of an error
frame at its place, and ends at the complete frame. `Deadline` bounds every
wait for the server by one statement-wide timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from ppg_edge.core.config import check_timeout
from ppg_edge.core.errors import ProtocolError, QueryTimeoutError
from ppg_edge.core.frames import Column, DataRow, Description, Frame, affected_count
from ppg_edge.core.types import TypeRegistry
from ppg_edge.results import CollectableIterator, QueryResult, Row

T = TypeVar("T")
FrameBatches = AsyncIterator[list[Frame]]


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
    first: list[Frame] = []
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
    rows = _rows(first[1:], frames, registry, columns)
    return QueryResult(columns, CollectableIterator(rows))


async def _rows(
    first: list[Frame], frames: FrameBatches, registry: TypeRegistry, columns: list[Column]
) -> AsyncIterator[list[Row]]:
    __tracebackhide__ = True
    parse = registry.row_parser([column.oid for column in columns])
    try:
        if first:
            yield [Row(parse(_row(frame).values)) for frame in first]
        async for batch in frames:
            yield [Row(parse(_row(frame).values)) for frame in batch]
    finally:
        await _close(frames)


def _row(frame: Frame) -> DataRow:
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
            if len(rows) > 1:
                raise ProtocolError("an exec answer holds more than one row")
    finally:
        await _close(frames)
    return affected_count(rows)


async def _close(frames: FrameBatches) -> None:
    close = getattr(frames, "aclose", None)
    if close is not None:
        await close()
