"""The high-level API: `connect()` -> sql, query, exec, transaction and batch.

Rows come back as dicts keyed by column name. Transactions and batches run on a
WebSocket session: a transaction's BEGIN is pipelined with its first statement,
and a batch sends BEGIN, every statement and COMMIT in one burst (one round trip).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar, overload

from ppg_edge.answers import Deadline
from ppg_edge.client import Client, client
from ppg_edge.closing import AsyncClosing
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT, ClientConfig
from ppg_edge.core.errors import GenericError, ValidationError
from ppg_edge.core.protocol import EXEC_KIND, MAX_RESULT_FRAME_BYTES, QUERY_KIND
from ppg_edge.core.session import PendingStatement
from ppg_edge.core.template import format_to_sql, is_template, template_to_sql
from ppg_edge.core.types import ValueParser, ValueSerializer
from ppg_edge.results import CollectableIterator, QueryResult, Rows
from ppg_edge.runtime.base import Runtime
from ppg_edge.session import Session

T = TypeVar("T")
DictRow = dict[str, Any]


class Runner(Protocol):
    """What high-level statements run on: a Client (HTTP) or a transaction's session."""

    async def query(self, sql: str, *params: Any, timeout: float | None = None) -> QueryResult: ...

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int: ...


def to_sql(template: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[str, list[Any]]:
    """SQL and parameters of a t-string or of the portable str.format-style form."""
    __tracebackhide__ = True
    if is_template(template):
        if args or kwargs:
            raise ValidationError("a t-string takes no further arguments")
        return template_to_sql(template)
    return format_to_sql(template, args, kwargs)


class _Statement:
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


class Query(_Statement):
    """A batch statement whose rows are wanted (a list of dict rows)."""

    kind = QUERY_KIND


class Exec(_Statement):
    """A batch statement whose affected-row count is wanted."""

    kind = EXEC_KIND


class SqlTag:
    """`db.sql(...)` for rows and `db.sql.exec(...)` for counts, from templates.

    Takes a t-string, or a str.format-style template with its arguments; `timeout`
    is always the statement's timeout, never a template field.
    """

    def __init__(self, statements: Statements) -> None:
        self._statements = statements

    def __call__(
        self, template: Any, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> CollectableIterator[DictRow]:
        __tracebackhide__ = True
        sql, params = to_sql(template, args, kwargs)
        return self._statements.query(sql, *params, timeout=timeout)

    async def exec(
        self, template: Any, *args: Any, timeout: float | None = None, **kwargs: Any
    ) -> int:
        __tracebackhide__ = True
        sql, params = to_sql(template, args, kwargs)
        return await self._statements.exec(sql, *params, timeout=timeout)


class Statements:
    """sql, sql.exec, query and exec over a runner; shared by the client and transactions."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner
        self.sql = SqlTag(self)

    def query(
        self, sql: str, *params: Any, timeout: float | None = None
    ) -> CollectableIterator[DictRow]:
        """Rows as dicts, streamed; nothing is sent until iteration starts."""
        __tracebackhide__ = True
        if not isinstance(sql, str):
            raise ValidationError("query() takes SQL text; use sql() for templates")
        return CollectableIterator(_dict_rows(self._runner, sql, params, timeout))

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        """The number of rows the statement affected."""
        __tracebackhide__ = True
        if not isinstance(sql, str):
            raise ValidationError("exec() takes SQL text; use sql.exec() for templates")
        return await self._runner.exec(sql, *params, timeout=timeout)


async def _dict_rows(
    runner: Runner, sql: str, params: Sequence[Any], timeout: float | None
) -> AsyncIterator[list[DictRow]]:
    __tracebackhide__ = True
    result = await runner.query(sql, *params, timeout=timeout)
    async with result.dict_rows() as rows:
        async for batch in rows.batches():
            yield batch


async def _collect_dicts(result: QueryResult) -> Rows[DictRow]:
    __tracebackhide__ = True
    async with result.dict_rows() as rows:
        return await rows.collect()


async def _batch_on(
    session: Session, statements: Sequence[_Statement], deadline: Deadline
) -> list[Any]:
    """Send BEGIN, the statements and COMMIT in one burst, then read the answers in order.

    If a statement fails, PostgreSQL fails the rest (25P02) and turns the COMMIT
    into a rollback; the caller closes the session, which rolls back in any case.
    """
    __tracebackhide__ = True
    prepared = [await session.prepare(EXEC_KIND, "BEGIN", ())]
    for statement in statements:
        prepared.append(await session.prepare(statement.kind, statement.sql, statement.params))
    prepared.append(await session.prepare(EXEC_KIND, "COMMIT", ()))
    pending = [session.submit(messages) for messages in prepared]
    await session.exec_result(pending[0], deadline)
    results: list[Any] = []
    for statement, answer in zip(statements, pending[1:-1], strict=True):
        if statement.kind == QUERY_KIND:
            results.append(await _collect_dicts(await session.query_result(answer, deadline)))
        else:
            results.append(await session.exec_result(answer, deadline))
    await session.exec_result(pending[-1], deadline)
    return results


class _TransactionRunner:
    """Runs statements on a session whose BEGIN was sent, unanswered, just before them."""

    def __init__(self, session: Session, begin: PendingStatement) -> None:
        self.session = session
        self._begin: PendingStatement | None = begin

    async def _begun(self) -> None:
        __tracebackhide__ = True
        begin, self._begin = self._begin, None
        if begin is not None:
            await self.session.exec_result(begin, self.session.deadline(None))

    async def query(self, sql: str, *params: Any, timeout: float | None = None) -> QueryResult:
        __tracebackhide__ = True
        deadline = self.session.deadline(timeout)
        pending = self.session.submit(await self.session.prepare(QUERY_KIND, sql, params))
        await self._after_begin(pending)
        return await self.session.query_result(pending, deadline)

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        __tracebackhide__ = True
        deadline = self.session.deadline(timeout)
        pending = self.session.submit(await self.session.prepare(EXEC_KIND, sql, params))
        await self._after_begin(pending)
        return await self.session.exec_result(pending, deadline)

    async def _after_begin(self, pending: PendingStatement) -> None:
        __tracebackhide__ = True
        try:
            await self._begun()
        except BaseException:
            self.session.abandon(pending)
            raise

    async def commit(self) -> None:
        """COMMIT, refusing to report success for a transaction that already failed.

        PostgreSQL answers COMMIT in a failed transaction with a silent rollback, so a
        `SELECT 1` probe goes in the same burst: in a failed transaction it fails with
        SQLSTATE 25P02, and that error is raised. No extra round trip.
        """
        __tracebackhide__ = True
        session = self.session
        deadline = session.deadline(None)
        probe = session.submit(await session.prepare(EXEC_KIND, "SELECT 1", ()))
        commit = session.submit(await session.prepare(EXEC_KIND, "COMMIT", ()))
        try:
            await self._begun()
            await session.exec_result(probe, deadline)
        except BaseException:
            session.abandon(commit)
            raise
        await session.exec_result(commit, deadline)

    async def rollback(self) -> None:
        """ROLLBACK when the session is idle; if a statement is still running (a timeout
        or cancellation left it), a ROLLBACK would wait behind it, so the caller's close
        does the rollback instead, at once."""
        if self.session.pending:
            return
        with contextlib.suppress(GenericError):
            await self.session.exec("ROLLBACK")


class Transaction(Statements):
    """The statements of one transaction (`tx.sql`, `tx.query`, `tx.exec`), on one session."""

    def __init__(self, runner: _TransactionRunner) -> None:
        super().__init__(runner)
        self.session = runner.session


class TransactionContext:
    """`async with db.transaction() as tx:` commits on success, rolls back on an exception."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._runner: _TransactionRunner | None = None

    async def __aenter__(self) -> Transaction:
        __tracebackhide__ = True
        session = await self._client.new_session()
        try:
            begin = session.submit(await session.prepare(EXEC_KIND, "BEGIN", ()))
        except BaseException:
            await session.close()
            raise
        self._runner = _TransactionRunner(session, begin)
        return Transaction(self._runner)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        runner = self._runner
        if runner is None:
            return
        self._runner = None
        try:
            if exc_type is None:
                await runner.commit()
            elif issubclass(exc_type, Exception):
                await runner.rollback()
            # Anything else (cancellation): closing the session rolls back at once.
        except BaseException:
            await runner.session.close()
            raise
        if exc_type is None:
            self._client.close_later(runner.session)
        else:
            await runner.session.close()


class BatchBuilder:
    """`db.batch().query(...).exec(...).run()`: collects statements, then runs them at once."""

    def __init__(self, database: Database, statements: Sequence[_Statement] = ()) -> None:
        self._database = database
        self._statements = tuple(statements)

    def query(self, sql: Any, *params: Any) -> BatchBuilder:
        return BatchBuilder(self._database, (*self._statements, Query(sql, *params)))

    def exec(self, sql: Any, *params: Any) -> BatchBuilder:
        return BatchBuilder(self._database, (*self._statements, Exec(sql, *params)))

    async def run(self, *, timeout: float | None = None) -> list[Any]:
        __tracebackhide__ = True
        return await self._database._run_batch(self._statements, timeout)


class Database(Statements, AsyncClosing):
    """The high-level client returned by `connect()`."""

    def __init__(self, client: Client) -> None:
        super().__init__(client)
        self.client = client

    def __repr__(self) -> str:
        return f"Database({self.client.config!r})"

    @overload
    def transaction(self) -> TransactionContext: ...

    @overload
    def transaction(
        self, callback: Callable[[Transaction], Awaitable[T]]
    ) -> Coroutine[Any, Any, T]: ...

    def transaction(
        self, callback: Callable[[Transaction], Awaitable[T]] | None = None
    ) -> TransactionContext | Coroutine[Any, Any, T]:
        """`async with db.transaction() as tx:` or `await db.transaction(callback)`."""
        if callback is None:
            return TransactionContext(self.client)
        return self._run_transaction(callback)

    async def _run_transaction(self, callback: Callable[[Transaction], Awaitable[T]]) -> T:
        __tracebackhide__ = True
        async with TransactionContext(self.client) as tx:
            return await callback(tx)

    @overload
    def batch(self) -> BatchBuilder: ...

    @overload
    def batch(
        self, *statements: Query | Exec, timeout: float | None = None
    ) -> Coroutine[Any, Any, list[Any]]: ...

    def batch(
        self, *statements: Query | Exec, timeout: float | None = None
    ) -> BatchBuilder | Coroutine[Any, Any, list[Any]]:
        """Run statements atomically in one round trip, or start a fluent builder."""
        if not statements:
            return BatchBuilder(self)
        for statement in statements:
            if not isinstance(statement, _Statement):
                raise ValidationError("batch() takes Query(...) and Exec(...) statements")
        return self._run_batch(statements, timeout)

    async def _run_batch(
        self, statements: Sequence[_Statement], timeout: float | None
    ) -> list[Any]:
        __tracebackhide__ = True
        if not statements:
            return []
        session = await self.client.new_session()
        try:
            results = await _batch_on(session, statements, session.deadline(timeout))
        except BaseException:
            await session.close()
            raise
        self.client.close_later(session)
        return results

    async def aclose(self) -> None:
        """Release the client's pooled connections."""
        await self.client.aclose()


def connect(
    url_or_config: str | ClientConfig,
    *,
    endpoint: str | None = None,
    parsers: Sequence[ValueParser] | None = None,
    serializers: Sequence[ValueSerializer] | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
    runtime: Runtime | None = None,
) -> Database:
    """The high-level client; a connection string gets the default parsers and serializers."""
    return Database(
        client(
            url_or_config,
            endpoint=endpoint,
            parsers=parsers,
            serializers=serializers,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_frame_bytes=max_frame_bytes,
            runtime=runtime,
        )
    )
