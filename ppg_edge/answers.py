"""Turning a statement's frames into what the API returns, on either transport.

A frame source yields a statement's Description and DataRow frames, raises the
DatabaseError of an error frame, and ends at its complete frame. `Deadline`
bounds every wait for the server by one statement-wide timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from ppg_edge.core.errors import ProtocolError, QueryTimeoutError
from ppg_edge.core.frames import Column, DataRow, Description, Frame, affected_count
from ppg_edge.core.types import TypeRegistry
from ppg_edge.results import CollectableIterator, QueryResult, Row

T = TypeVar("T")
_EXEC_ROW_LIMIT = 1


class Deadline:
    """The moment a statement must be finished by; None means no limit."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._when = None if timeout is None else asyncio.get_running_loop().time() + timeout

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable`, raising QueryTimeoutError if the deadline passes first."""
        if self._when is None:
            return await awaitable
        try:
            async with asyncio.timeout_at(self._when):
                return await awaitable
        except TimeoutError:
            raise QueryTimeoutError(
                f"the statement did not finish within its {self.timeout:g} s timeout"
            ) from None


async def start_query(
    frames: AsyncIterator[Frame],
    registry: TypeRegistry,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> QueryResult:
    """Wait for the row description (or the end), then stream the rows lazily."""
    columns: list[Column] = []
    first: Frame | None = None
    try:
        first = await anext(frames, None)
    except BaseException:
        await _close(frames)
        raise
    if isinstance(first, Description):
        columns = list(first.columns)
    elif first is not None:
        await _close(frames)
        raise ProtocolError("rows arrived before the row description")
    return QueryResult(columns, CollectableIterator(_rows(frames, registry, columns), on_close))


async def _rows(
    frames: AsyncIterator[Frame], registry: TypeRegistry, columns: list[Column]
) -> AsyncIterator[Row]:
    parse = registry.row_parser([column.oid for column in columns])
    try:
        async for frame in frames:
            if not isinstance(frame, DataRow):
                raise ProtocolError("a frame other than a row arrived among the rows")
            yield Row(parse(frame.values))
    finally:
        await _close(frames)


async def exec_count(frames: AsyncIterator[Frame]) -> int:
    """Read an exec statement's answer to its end and return the affected count."""
    rows: list[DataRow] = []
    try:
        async for frame in frames:
            if isinstance(frame, DataRow):
                rows.append(frame)
                if len(rows) > _EXEC_ROW_LIMIT:
                    raise ProtocolError("an exec answer holds more than one row")
    finally:
        await _close(frames)
    return affected_count(rows)


async def _close(frames: AsyncIterator[Frame]) -> None:
    close = getattr(frames, "aclose", None)
    if close is not None:
        await close()
