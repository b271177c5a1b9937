"""`db.batch(...)`: statements run atomically in one round trip on a session of their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ppg_edge._concurrency import Deadline
from ppg_edge._session import Session
from ppg_edge._statements import Exec, Query, Statement, _collect
from ppg_edge.core.protocol import EXEC_KIND, QUERY_KIND
from ppg_edge.rows import RowFactory, dict_row

if TYPE_CHECKING:
    from ppg_edge._client import Client


async def _batch_on(
    session: Session, statements: Sequence[Statement], deadline: Deadline, row_factory: RowFactory
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
            rows = await session.query_result(answer, deadline, row_factory)
            results.append(await _collect(rows))
        else:
            results.append(await session.exec_result(answer, deadline))
    await session.exec_result(pending[-1], deadline)
    return results


class BatchBuilder:
    """`db.batch().query(...).exec(...).run()`: collects statements, then runs them at once."""

    def __init__(
        self,
        client: Client,
        statements: Sequence[Statement] = (),
        row_factory: RowFactory = dict_row,
    ) -> None:
        self._client = client
        self._row_factory = row_factory
        self._statements = tuple(statements)

    def query(self, sql: Any, *params: Any) -> BatchBuilder:
        return BatchBuilder(
            self._client, (*self._statements, Query(sql, *params)), self._row_factory
        )

    def exec(self, sql: Any, *params: Any) -> BatchBuilder:
        return BatchBuilder(
            self._client, (*self._statements, Exec(sql, *params)), self._row_factory
        )

    async def run(self, *, timeout: float | None = None) -> list[Any]:
        __tracebackhide__ = True
        return await run_batch(self._client, self._statements, timeout, self._row_factory)


async def run_batch(
    client: Client,
    statements: Sequence[Statement],
    timeout: float | None,
    row_factory: RowFactory = dict_row,
) -> list[Any]:
    """Run the statements atomically on a session of their own, closed afterwards."""
    __tracebackhide__ = True
    if not statements:
        return []
    session = await client.new_session()
    try:
        results = await _batch_on(session, statements, session.deadline(timeout), row_factory)
    except BaseException:
        await session.close()
        raise
    client.close_later(session)
    return results
