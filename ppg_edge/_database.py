"""The high-level API: `connect()` -> sql, query, exec, transaction and batch.

Rows come back as dicts keyed by column name (ppg_edge/_statements.py).
Transactions (ppg_edge/_transaction.py) and batches (ppg_edge/_batch.py) run on a
WebSocket session: a transaction's BEGIN is pipelined with its first statement,
and a batch sends BEGIN, every statement and COMMIT in one burst (one round trip).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar, overload

from ppg_edge._batch import BatchBuilder, run_batch
from ppg_edge._client import Client, client
from ppg_edge._closing import AsyncClosing
from ppg_edge._statements import Exec, Query, Statement, Statements
from ppg_edge._transaction import Transaction, TransactionContext, TransactionOptions
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT, ClientConfig
from ppg_edge.core.errors import ValidationError
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES
from ppg_edge.core.types import ValueParser, ValueSerializer
from ppg_edge.rows import RowFactory, dict_row
from ppg_edge.runtime.base import Runtime

T = TypeVar("T")


class Database(Statements, AsyncClosing):
    """The high-level client returned by `connect()`."""

    def __init__(self, client: Client, row_factory: RowFactory = dict_row) -> None:
        super().__init__(client, row_factory)
        self.client = client

    def __repr__(self) -> str:
        return f"Database({self.client.config!r})"

    @overload
    def transaction(
        self,
        *,
        isolation: str | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> TransactionContext: ...

    @overload
    def transaction(
        self,
        callback: Callable[[Transaction], Awaitable[T]],
        *,
        isolation: str | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> Coroutine[Any, Any, T]: ...

    def transaction(
        self,
        callback: Callable[[Transaction], Awaitable[T]] | None = None,
        *,
        isolation: str | None = None,
        read_only: bool | None = None,
        deferrable: bool | None = None,
    ) -> TransactionContext | Coroutine[Any, Any, T]:
        """`async with db.transaction() as tx:` or `await db.transaction(callback)`.

        `isolation` ("read committed", "repeatable read", "serializable"…),
        `read_only` and `deferrable` go into its BEGIN; None leaves the server's
        default. `tx.transaction()` nests a savepoint.
        """
        options = TransactionOptions(isolation, read_only, deferrable)
        if callback is None:
            return TransactionContext(self.client, options, self.row_factory)
        return self._run_transaction(callback, options)

    async def _run_transaction(
        self, callback: Callable[[Transaction], Awaitable[T]], options: TransactionOptions
    ) -> T:
        __tracebackhide__ = True
        async with TransactionContext(self.client, options, self.row_factory) as tx:
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
            return BatchBuilder(self.client, (), self.row_factory)
        for statement in statements:
            if not isinstance(statement, Statement):
                raise ValidationError("batch() takes Query(...) and Exec(...) statements")
        return run_batch(self.client, statements, timeout, self.row_factory)

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
    row_factory: RowFactory = dict_row,
) -> Database:
    """The high-level client; a connection string gets the default parsers and serializers.

    `row_factory` shapes every statement's rows (`ppg_edge.rows`); dicts by default,
    and a statement's own `row_factory=` goes over it.
    """
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
        ),
        row_factory,
    )
