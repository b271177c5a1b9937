"""Default parsers: PostgreSQL text output -> Python values, by type OID.

Choices, as in psycopg: int types -> int, float4/float8 -> float (float4 gives the
float of PostgreSQL's shortest float4 text, e.g. 1.0039062), numeric -> Decimal,
json/jsonb -> json.loads, bytea -> bytes (base64 or `\\x` hex), text types -> str.
Date/time rules are in `temporal`. Arrays of any dimension become nested lists;
an array parser is built from its element parser, so overriding a scalar OID does
not change its array type: register `ValueParser(ARRAY_OID, array_parser(parse))`
as well.
"""

from __future__ import annotations

import binascii
import json
from functools import partial
from typing import TYPE_CHECKING, Any

from ppg_edge.core.types import oids
from ppg_edge.core.types.arrays import parse_array
from ppg_edge.core.types.model import Parse, ValueParser
from ppg_edge.core.types.temporal import (
    parse_date,
    parse_interval,
    parse_time,
    parse_timestamp,
    parse_timestamptz,
    parse_timetz,
)

if TYPE_CHECKING:
    from decimal import Decimal
    from uuid import UUID

_loaded: dict[str, Any] = {}
"""`decimal.Decimal` and `uuid.UUID`, imported by the first value that needs them.

Both modules cost milliseconds to import and most results hold neither type, so
`import ppg_edge` leaves them out (cold start on Workers and in notebooks).
"""


def parse_text(text: str) -> str:
    """Text types come back as they are; the registry skips calling this one."""
    return text


parse_bool: Parse = {"t": True, "f": False}.__getitem__
"""`t`/`f` -> True/False (a bound dict lookup: the cheapest call there is)."""


def parse_bytea(text: str) -> bytes:
    """Base64 (what the protocol sends for scalars) or `\\x…` hex -> bytes."""
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    return binascii.a2b_base64(text, strict_mode=True)


def parse_numeric(text: str) -> Decimal:
    """numeric -> Decimal (exact, NaN and infinities included)."""
    decimal = _loaded.get("Decimal")
    if decimal is None:
        from decimal import Decimal

        decimal = _loaded["Decimal"] = Decimal
    result: Decimal = decimal(text)
    return result


def parse_uuid(text: str) -> UUID:
    """uuid -> uuid.UUID."""
    uuid = _loaded.get("UUID")
    if uuid is None:
        from uuid import UUID

        uuid = _loaded["UUID"] = UUID
    result: UUID = uuid(text)
    return result


SCALARS: dict[int, Parse] = {
    oids.BOOL: parse_bool,
    oids.BYTEA: parse_bytea,
    oids.CHAR: parse_text,
    oids.NAME: parse_text,
    oids.INT8: int,
    oids.INT2: int,
    oids.INT4: int,
    oids.TEXT: parse_text,
    oids.OID: int,
    oids.JSON: json.loads,
    oids.FLOAT4: float,
    oids.FLOAT8: float,
    oids.BPCHAR: parse_text,
    oids.VARCHAR: parse_text,
    oids.DATE: parse_date,
    oids.TIME: parse_time,
    oids.TIMESTAMP: parse_timestamp,
    oids.TIMESTAMPTZ: parse_timestamptz,
    oids.INTERVAL: parse_interval,
    oids.TIMETZ: parse_timetz,
    oids.NUMERIC: parse_numeric,
    oids.UUID: parse_uuid,
    oids.JSONB: json.loads,
}
"""Scalar type OID -> parser."""


def array_parser(element: Parse) -> Parse:
    """A parser for arrays (any dimension) whose elements `element` parses."""
    item = None if element is parse_text else element
    parse: Parse = partial(parse_array, element=item)
    return parse


def default_parsers() -> list[ValueParser]:
    """Fresh ValueParsers for every scalar and array type parsed by default."""
    parsers = [ValueParser(oid, parse) for oid, parse in SCALARS.items()]
    arrays = [ValueParser(oid, array_parser(SCALARS[elem])) for oid, elem in oids.ARRAY_OF.items()]
    return parsers + arrays
