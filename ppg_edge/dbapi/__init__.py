"""PEP 249 (DB-API 2.0) on the synchronous face: what pandas, SQLAlchemy and JupySQL speak.

    import ppg_edge.dbapi

    conn = ppg_edge.dbapi.connect("postgres://USER:PASSWORD@HOST/DB", endpoint=None)
    cur = conn.cursor()
    cur.execute("SELECT id, name FROM users WHERE id < %s", (10,))
    cur.fetchmany(100)             # streamed: never more than one network read held
    conn.commit()

`paramstyle` is "pyformat", as psycopg's: `%(name)s` with a mapping, or `%s` with
a sequence; `%%` is a literal `%`. The SQL is scanned, so placeholders in string
literals, quoted identifiers, comments and dollar-quoted bodies stay text.
Without parameters the SQL goes as written. Rows are tuples; `description`'s
type codes are PostgreSQL type OIDs, equal to the type objects below.
"""

from __future__ import annotations

from typing import Any

from ppg_edge._sync.client import client
from ppg_edge.core.config import ClientConfig
from ppg_edge.core.errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)
from ppg_edge.dbapi._connection import Connection
from ppg_edge.dbapi._cursor import ColumnDescription, Cursor
from ppg_edge.dbapi._types import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
    TypeObject,
)

apilevel = "2.0"
threadsafety = 1
"""Threads may share the module, not connections (a connection is one session)."""
paramstyle = "pyformat"


def connect(
    url: str | ClientConfig,
    *,
    endpoint: str | None = None,
    autocommit: bool = False,
    **options: Any,
) -> Connection:
    """A DB-API connection. `options` are `ppg_edge.client_sync`'s (parsers, serializers,
    timeout, connect_timeout, max_frame_bytes, runtime). Nothing is sent until the
    first statement, as with every client of the driver."""
    return Connection(client(url, endpoint=endpoint, **options), autocommit=autocommit)


__all__ = [
    "BINARY",
    "DATETIME",
    "NUMBER",
    "ROWID",
    "STRING",
    "Binary",
    "ColumnDescription",
    "Connection",
    "Cursor",
    "DataError",
    "DatabaseError",
    "Date",
    "DateFromTicks",
    "Error",
    "IntegrityError",
    "InterfaceError",
    "InternalError",
    "NotSupportedError",
    "OperationalError",
    "ProgrammingError",
    "Time",
    "TimeFromTicks",
    "Timestamp",
    "TimestampFromTicks",
    "TypeObject",
    "Warning",
    "apilevel",
    "connect",
    "paramstyle",
    "threadsafety",
]
