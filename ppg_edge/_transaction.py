"""Transactions on a WebSocket session: `db.transaction()`, its options, and savepoints.

A transaction's BEGIN is pipelined with its first statement; COMMIT goes with a
probe that refuses to report success for a failed transaction. A transaction
nested in another is a savepoint of it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ppg_edge._results import QueryResult
from ppg_edge._session import Session
from ppg_edge._statements import Statements
from ppg_edge.core.errors import GenericError, ValidationError
from ppg_edge.core.protocol import EXEC_KIND, QUERY_KIND
from ppg_edge.core.session import PendingStatement
from ppg_edge.rows import RowFactory, dict_row

if TYPE_CHECKING:
    from ppg_edge._client import Client

T = TypeVar("T")

ISOLATION_LEVELS = ("read uncommitted", "read committed", "repeatable read", "serializable")
"""PostgreSQL's isolation levels, as `isolation=` takes them (any case, `_` for a space)."""


@dataclass(frozen=True)
class TransactionOptions:
    """How a transaction begins: `isolation`, `read_only`, `deferrable` (None: the server's)."""

    isolation: str | None = None
    read_only: bool | None = None
    deferrable: bool | None = None

    def __post_init__(self) -> None:
        if self.isolation is not None:
            level = str(self.isolation).strip().lower().replace("_", " ")
            if level not in ISOLATION_LEVELS:
                raise ValidationError(
                    f"isolation must be one of {', '.join(ISOLATION_LEVELS)}; "
                    f"got {self.isolation!r}"
                )
            object.__setattr__(self, "isolation", level)
        for name in ("read_only", "deferrable"):
            if getattr(self, name) not in (None, True, False):
                raise ValidationError(f"{name} must be True, False or None")

    @property
    def begin(self) -> str:
        """The BEGIN statement with these modes."""
        modes = []
        if self.isolation is not None:
            modes.append(f"ISOLATION LEVEL {self.isolation.upper()}")
        if self.read_only is not None:
            modes.append("READ ONLY" if self.read_only else "READ WRITE")
        if self.deferrable is not None:
            modes.append("DEFERRABLE" if self.deferrable else "NOT DEFERRABLE")
        return "BEGIN " + ", ".join(modes) if modes else "BEGIN"


class _TransactionRunner:
    """Runs statements on a session whose BEGIN was sent, unanswered, just before them."""

    def __init__(
        self, session: Session, begin: PendingStatement, row_factory: RowFactory = dict_row
    ) -> None:
        self.session = session
        self.row_factory = row_factory
        """How the transaction's statements build rows unless one says otherwise."""
        self._begin: PendingStatement | None = begin
        self.savepoints = 0
        """Savepoints made so far; each nested transaction's name is numbered by it."""

    async def _begun(self) -> None:
        __tracebackhide__ = True
        begin, self._begin = self._begin, None
        if begin is not None:
            await self.session.exec_result(begin, self.session.deadline(None))

    async def query(
        self,
        sql: str,
        *params: Any,
        timeout: float | None = None,
        row_factory: RowFactory | None = None,
    ) -> QueryResult:
        __tracebackhide__ = True
        deadline = self.session.deadline(timeout)
        pending = self.session.submit(await self.session.prepare(QUERY_KIND, sql, params))
        await self._after_begin(pending)
        factory = self.row_factory if row_factory is None else row_factory
        return await self.session.query_result(pending, deadline, factory)

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
    """The statements of one transaction (`tx.sql`, `tx.query`, `tx.exec`), on one session.

    `tx.transaction()` nests a savepoint: `async with tx.transaction() as inner:`
    releases it on success and rolls back to it on an exception, which then
    goes on up; the outer transaction carries on if the exception is caught.
    """

    def __init__(self, runner: _TransactionRunner) -> None:
        super().__init__(runner, runner.row_factory)
        self.session = runner.session
        self._transaction_runner = runner

    @overload
    def transaction(self) -> SavepointContext: ...

    @overload
    def transaction(
        self, callback: Callable[[Transaction], Awaitable[T]]
    ) -> Coroutine[Any, Any, T]: ...

    def transaction(
        self, callback: Callable[[Transaction], Awaitable[T]] | None = None
    ) -> SavepointContext | Coroutine[Any, Any, T]:
        """A savepoint: `async with tx.transaction() as inner:` or `await tx.transaction(fn)`."""
        if callback is None:
            return SavepointContext(self._transaction_runner)
        return self._run_savepoint(callback)

    async def _run_savepoint(self, callback: Callable[[Transaction], Awaitable[T]]) -> T:
        __tracebackhide__ = True
        async with SavepointContext(self._transaction_runner) as inner:
            return await callback(inner)


class SavepointContext:
    """`async with tx.transaction() as inner:`: SAVEPOINT, then RELEASE or ROLLBACK TO it."""

    def __init__(self, runner: _TransactionRunner) -> None:
        self._runner = runner
        self._name: str | None = None

    async def __aenter__(self) -> Transaction:
        __tracebackhide__ = True
        runner = self._runner
        runner.savepoints += 1
        name = f"ppg_edge_savepoint_{runner.savepoints}"
        await runner.exec(f"SAVEPOINT {name}")
        self._name = name
        return Transaction(runner)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        name, self._name = self._name, None
        if name is None:
            return
        if exc_type is None:
            await self._runner.exec(f"RELEASE SAVEPOINT {name}")
        elif issubclass(exc_type, Exception) and not self._runner.session.pending:
            # As for ROLLBACK: never hide the exception that is on its way up.
            with contextlib.suppress(GenericError):
                await self._runner.exec(f"ROLLBACK TO SAVEPOINT {name}")
                await self._runner.exec(f"RELEASE SAVEPOINT {name}")
        # Anything else (cancellation, a statement still running): the outer
        # transaction's end closes the session, which rolls everything back.


class TransactionContext:
    """`async with db.transaction() as tx:` commits on success, rolls back on an exception."""

    def __init__(
        self,
        client: Client,
        options: TransactionOptions | None = None,
        row_factory: RowFactory = dict_row,
    ) -> None:
        self._client = client
        self._row_factory = row_factory
        self._options = options or TransactionOptions()
        self._runner: _TransactionRunner | None = None

    async def __aenter__(self) -> Transaction:
        __tracebackhide__ = True
        session = await self._client.new_session()
        try:
            begin = session.submit(await session.prepare(EXEC_KIND, self._options.begin, ()))
        except BaseException:
            await session.close()
            raise
        self._runner = _TransactionRunner(session, begin, self._row_factory)
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
