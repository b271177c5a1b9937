"""The ``postgresql+ppg_edge`` dialect: SQLAlchemy's PostgreSQL dialect over ``ppg_edge.dbapi``.

SQLAlchemy's own PostgreSQL dialect does the SQL (compiler, DDL, reflection
queries); this class only says how our DB-API behaves: pyformat parameters sent
untyped (so binds carry casts, see ``_types``), values parsed by the driver,
``executemany`` pipelined, every cursor streaming (a server-side cursor is just a
cursor that is never drained ahead of the caller), autocommit as an attribute.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final, cast
from weakref import WeakKeyDictionary

from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql import (
    BIT,
    CITEXT,
    INTERVAL,
    JSON,
    JSONB,
    OID,
    REGCLASS,
    REGCONFIG,
)
from sqlalchemy.dialects.postgresql.base import (
    PGCompiler,
    PGDialect,
    PGExecutionContext,
    PGIdentifierPreparer,
)
from sqlalchemy.dialects.postgresql.pg_catalog import INT2VECTOR, OIDVECTOR
from sqlalchemy.engine.interfaces import BindTyping
from sqlalchemy.exc import ArgumentError
from sqlalchemy.util import update_copy

from ppg_edge.core.errors import ConnectionFailedError
from ppg_edge.core.types import ValueParser, oids
from ppg_edge.dialect import _types
from ppg_edge.dialect._connect import connect_arguments

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.engine.interfaces import (
        ConnectArgsType,
        DBAPIConnection,
        DBAPICursor,
        IsolationLevel,
    )

ISOLATION_LEVELS: Final[tuple[IsolationLevel, ...]] = (
    "AUTOCOMMIT",
    "READ COMMITTED",
    "READ UNCOMMITTED",
    "REPEATABLE READ",
    "SERIALIZABLE",
)


class PPGEdgeExecutionContext(PGExecutionContext):
    def create_server_side_cursor(self) -> DBAPICursor:
        """A cursor whose rows are pulled from the stream as SQLAlchemy fetches them.

        Every ppg_edge.dbapi cursor streams (no DECLARE needed), so this is a plain
        cursor; `server_side` marks it as asked for, as asyncpg's and pg8000's do.
        """
        cursor = self._dbapi_connection.cursor()
        cursor.server_side = True  # type: ignore[attr-defined]
        return cursor


class PPGEdgeCompiler(PGCompiler):
    pass


class PPGEdgeIdentifierPreparer(PGIdentifierPreparer):
    pass


class PPGEdgeDialect(PGDialect):
    """``create_engine("postgresql+ppg_edge://USER:PASSWORD@HOST/DB?endpoint=…")``."""

    driver = "ppg_edge"
    supports_statement_cache = True
    default_paramstyle = "pyformat"
    supports_server_side_cursors = True
    supports_sane_multi_rowcount = True
    bind_typing = BindTyping.RENDER_CASTS
    execution_ctx_cls = PPGEdgeExecutionContext
    statement_compiler = PPGEdgeCompiler
    preparer = PPGEdgeIdentifierPreparer

    colspecs = update_copy(
        PGDialect.colspecs,
        {
            sqltypes.String: _types.CastString,
            sqltypes.CHAR: _types.CastChar,
            sqltypes.Integer: _types.CastInteger,
            sqltypes.SmallInteger: _types.CastSmallInteger,
            sqltypes.BigInteger: _types.CastBigInteger,
            sqltypes.Boolean: _types.CastBoolean,
            sqltypes.Date: _types.CastDate,
            sqltypes.Time: _types.CastTime,
            sqltypes.DateTime: _types.CastDateTime,
            sqltypes.Interval: _types.CastInterval,
            INTERVAL: _types.CastInterval,
            sqltypes.LargeBinary: _types.CastByteA,
            BIT: _types.CastBit,
            CITEXT: CITEXT,
            sqltypes.Enum: _types.CastEnum,
            OID: _types.CastOID,
            REGCLASS: _types.CastREGCLASS,
            REGCONFIG: _types.CastREGCONFIG,
            sqltypes.Numeric: _types.DriverNumeric,
            sqltypes.Float: _types.DriverFloat,
            sqltypes.JSON: _types.DriverJSON,
            JSON: _types.DriverJSON,
            JSONB: _types.DriverJSONB,
            sqltypes.JSON.JSONIntIndexType: _types.CastJSONIntIndex,
            sqltypes.JSON.JSONStrIndexType: _types.CastJSONStrIndex,
            sqltypes.ARRAY: _types.DriverARRAY,
            INT2VECTOR: _types.SpaceINT2VECTOR,
            OIDVECTOR: _types.SpaceOIDVECTOR,
        },
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        self._levels: WeakKeyDictionary[Any, IsolationLevel] = WeakKeyDictionary()
        """Isolation level set on each DB-API connection (see `set_isolation_level`)."""
        self._server_level: IsolationLevel | None = None
        """What the server gives a transaction that sets none, once seen (may stay None)."""

    @classmethod
    def import_dbapi(cls) -> ModuleType:
        from ppg_edge import dbapi

        return dbapi

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        return connect_arguments(url)

    def get_isolation_level_values(
        self, dbapi_connection: DBAPIConnection
    ) -> Sequence[IsolationLevel]:
        return ISOLATION_LEVELS

    def set_isolation_level(self, dbapi_connection: DBAPIConnection, level: IsolationLevel) -> None:
        """AUTOCOMMIT is the DB-API's attribute; any other level is applied per transaction.

        The DB-API begins transactions itself (lazily, BEGIN pipelined with the first
        statement) and may replace its session between two of them (one dropped
        with a result still streaming), so a session-wide setting could silently
        vanish: `do_begin` sets the level at the start of each transaction instead.
        SQLAlchemy never changes the level inside a transaction of its own, so one
        open here was begun by a probe (`get_isolation_level()`), and is rolled back:
        the DB-API refuses to switch autocommit inside a transaction.
        """
        if level != "AUTOCOMMIT" and level not in ISOLATION_LEVELS:
            raise ArgumentError(f"unknown isolation level; known: {list(ISOLATION_LEVELS)}")
        if dbapi_connection.in_transaction:
            dbapi_connection.rollback()
        dbapi_connection.autocommit = level == "AUTOCOMMIT"
        self._levels[dbapi_connection] = level

    def get_isolation_level(self, dbapi_connection: DBAPIConnection) -> IsolationLevel:
        """The level set through SQLAlchemy, else the server's (also SQLAlchemy's default)."""
        level = self._levels.get(dbapi_connection)
        if level is not None:
            return level
        (value,) = self._probe(dbapi_connection, "SHOW transaction_isolation")
        self._server_level = cast("IsolationLevel", str(value).upper())
        return self._server_level

    def do_ping(self, dbapi_connection: DBAPIConnection) -> bool:
        """`SELECT 1` through the connection's session: a session the server dropped fails."""
        self._probe(dbapi_connection, "SELECT 1")
        return True

    def _probe(self, dbapi_connection: DBAPIConnection, sql: str) -> Sequence[Any]:
        """One row of `sql`, read to the end; a transaction begun for it is rolled back,
        so the next one can still start with SET TRANSACTION."""
        began = not dbapi_connection.autocommit and not dbapi_connection.in_transaction
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(sql)
            (row,) = cursor.fetchall()
        finally:
            cursor.close()
        if began:
            dbapi_connection.rollback()
        return cast("Sequence[Any]", row)

    def do_begin(self, dbapi_connection: Any) -> None:
        """Set a non-default isolation level as the transaction's first statement."""
        level = self._levels.get(dbapi_connection.dbapi_connection)
        if level is None or level == "AUTOCOMMIT" or level == self._server_level:
            return
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
        finally:
            cursor.close()

    def connect(self, *cargs: Any, **cparams: Any) -> DBAPIConnection:
        """Connect; a `json_deserializer` given to create_engine parses json/jsonb in the driver."""
        if self._json_deserializer is not None:
            parse = self._json_deserializer
            ours = [ValueParser(oids.JSON, parse), ValueParser(oids.JSONB, parse)]
            cparams["parsers"] = [*ours, *cparams.get("parsers", ())]
        return super().connect(*cargs, **cparams)

    def detect_autocommit_setting(self, dbapi_conn: DBAPIConnection) -> bool:
        return bool(dbapi_conn.autocommit)

    def is_disconnect(self, e: Exception, connection: Any, cursor: Any) -> bool:
        """A failed or dropped connection (either transport): the pool replaces it.

        A session left idle in the pool past the server's heartbeat is closed by the
        server (a synchronous session answers pings only while it reads); the error
        on its next use invalidates it, and `pool_pre_ping=True` checks it first.
        """
        return isinstance(e, ConnectionFailedError)


dialect = PPGEdgeDialect
