"""ppg_edge: a pure-Python driver for the Prisma Postgres serverless protocol.

`connect()` gives the high-level client (sql, query, exec, transaction, batch);
`client()` the low-level one (query, exec, new_session). Runtimes are chosen
lazily, so importing this package loads no transport code.
"""

from ppg_edge.client import Client, client, default_client_config
from ppg_edge.core.config import ClientConfig
from ppg_edge.core.errors import (
    ConnectTimeoutError,
    DatabaseError,
    DataError,
    GenericError,
    HttpResponseError,
    ProtocolError,
    QueryTimeoutError,
    ValidationError,
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
from ppg_edge.core.types import TypeRegistry, ValueParser, ValueSerializer
from ppg_edge.database import (
    BatchBuilder,
    Database,
    Exec,
    Query,
    Transaction,
    TransactionContext,
    connect,
)
from ppg_edge.results import CollectableIterator, QueryResult, Row, Rows
from ppg_edge.session import Session

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
    "DataError",
    "Database",
    "DatabaseError",
    "Exec",
    "GenericError",
    "HttpResponseError",
    "ProtocolError",
    "Query",
    "QueryResult",
    "QueryTimeoutError",
    "Row",
    "Rows",
    "Session",
    "Transaction",
    "TransactionContext",
    "TypeRegistry",
    "ValidationError",
    "ValueParser",
    "ValueSerializer",
    "WebSocketError",
    "bounded_byte_stream_parameter",
    "byte_array_parameter",
    "client",
    "connect",
    "default_client_config",
]
