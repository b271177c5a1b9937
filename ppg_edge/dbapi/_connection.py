"""PEP 249's Connection on the synchronous face: HTTP statements or a session's transaction.

With `autocommit` on, every statement is one HTTP request (stateless, each its
own transaction). Off (PEP 249's default), the first statement opens a WebSocket
session (kept for the connection's life) with BEGIN pipelined in front of it, so
starting a transaction costs no extra round trip; `commit()` / `rollback()` end
it and the next statement begins the next one. `executemany` always pipelines
its statements on the session: one round trip per PIPELINE_WINDOW statements.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from types import TracebackType
from typing import Any
from weakref import WeakSet

from ppg_edge._sync.client import SyncClient
from ppg_edge._sync.results import SyncQueryResult
from ppg_edge._sync.session import SyncSession
from ppg_edge._sync.transaction import _TransactionRunner
from ppg_edge.core import errors
from ppg_edge.core.errors import InterfaceError, ProgrammingError
from ppg_edge.core.protocol import EXEC_KIND
from ppg_edge.core.session import PendingStatement
from ppg_edge.dbapi._cursor import Cursor
from ppg_edge.rows import tuple_row


class Connection:
    """A PEP 249 connection; `ppg_edge.dbapi.connect()` makes one."""

    Warning = errors.Warning
    Error = errors.Error
    InterfaceError = errors.InterfaceError
    DatabaseError = errors.DatabaseError
    DataError = errors.DataError
    OperationalError = errors.OperationalError
    IntegrityError = errors.IntegrityError
    InternalError = errors.InternalError
    ProgrammingError = errors.ProgrammingError
    NotSupportedError = errors.NotSupportedError

    def __init__(self, client: SyncClient, *, autocommit: bool = False) -> None:
        self.client = client
        self._autocommit = bool(autocommit)
        self._session: SyncSession | None = None
        self._transaction: _TransactionRunner | None = None
        self._cursors: WeakSet[Cursor] = WeakSet()
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<ppg_edge.dbapi.Connection {state} {self.client.config!r}>"

    @property
    def autocommit(self) -> bool:
        """True: each statement over HTTP. False: statements in a session's transaction."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._check_open()
        if self._transaction is not None:
            raise ProgrammingError("autocommit cannot change inside a transaction: commit first")
        self._autocommit = bool(value)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction was begun and not yet committed or rolled back."""
        return self._transaction is not None

    def cursor(self) -> Cursor:
        self._check_open()
        cursor = Cursor(self)
        self._cursors.add(cursor)
        return cursor

    def commit(self) -> None:
        """Commit the transaction, if one was begun.

        A transaction that already failed is not reported as committed: its
        InFailedSqlTransaction error (SQLSTATE 25P02) is raised and it is rolled back.
        """
        __tracebackhide__ = True
        self._check_open()
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        try:
            transaction.commit()
        finally:
            self._keep_if_usable(transaction.session)

    def rollback(self) -> None:
        """Roll the transaction back, if one was begun.

        If a statement of it is still running or streaming, a ROLLBACK would wait
        behind it, so the session is closed instead, which rolls back at once (and
        ends those results).
        """
        __tracebackhide__ = True
        self._check_open()
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        if transaction.session.pending:
            self._drop_session()
            return
        transaction.rollback()
        self._keep_if_usable(transaction.session)

    def close(self) -> None:
        """End every cursor's result, roll back an open transaction, release the client.

        Closing twice is an InterfaceError, as PEP 249 has it for any use of a closed
        connection (and its compliance suite checks).
        """
        self._check_open()
        self._closed = True
        for cursor in list(self._cursors):
            with contextlib.suppress(errors.Error):
                cursor._discard()
        self._transaction = None
        self._drop_session()
        self.client.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Commit on success, roll back on an exception, then close (as psycopg 3)."""
        if self._closed:
            return
        try:
            if exc_type is None:
                self.commit()
            else:
                self.rollback()
        finally:
            self.close()

    # What cursors run statements through.

    def _check_open(self) -> None:
        if self._closed:
            raise InterfaceError("the connection is closed")

    def _query(self, sql: str, values: Sequence[Any]) -> SyncQueryResult:
        __tracebackhide__ = True
        if self._autocommit:
            return self.client.query(sql, *values, row_factory=tuple_row)
        return self._in_transaction().query(sql, *values, row_factory=tuple_row)

    def _exec(self, sql: str, values: Sequence[Any]) -> int:
        __tracebackhide__ = True
        if self._autocommit:
            return self.client.exec(sql, *values)
        return self._in_transaction().exec(sql, *values)

    def _exec_many(self, sql: str, batches: Sequence[Sequence[Any]]) -> list[int]:
        """Pipeline one exec per parameter set; in autocommit mode inside BEGIN ... COMMIT."""
        __tracebackhide__ = True
        statements = [(sql, values) for values in batches]
        if self._autocommit:
            session = self._open_session()
            try:
                counts = _pipeline(session, [("BEGIN", ()), *statements, ("COMMIT", ())])
            except BaseException:
                self._drop_session()  # a later window's COMMIT was never sent: roll back
                raise
            return counts[1:-1]
        return _pipeline(self._in_transaction().session, statements)

    def _in_transaction(self) -> _TransactionRunner:
        """The current transaction, begun if need be (its BEGIN goes out with the next
        statement, unanswered, so beginning costs no round trip)."""
        if self._transaction is None:
            session = self._open_session()
            begin = session.submit(session.prepare(EXEC_KIND, "BEGIN", ()))
            self._transaction = _TransactionRunner(session, begin)
        return self._transaction

    def _open_session(self) -> SyncSession:
        """The connection's session, opened on first need and again if it was lost
        between transactions."""
        __tracebackhide__ = True
        if self._session is not None and not self._session.active:
            self._drop_session()
        if self._session is None:
            self._session = self.client.new_session()
        return self._session

    def _keep_if_usable(self, session: SyncSession) -> None:
        if not session.active or session.pending:
            self._drop_session()

    def _drop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()


PIPELINE_WINDOW = 500
"""Statements in flight at once in `executemany`: each window is one round trip.

The synchronous session writes a window whole before it reads answers, so the
answers to a window must fit in the socket buffers and the server's output
buffer meanwhile, or both sides wait on each other (measured: 50,000 at once
hung; 500 execs answer in well under 200 KB). 5,000 rows are 10 round trips.
"""


def _pipeline(session: SyncSession, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[int]:
    """Send statements a window at a time, each window before reading any of its answers.

    On the first error the answers still unread are abandoned and no later window
    is sent (inside a transaction PostgreSQL would fail them anyway).
    """
    __tracebackhide__ = True
    deadline = session.deadline(None)
    counts: list[int] = []
    for start in range(0, len(statements), PIPELINE_WINDOW):
        window = statements[start : start + PIPELINE_WINDOW]
        pending: list[PendingStatement] = [
            session.submit(session.prepare(EXEC_KIND, sql, values)) for sql, values in window
        ]
        done = 0
        try:
            for statement in pending:
                counts.append(session.exec_result(statement, deadline))
                done += 1
        except BaseException:
            for statement in pending[done + 1 :]:
                session.abandon(statement)
            raise
    return counts
