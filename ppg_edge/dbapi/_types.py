"""PEP 249's type constructors and type objects.

A column's `type_code` in `cursor.description` is its PostgreSQL type OID (what
the protocol's row description carries); each type object compares equal to the
OIDs of its kind, so `description[0][1] == dbapi.NUMBER` works as PEP 249 asks.
Parameters need no constructor: the driver's serializers take the plain Python
values these return (dates, times, datetimes, bytes).
"""

from __future__ import annotations

import datetime
import time

from ppg_edge.core.types import oids

Date = datetime.date
Time = datetime.time
Timestamp = datetime.datetime


def DateFromTicks(ticks: float) -> datetime.date:
    """The local date of a POSIX timestamp."""
    return Date(*time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> datetime.time:
    """The local time of day of a POSIX timestamp."""
    return Time(*time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> datetime.datetime:
    """The local date and time of a POSIX timestamp."""
    return Timestamp(*time.localtime(ticks)[:6])


def Binary(data: bytes | bytearray | memoryview) -> bytes:
    """Bytes for a bytea parameter (bytes are sent as binary parameters)."""
    return bytes(data)


class TypeObject:
    """Equal to every type OID of one kind (PEP 249's type objects)."""

    def __init__(self, name: str, *type_codes: int) -> None:
        self.name = name
        self.type_codes = frozenset(type_codes)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TypeObject):
            return self.type_codes == other.type_codes
        return other in self.type_codes

    def __hash__(self) -> int:
        return hash(self.type_codes)

    def __repr__(self) -> str:
        return f"<dbapi type {self.name}: OIDs {sorted(self.type_codes)}>"


STRING = TypeObject("STRING", oids.TEXT, oids.VARCHAR, oids.BPCHAR, oids.CHAR, oids.NAME)
BINARY = TypeObject("BINARY", oids.BYTEA)
NUMBER = TypeObject(
    "NUMBER", oids.INT2, oids.INT4, oids.INT8, oids.FLOAT4, oids.FLOAT8, oids.NUMERIC, oids.OID
)
DATETIME = TypeObject(
    "DATETIME",
    oids.DATE,
    oids.TIME,
    oids.TIMETZ,
    oids.TIMESTAMP,
    oids.TIMESTAMPTZ,
    oids.INTERVAL,
)
ROWID = TypeObject("ROWID", oids.OID)
