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
from typing import TYPE_CHECKING, Any, Final

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
from sqlalchemy.util import update_copy

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
        """A cursor whose rows are pulled from the stream as SQLAlchemy fetches them."""
        return self._dbapi_connection.cursor()


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
        if level == "AUTOCOMMIT":
            dbapi_connection.autocommit = True
            return
        dbapi_connection.autocommit = False
        super().set_isolation_level(dbapi_connection, level)  # type: ignore[no-untyped-call]

    def detect_autocommit_setting(self, dbapi_conn: DBAPIConnection) -> bool:
        return bool(dbapi_conn.autocommit)

    def is_disconnect(self, e: Exception, connection: Any, cursor: Any) -> bool:
        lost = getattr(self.loaded_dbapi, "ConnectionLostError", None)
        return lost is not None and isinstance(e, lost)


dialect = PPGEdgeDialect
