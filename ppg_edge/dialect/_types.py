"""Type adaptations between SQLAlchemy's PostgreSQL types and ppg_edge's values.

Parameters travel untyped (type OID 0, PROTOCOL.md section 2) and PostgreSQL infers
each one's type from where it stands; where it cannot (``SELECT $1``, ``$1 + 1``,
a function argument) the parameter would be ``text``. So, like SQLAlchemy's asyncpg
dialect, bound values of these types are rendered with a cast (``$1::INTEGER``).
Results arrive already parsed (numeric -> Decimal, json -> objects, timestamps ->
datetimes, known arrays -> lists), so result processors only convert where
SQLAlchemy asks for another Python type (``Numeric(asdecimal=False)``, ``Float``
as Decimal, arrays of types the driver leaves as text).
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import types as sqltypes
from sqlalchemy.dialects.postgresql import ARRAY as PGARRAY
from sqlalchemy.dialects.postgresql import (
    BIT,
    BYTEA,
    ENUM,
    INTERVAL,
    JSONB,
    OID,
    REGCLASS,
    REGCONFIG,
)
from sqlalchemy.dialects.postgresql import JSON as PGJSON
from sqlalchemy.dialects.postgresql.pg_catalog import INT2VECTOR, OIDVECTOR, _SpaceVector
from sqlalchemy.dialects.postgresql.types import _DECIMAL_TYPES, _FLOAT_TYPES, _INT_TYPES
from sqlalchemy.engine import processors
from sqlalchemy.engine.interfaces import Dialect

from ppg_edge.core.types.arrays import parse_array
from ppg_edge.core.types.serializers import array_literal

Processor = Callable[[Any], Any] | None


class CastString(sqltypes.String):
    render_bind_cast = True


class CastChar(sqltypes.CHAR):
    render_bind_cast = True


class CastInteger(sqltypes.Integer):
    render_bind_cast = True


class CastSmallInteger(sqltypes.SmallInteger):
    render_bind_cast = True


class CastBigInteger(sqltypes.BigInteger):
    render_bind_cast = True


class CastBoolean(sqltypes.Boolean):
    render_bind_cast = True


class CastDate(sqltypes.Date):
    render_bind_cast = True


class CastTime(sqltypes.Time):
    render_bind_cast = True


class CastDateTime(sqltypes.DateTime):
    render_bind_cast = True


class CastInterval(INTERVAL):
    render_bind_cast = True

    @classmethod
    def adapt_emulated_to_native(  # type: ignore[override]
        cls, interval: sqltypes.Interval, **kw: Any
    ) -> CastInterval:
        """`Interval()` becomes this type, not plain INTERVAL (which would drop the cast)."""
        return cls(precision=interval.second_precision)


class CastByteA(BYTEA):
    render_bind_cast = True


class CastBit(BIT):
    render_bind_cast = True


class CastEnum(ENUM):
    render_bind_cast = True


class CastOID(OID):
    render_bind_cast = True


class CastREGCLASS(REGCLASS):
    render_bind_cast = True


class CastREGCONFIG(REGCONFIG):
    render_bind_cast = True


class CastJSONIntIndex(sqltypes.JSON.JSONIntIndexType):
    __visit_name__ = "json_int_index"
    render_bind_cast = True


class CastJSONStrIndex(sqltypes.JSON.JSONStrIndexType):
    __visit_name__ = "json_str_index"
    render_bind_cast = True


class SpaceINT2VECTOR(_SpaceVector, INT2VECTOR):
    """int2vector arrives as its text, `1 2 3` (the driver has no parser for it)."""


class SpaceOIDVECTOR(_SpaceVector, OIDVECTOR):
    """oidvector, as int2vector."""


class DriverJSON(PGJSON):
    """json: the driver parses results itself (with the dialect's deserializer, if any)."""

    def result_processor(self, dialect: Dialect, coltype: object) -> Processor:
        return None


class DriverJSONB(JSONB):
    """jsonb: as json."""

    def result_processor(self, dialect: Dialect, coltype: object) -> Processor:
        return None


class DriverNumeric(sqltypes.Numeric):  # type: ignore[type-arg]
    """numeric comes back as Decimal, float4/float8 as float, ints as int.

    Only a mismatch with what the column type asks for needs converting.
    """

    render_bind_cast = True

    def bind_processor(self, dialect: Dialect) -> Processor:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> Processor:
        if self.asdecimal:
            if coltype in _FLOAT_TYPES:
                scale = self._effective_decimal_return_scale
                return processors.to_decimal_processor_factory(decimal.Decimal, scale)
            return None
        if coltype in _DECIMAL_TYPES or coltype in _INT_TYPES:
            return processors.to_float
        return None


class DriverFloat(DriverNumeric):
    __visit_name__ = "float"


class DriverARRAY(PGARRAY):  # type: ignore[type-arg]
    """Arrays go out as PostgreSQL array literals (a list would be sent as JSON).

    The driver parses arrays of the types it knows into lists; any other array (of
    enums, say) comes back as its text literal and is split here first.
    """

    render_bind_cast = True

    def bind_processor(self, dialect: Dialect) -> Processor:
        inner = super().bind_processor(dialect)

        def process(value: Sequence[Any] | None) -> str | None:
            if value is None:
                return None
            items = inner(value) if inner is not None else value
            return array_literal(items)

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        inner = super().result_processor(dialect, coltype)

        def process(value: Any) -> Any:
            if isinstance(value, str):
                value = parse_array(value)
            return inner(value)

        return process
