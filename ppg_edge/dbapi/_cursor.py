"""PEP 249's Cursor: execute / executemany, fetches streamed from the server's answer.

A query's rows are pulled from the answer as they are fetched, one network read
(a batch of rows) at a time: `fetchmany` never holds more than what it returns
plus the rest of one batch, so a large result costs constant memory, as
psycopg's server-side cursors do, with no DECLARE.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from ppg_edge.core.errors import Error, InterfaceError, ProgrammingError
from ppg_edge.dbapi._placeholders import Converted, convert, returns_rows

if TYPE_CHECKING:
    from ppg_edge._sync.results import SyncQueryResult
    from ppg_edge.dbapi._connection import Connection

Params = Sequence[Any] | Mapping[str, Any] | None

_PROCEDURE_NAME = re.compile(r"[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?")

_converted = lru_cache(maxsize=256)(convert)
"""Statements repeat (ORMs, executemany): each SQL text is scanned once."""


class ColumnDescription(NamedTuple):
    """One entry of `cursor.description`: PEP 249's 7 items; the protocol sends the
    name and the type OID only, so the sizes and nullability are None."""

    name: str
    type_code: int
    display_size: int | None = None
    internal_size: int | None = None
    precision: int | None = None
    scale: int | None = None
    null_ok: bool | None = None


class _Stream:
    """The rows of one answer, pulled from its stream a batch at a time."""

    def __init__(self, result: SyncQueryResult, *, drain: bool) -> None:
        self.description = [ColumnDescription(column.name, column.oid) for column in result.columns]
        self._rows = result.rows
        self._batches = cast(Iterator[list[tuple[Any, ...]]], result.rows.batches())
        """Tuples: the connection runs the query with `tuple_row`."""
        self._buffer: deque[tuple[Any, ...]] = deque()
        self.fetched = 0
        self.done = False
        self._error: BaseException | None = None
        self._closed = False
        self._drain = drain

    def take(self, limit: int | None) -> list[tuple[Any, ...]]:
        """Up to `limit` rows (all the rest for None), reading only as far as needed."""
        taken: list[tuple[Any, ...]] = []
        while limit is None or len(taken) < limit:
            if not self._buffer and not self._fill():
                break
            want = len(self._buffer) if limit is None else limit - len(taken)
            if want >= len(self._buffer):
                taken.extend(self._buffer)
                self._buffer.clear()
            else:
                taken.extend(self._buffer.popleft() for _ in range(want))
        self.fetched += len(taken)
        return taken

    def _fill(self) -> bool:
        if self._error is not None:
            raise self._error  # a failed answer stays failed, never a short complete one
        if self.done:
            return False
        try:
            batch = next(self._batches, None)
        except BaseException as exc:
            self._error = exc
            self.done = True
            raise
        if batch is None:
            self.done = True
            return False
        self._buffer.extend(batch)
        return True

    @property
    def complete(self) -> bool:
        """Whether every row of the answer arrived (an error or a close is not complete)."""
        return self.done and self._error is None and not self._closed

    def close(self, *, drain: bool = True) -> None:
        """Stop reading: close the HTTP response, or abandon the session's answer.

        Inside a transaction (`drain`) the rest is read and discarded instead: the
        server would cancel an abandoned statement, and a cancelled statement aborts
        the transaction around it.
        """
        if drain and self._drain and not self.done:
            with contextlib.suppress(Error):
                for _batch in self._batches:
                    pass
        self._closed = True
        self.done = True
        self._buffer.clear()
        self._rows.close()


class Cursor:
    """A PEP 249 cursor of a `Connection`; rows are tuples, type codes are type OIDs."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.arraysize = 1
        self._stream: _Stream | None = None
        self._rowcount = -1
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ppg_edge.dbapi.Cursor {state}>"

    @property
    def description(self) -> list[ColumnDescription] | None:
        """Name and type OID of each column of the last query; None if it had no rows."""
        return None if self._stream is None else self._stream.description

    @property
    def rowcount(self) -> int:
        """Rows affected by the last execute / executemany (summed), or rows a query
        produced once they were all fetched; -1 while a query still streams."""
        stream = self._stream
        if stream is not None:
            return stream.fetched if stream.complete else -1
        return self._rowcount

    @property
    def closed(self) -> bool:
        return self._closed

    lastrowid = None
    """PEP 249's optional attribute: PostgreSQL has no row ids to give (use RETURNING)."""

    def execute(self, operation: str, parameters: Params = None) -> Cursor:
        """Run one statement; a query's rows stream in as they are fetched."""
        __tracebackhide__ = True
        self._start()
        sql, values = _bind(operation, parameters)
        self._run(sql, values)
        return self

    def callproc(self, procname: str, parameters: Sequence[Any] = ()) -> Sequence[Any]:
        """`SELECT * FROM procname(parameters...)`: its rows are the result set. Returns
        `parameters` unchanged (PostgreSQL functions have no output parameters to fill).
        `procname` must be a plain or schema-qualified name: it is SQL, not a value."""
        __tracebackhide__ = True
        if not isinstance(procname, str) or not _PROCEDURE_NAME.fullmatch(procname):
            raise ProgrammingError("callproc() takes a function name such as lower or s.fn")
        self._start()
        placeholders = ", ".join(f"${n}" for n in range(1, len(parameters) + 1))
        self._run(f"SELECT * FROM {procname}({placeholders})", list(parameters))
        return parameters

    def _run(self, sql: str, values: list[Any]) -> None:
        """Run converted SQL as a query (rows streamed) or an exec (count known)."""
        __tracebackhide__ = True
        if returns_rows(sql):
            result = self.connection._query(sql, values)
            if result.columns:
                self._stream = _Stream(result, drain=not self.connection.autocommit)
            else:  # a statement with no row set (e.g. a CTE that only writes)
                result.rows.close()
        else:
            self._rowcount = self.connection._exec(sql, values)

    def executemany(self, operation: str, seq_of_parameters: Sequence[Params]) -> Cursor:
        """Run one statement per parameter set, all pipelined in one round trip.

        `rowcount` is the sum of their counts; rows of a query are not kept (as PEP
        249 allows). In autocommit mode the statements run in one transaction, so
        they all take effect or none does (as psycopg's pipelined executemany).
        """
        __tracebackhide__ = True
        self._start()
        batches = [_bind(operation, parameters) for parameters in seq_of_parameters]
        if not batches:
            self._rowcount = 0
            return self
        sql = batches[0][0]
        self._rowcount = sum(self.connection._exec_many(sql, [values for _, values in batches]))
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        rows = self._rows_source().take(1)
        return rows[0] if rows else None

    def fetchmany(self, size: int | None = None) -> list[tuple[Any, ...]]:
        """Up to `size` (default `arraysize`) rows, read from the stream as needed."""
        return self._rows_source().take(self.arraysize if size is None else size)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows_source().take(None)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self

    def __next__(self) -> tuple[Any, ...]:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def setinputsizes(self, sizes: Any) -> None:
        """No-op: parameters are bound with type OID 0, PostgreSQL infers their types."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """No-op: values arrive whole."""

    def close(self) -> None:
        """Stop any result still streaming; the cursor is unusable afterwards."""
        self._end_stream()
        self._closed = True

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> None:
        """Check the cursor can run a statement and drop the previous result."""
        if self._closed:
            raise InterfaceError("the cursor is closed")
        self.connection._check_open()
        self._end_stream()
        self._rowcount = -1

    def _end_stream(self, *, drain: bool = True) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close(drain=drain)

    def _discard(self) -> None:
        """Close without reading the rest: the connection is closing its session."""
        self._end_stream(drain=False)
        self._closed = True

    def _rows_source(self) -> _Stream:
        if self._closed:
            raise InterfaceError("the cursor is closed")
        if self._stream is None:
            raise ProgrammingError("the last execute() produced no result set to fetch")
        return self._stream


def _bind(operation: str, parameters: Params) -> tuple[str, list[Any]]:
    """The `$n` SQL and its parameters in order; without parameters, the SQL as written."""
    if not isinstance(operation, str):
        raise ProgrammingError("execute() takes the statement as a str")
    if parameters is None:
        return operation, []
    if isinstance(parameters, str | bytes) or not isinstance(parameters, Sequence | Mapping):
        raise ProgrammingError("parameters must be a sequence or a mapping")
    converted: Converted = _converted(operation)
    return converted.sql, converted.values(parameters)
