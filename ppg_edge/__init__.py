"""ppg_edge: a pure-Python driver for the Prisma Postgres serverless protocol.

`connect()` gives the high-level client (sql, query, exec, transaction, batch);
`client()` the low-level one (query, exec, new_session); `connect_sync()` and
`client_sync()` are their blocking twins (`SyncDatabase`, `SyncClient`). Every public name is
imported on first use (module `__getattr__`, PEP 562), and runtimes are chosen
lazily too, so `import ppg_edge` loads no asyncio, transport, decimal or uuid
code: a Worker or notebook pays only for what it touches.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ppg_edge._batch import BatchBuilder
    from ppg_edge._client import Client, client, default_client_config
    from ppg_edge._database import Database, connect
    from ppg_edge._results import CollectableIterator, QueryResult, Row, Rows
    from ppg_edge._session import Session
    from ppg_edge._statements import Exec, Query
    from ppg_edge._sync.batch import SyncBatchBuilder
    from ppg_edge._sync.client import SyncClient
    from ppg_edge._sync.client import client as client_sync
    from ppg_edge._sync.database import SyncDatabase
    from ppg_edge._sync.database import connect as connect_sync
    from ppg_edge._sync.results import SyncCollectableIterator, SyncQueryResult
    from ppg_edge._sync.session import SyncSession
    from ppg_edge._sync.transaction import (
        SyncSavepointContext,
        SyncTransaction,
        SyncTransactionContext,
    )
    from ppg_edge._transaction import (
        SavepointContext,
        Transaction,
        TransactionContext,
        TransactionOptions,
    )
    from ppg_edge.core.config import ClientConfig
    from ppg_edge.core.errors import (
        ConnectionFailedError,
        ConnectTimeoutError,
        DatabaseError,
        DataError,
        Error,
        GenericError,
        HttpResponseError,
        IntegrityError,
        InterfaceError,
        InternalError,
        NotSupportedError,
        OperationalError,
        ProgrammingError,
        ProtocolError,
        QueryTimeoutError,
        UnrepresentableValueError,
        ValidationError,
        Warning,
        WebSocketError,
    )
    from ppg_edge.core.frames import Column
    from ppg_edge.core.parameters import (
        BINARY,
        TEXT,
        BoundedByteStreamParameter,
        ByteArrayParameter,
        bounded_byte_stream_parameter,
        byte_array_parameter,
    )
    from ppg_edge.core.types import (
        TypeRegistry,
        ValueParser,
        ValueSerializer,
        array_literal,
        array_parser,
    )

_EXPORTS = {
    "Client": "ppg_edge._client",
    "client": "ppg_edge._client",
    "default_client_config": "ppg_edge._client",
    "ClientConfig": "ppg_edge.core.config",
    "ConnectTimeoutError": "ppg_edge.core.errors",
    "ConnectionFailedError": "ppg_edge.core.errors",
    "DataError": "ppg_edge.core.errors",
    "DatabaseError": "ppg_edge.core.errors",
    "Error": "ppg_edge.core.errors",
    "GenericError": "ppg_edge.core.errors",
    "HttpResponseError": "ppg_edge.core.errors",
    "IntegrityError": "ppg_edge.core.errors",
    "InterfaceError": "ppg_edge.core.errors",
    "InternalError": "ppg_edge.core.errors",
    "NotSupportedError": "ppg_edge.core.errors",
    "OperationalError": "ppg_edge.core.errors",
    "ProgrammingError": "ppg_edge.core.errors",
    "ProtocolError": "ppg_edge.core.errors",
    "QueryTimeoutError": "ppg_edge.core.errors",
    "UnrepresentableValueError": "ppg_edge.core.errors",
    "ValidationError": "ppg_edge.core.errors",
    "Warning": "ppg_edge.core.errors",
    "WebSocketError": "ppg_edge.core.errors",
    "Column": "ppg_edge.core.frames",
    "BINARY": "ppg_edge.core.parameters",
    "TEXT": "ppg_edge.core.parameters",
    "BoundedByteStreamParameter": "ppg_edge.core.parameters",
    "ByteArrayParameter": "ppg_edge.core.parameters",
    "bounded_byte_stream_parameter": "ppg_edge.core.parameters",
    "byte_array_parameter": "ppg_edge.core.parameters",
    "TypeRegistry": "ppg_edge.core.types",
    "ValueParser": "ppg_edge.core.types",
    "ValueSerializer": "ppg_edge.core.types",
    "array_literal": "ppg_edge.core.types",
    "array_parser": "ppg_edge.core.types",
    "BatchBuilder": "ppg_edge._batch",
    "Database": "ppg_edge._database",
    "Exec": "ppg_edge._statements",
    "Query": "ppg_edge._statements",
    "SavepointContext": "ppg_edge._transaction",
    "Transaction": "ppg_edge._transaction",
    "TransactionContext": "ppg_edge._transaction",
    "TransactionOptions": "ppg_edge._transaction",
    "connect": "ppg_edge._database",
    "CollectableIterator": "ppg_edge._results",
    "QueryResult": "ppg_edge._results",
    "Row": "ppg_edge._results",
    "Rows": "ppg_edge._results",
    "Session": "ppg_edge._session",
    "SyncBatchBuilder": "ppg_edge._sync.batch",
    "SyncClient": "ppg_edge._sync.client",
    "SyncCollectableIterator": "ppg_edge._sync.results",
    "SyncDatabase": "ppg_edge._sync.database",
    "SyncQueryResult": "ppg_edge._sync.results",
    "SyncSession": "ppg_edge._sync.session",
    "SyncSavepointContext": "ppg_edge._sync.transaction",
    "SyncTransaction": "ppg_edge._sync.transaction",
    "SyncTransactionContext": "ppg_edge._sync.transaction",
    "client_sync": "ppg_edge._sync.client:client",
    "connect_sync": "ppg_edge._sync.database:connect",
}
"""Public name -> the module that defines it (`module:name` where it is named otherwise)."""


def __getattr__(name: str) -> Any:
    """Import a public name's module on first access, then keep the name here."""
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'ppg_edge' has no attribute {name!r}")
    module, _, defined = where.partition(":")
    value = getattr(import_module(module), defined or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "BINARY",
    "TEXT",
    "BatchBuilder",
    "BoundedByteStreamParameter",
    "ByteArrayParameter",
    "Client",
    "ClientConfig",
    "CollectableIterator",
    "Column",
    "ConnectTimeoutError",
    "ConnectionFailedError",
    "DataError",
    "Database",
    "DatabaseError",
    "Error",
    "Exec",
    "GenericError",
    "HttpResponseError",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "ProtocolError",
    "Query",
    "QueryResult",
    "QueryTimeoutError",
    "Row",
    "Rows",
    "SavepointContext",
    "Session",
    "SyncBatchBuilder",
    "SyncClient",
    "SyncCollectableIterator",
    "SyncDatabase",
    "SyncQueryResult",
    "SyncSavepointContext",
    "SyncSession",
    "SyncTransaction",
    "SyncTransactionContext",
    "Transaction",
    "TransactionContext",
    "TransactionOptions",
    "TypeRegistry",
    "UnrepresentableValueError",
    "ValidationError",
    "ValueParser",
    "ValueSerializer",
    "Warning",
    "WebSocketError",
    "array_literal",
    "array_parser",
    "bounded_byte_stream_parameter",
    "byte_array_parameter",
    "client",
    "client_sync",
    "connect",
    "connect_sync",
    "default_client_config",
]
