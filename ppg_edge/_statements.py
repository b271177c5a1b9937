"""Statements of the high-level API: sql, sql.exec, query and exec, and batch's Query / Exec.

Rows come back as dicts keyed by column name, unless `row_factory` (on
`connect()`, or per statement) says otherwise. `Statements` runs them on a
`Runner`: the HTTP client for a `Database`, a session for a `Transaction`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol

from ppg_edge._results import CollectableIterator, QueryResult, Rows
from ppg_edge.core.errors import ValidationError
from ppg_edge.core.protocol import EXEC_KIND, QUERY_KIND
from ppg_edge.core.template import format_to_sql, is_template, template_to_sql
from ppg_edge.rows import RowFactory, check_factory, dict_row

DictRow = dict[str, Any]


class Runner(Protocol):
    """What high-level statements run on: a Client (HTTP) or a transaction's session."""

    async def query(
        self,
        sql: str,
        *params: Any,
        timeout: float | None = None,
        row_factory: RowFactory | None = None,
    ) -> QueryResult: ...

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int: ...


def to_sql(template: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQL and parameters of a t-string or of the portable str.format-style form."""
    __tracebackhide__ = True
    if is_template(template):
        if args or kwargs:
            raise ValidationError("a t-string takes no further arguments")
        return template_to_sql(template)
    return format_to_sql(template, args, kwargs)


class Statement:
    """A statement for `batch()`: SQL with $n placeholders (or a t-string) and parameters."""

    kind = QUERY_KIND

    def __init__(self, sql: Any, *params: Any) -> None:
        if is_template(sql):
            if params:
                raise ValidationError("a t-string takes no further parameters")
            sql, values = template_to_sql(sql)
            params = tuple(values)
        if not isinstance(sql, str):
            raise ValidationError("a statement's SQL must be a str or a t-string")
        self.sql: str = sql
        self.params: tuple[Any, ...] = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.sql!r}, <{len(self.params)} parameters>)"


class Query(Statement):
    """A batch statement whose rows are wanted (a list of dict rows)."""

    kind = QUERY_KIND


class Exec(Statement):
    """A batch statement whose affected-row count is wanted."""

    kind = EXEC_KIND


class SqlTag:
    """`db.sql(...)` for rows and `db.sql.exec(...)` for counts, from templates.

    Takes a t-string, or a str.format-style template with its arguments; `timeout`
    and `row_factory` are always the statement's own, never template fields.
    """

    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def __call__(
        self,
        template: Any,
        *args: Any,
        timeout: float | None = None,
        row_factory: RowFactory | None = None,
        **kwargs: Any,
    ) -> CollectableIterator[Any]:
        __tracebackhide__ = True
        sql, params = to_sql(template, args, kwargs)
        return self._statements.query(sql, *params, timeout=timeout, row_factory=row_factory)

    async def exec(
        self, template: Any, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> int:
        __tracebackhide__ = True
        sql, params = to_sql(template, args, kwargs)
        return await self._statements.exec(sql, *params, timeout=timeout)


class Statements:
    """sql, sql.exec, query and exec over a runner; shared by the client and transactions."""

    def __init__(self, runner: Runner, row_factory: RowFactory = dict_row) -> None:
        self._runner = runner
        self.row_factory = check_factory(row_factory)
        """How rows are built unless a statement says otherwise (dicts by default)."""
        self.sql = SqlTag(self)

    def query(
        self,
        sql: str,
        *params: Any,
        timeout: float | None = None,
        row_factory: RowFactory | None = None,
    ) -> CollectableIterator[Any]:
        """Rows (dicts unless `row_factory` says otherwise), streamed; nothing is sent
        until iteration starts."""
        __tracebackhide__ = True
        if not isinstance(sql, str):
            raise ValidationError("query() takes SQL text; use sql() for templates")
        factory = self.row_factory if row_factory is None else check_factory(row_factory)
        return CollectableIterator(_built_rows(self._runner, sql, params, timeout, factory))

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        """The number of rows the statement affected."""
        __tracebackhide__ = True
        if not isinstance(sql, str):
            raise ValidationError("exec() takes SQL text; use sql.exec() for templates")
        return await self._runner.exec(sql, *params, timeout=timeout)


async def _built_rows(
    runner: Runner,
    sql: str,
    params: Sequence[Any],
    timeout: float | None,
    row_factory: RowFactory,
) -> AsyncIterator[list[Any]]:
    __tracebackhide__ = True
    result = await runner.query(sql, *params, timeout=timeout, row_factory=row_factory)
    async with result.rows as rows:
        async for batch in rows.batches():
            yield batch


async def _collect(result: QueryResult) -> Rows[Any]:
    __tracebackhide__ = True
    async with result.rows as rows:
        return await rows.collect()
