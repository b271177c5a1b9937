"""Every default serializer, the None/bool/int ordering, and unsupported types."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from ppg_edge.core.errors import ValidationError
from ppg_edge.core.parameters import (
    BINARY,
    TEXT,
    ByteArrayParameter,
    bounded_byte_stream_parameter,
    byte_array_parameter,
)
from ppg_edge.core.types import array_literal, default_registry

REGISTRY = default_registry()


class Color(enum.IntEnum):
    RED = 1


class Word(enum.StrEnum):
    HELLO = "hello"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, "t"),
        (False, "f"),
        (0, "0"),
        (-(2**70), str(-(2**70))),
        (Color.RED, "1"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e300, "1e+300"),
        (-0.0, "-0.0"),
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (Decimal("1.10"), "1.10"),
        (Decimal("-1E+5"), "-1E+5"),
        (Decimal("NaN"), "NaN"),
        (Decimal("NaN123"), "NaN"),
        (Decimal("Infinity"), "Infinity"),
        (Decimal("-Infinity"), "-Infinity"),
        ("héllo ☃", "héllo ☃"),
        ("", ""),
        (Word.HELLO, "hello"),
        (datetime(2024, 1, 2, 3, 4, 5, 6), "2024-01-02T03:04:05.000006"),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05+00:00"),
        (
            datetime(2024, 7, 2, 3, 4, 5, tzinfo=ZoneInfo("Europe/Paris")),
            "2024-07-02T03:04:05+02:00",
        ),
        (date(2024, 2, 29), "2024-02-29"),
        (time(4, 5, 6, 7), "04:05:06.000007"),
        (time(4, 5, 6, tzinfo=timezone(timedelta(hours=-3, minutes=-30))), "04:05:06-03:30"),
        (timedelta(0), "0 days +00:00:00.000000"),
        (timedelta(days=-1, hours=2, minutes=3), "-1 days +02:03:00.000000"),
        (timedelta(days=3, seconds=86399, microseconds=5), "3 days +23:59:59.000005"),
        (timedelta(microseconds=-1), "-1 days +23:59:59.999999"),
        (UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ({"a": [1, None, "é"], "b": {"c": True}}, '{"a":[1,null,"é"],"b":{"c":true}}'),
        ([1, "x", None], '[1,"x",null]'),
        ([], "[]"),
    ],
)
def test_text_serialization(value: Any, expected: str | None) -> None:
    result = REGISTRY.serialize(value)
    assert result == expected
    assert result is None or type(result) is str


@pytest.mark.parametrize("data", [b"\x00\xff", bytearray(b"ab"), memoryview(b"xyz"), b""])
def test_bytes_become_binary_parameters(data: bytes | bytearray | memoryview) -> None:
    result = REGISTRY.serialize(data)
    assert isinstance(result, ByteArrayParameter)
    assert result.format == BINARY
    assert bytes(result.data) == bytes(data)


def test_wire_parameters_pass_through_unchanged() -> None:
    array = byte_array_parameter(b"1234", TEXT)
    stream = bounded_byte_stream_parameter([b"ab", b"cd"], BINARY, 4)
    assert REGISTRY.serialize(array) is array
    assert REGISTRY.serialize(stream) is stream


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (object(), "object"),
        ({1, 2}, "set"),
        (1 + 2j, "complex"),
        ("a\x00b", "NUL"),
        (Decimal("sNaN"), "signalling"),
        ({"x": object()}, "JSON"),
        ([float("nan")], "JSON"),
        (time(1, 2, tzinfo=ZoneInfo("Europe/Paris")), "fixed UTC offset"),
    ],
)
def test_unsupported_values_raise_validation_error(value: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        REGISTRY.serialize(value)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, None], "{1,2,NULL}"),
        ([[1, 2], [3, 4]], "{{1,2},{3,4}}"),
        (["a b", 'c"d', None, "NULL", ""], '{"a b","c\\"d",NULL,"NULL",""}'),
        ([b"\x00\xff"], '{"\\\\x00ff"}'),
        ([True, 1.5, Decimal("2.5")], "{t,1.5,2.5}"),
        ([date(2024, 1, 2), timedelta(days=1)], '{2024-01-02,"1 days +00:00:00.000000"}'),
        ([{"a": 1}], '{"{\\"a\\":1}"}'),
        ((), "{}"),
    ],
)
def test_array_literal(values: Any, expected: str) -> None:
    assert array_literal(values) == expected


def test_array_literal_rejects_non_sequences_and_odd_elements() -> None:
    with pytest.raises(ValidationError):
        array_literal("abc")
    with pytest.raises(ValidationError, match="object"):
        array_literal([object()])
