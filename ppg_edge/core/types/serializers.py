"""Default serializers: Python values -> wire values (text, or binary parameters).

Order matters: wire parameters pass through untouched, bool is tried before int,
datetime before date. Lists and dicts become compact JSON text; to send a
PostgreSQL array instead, pass `array_literal(values)` (a text `{…}` literal) and
cast it in SQL (`$1::int[]`), or send JSON and unpack it with `json_array_elements`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from ppg_edge.core.errors import ValidationError
from ppg_edge.core.parameters import (
    BINARY,
    BoundedByteStreamParameter,
    ByteArrayParameter,
    WireValue,
)
from ppg_edge.core.types.arrays import render_array
from ppg_edge.core.types.model import ValueSerializer

if TYPE_CHECKING:
    from decimal import Decimal

_FLOAT_WORDS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}
_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def serialize_bool(value: bool) -> str:
    """True/False -> `t`/`f`."""
    return "t" if value else "f"


def serialize_int(value: int) -> str:
    """Decimal digits, also for int subclasses such as IntEnum."""
    return int.__repr__(value)


def serialize_float(value: float) -> str:
    """Shortest round-tripping repr, with PostgreSQL's spelling of NaN and infinities."""
    text = float.__repr__(value)
    return _FLOAT_WORDS.get(text, text)


def serialize_decimal(value: Decimal) -> str:
    """Decimal's own string (exponents are valid numeric input); NaN payloads dropped."""
    if value.is_snan():
        raise ValidationError("a signalling Decimal NaN cannot be sent")
    if value.is_nan():
        return "NaN"
    return str(value)


def serialize_text(value: str) -> str:
    """Strings go as they are; PostgreSQL text cannot hold NUL, so refuse it early."""
    if "\x00" in value:
        raise ValidationError("a string parameter cannot contain the NUL character")
    return str.__str__(value)


def serialize_bytes(value: bytes | bytearray | memoryview) -> ByteArrayParameter:
    """Bytes travel as a binary parameter, never as text."""
    return ByteArrayParameter(value, BINARY)


def serialize_datetime(value: datetime) -> str:
    """ISO 8601; naive stays naive (timestamp), aware carries its offset (timestamptz)."""
    return value.isoformat()


def serialize_time(value: time) -> str:
    """ISO time; an aware time must have a fixed offset to be meaningful."""
    if value.tzinfo is not None and value.utcoffset() is None:
        raise ValidationError(f"time {value!r} has a tzinfo without a fixed UTC offset")
    return value.isoformat()


def serialize_timedelta(value: timedelta) -> str:
    """An interval literal that round-trips exactly: `-1 days +02:03:04.000005`."""
    minutes, seconds = divmod(value.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{value.days} days +{hours:02d}:{minutes:02d}:{seconds:02d}.{value.microseconds:06d}"


def serialize_json(value: Any) -> str:
    """Compact JSON text, non-ASCII kept as is."""
    try:
        return _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"cannot send {type(value).__name__} as JSON: {exc}") from None


def serialize_wire(value: WireValue) -> WireValue:
    """Byte-array and stream parameters are already wire values."""
    return value


def _is(*types: type) -> Callable[[Any], bool]:
    """A `supports` predicate for the given types."""

    def supports(value: Any) -> bool:
        return isinstance(value, types)

    return supports


def _is_instance_of(module: str, name: str) -> Callable[[Any], bool]:
    """A `supports` predicate for `module.name` that never imports `module`.

    A value of that type can only exist once its module is loaded, so while it
    is not in `sys.modules` the answer is False; `decimal` and `uuid` thus stay
    out of `import ppg_edge` (cold start).
    """

    def supports(value: Any) -> bool:
        loaded = sys.modules.get(module)
        return loaded is not None and isinstance(value, getattr(loaded, name))

    return supports


def default_serializers() -> list[ValueSerializer]:
    """Fresh ValueSerializers for every type sent by default, in the order they are tried."""
    return [
        ValueSerializer(_is(ByteArrayParameter, BoundedByteStreamParameter), serialize_wire),
        ValueSerializer(_is(bool), serialize_bool),
        ValueSerializer(_is(int), serialize_int),
        ValueSerializer(_is(float), serialize_float),
        ValueSerializer(_is_instance_of("decimal", "Decimal"), serialize_decimal),
        ValueSerializer(_is(str), serialize_text),
        ValueSerializer(_is(bytes, bytearray, memoryview), serialize_bytes),
        ValueSerializer(_is(datetime), serialize_datetime),
        ValueSerializer(_is(date), date.isoformat),
        ValueSerializer(_is(time), serialize_time),
        ValueSerializer(_is(timedelta), serialize_timedelta),
        ValueSerializer(_is_instance_of("uuid", "UUID"), str),
        ValueSerializer(_is(dict, list), serialize_json),
    ]


def _element_text(value: Any) -> str:
    """One array element's text: bytes as `\\x` hex, dicts as JSON, the rest as scalars."""
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return serialize_json(value)
    for serializer in _ELEMENT_SERIALIZERS:
        if serializer.supports(value):
            text = serializer.serialize(value)
            if isinstance(text, str):
                return text
    raise ValidationError(f"cannot put a {type(value).__name__} into an array literal")


_ELEMENT_SERIALIZERS = default_serializers()[1:-1]


def array_literal(values: Sequence[Any]) -> str:
    """Render (nested) lists as a PostgreSQL array literal, e.g. for `$1::int[]`."""
    if not isinstance(values, list | tuple):
        raise ValidationError(f"array_literal needs a list or tuple, not {type(values).__name__}")
    return render_array(values, _element_text)
