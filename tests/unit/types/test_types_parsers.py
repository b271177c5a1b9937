"""Every default parser, by OID, on PostgreSQL's text output and its edge cases."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from ppg_edge.core.errors import DataError
from ppg_edge.core.types import default_registry

REGISTRY = default_registry()
PLUS2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("oid", "text", "expected"),
    [
        (16, "t", True),
        (16, "f", False),
        (21, "-32768", -32768),
        (23, "2147483647", 2147483647),
        (20, "-9223372036854775808", -9223372036854775808),
        (26, "4294967295", 4294967295),
        (700, "1.5", 1.5),
        (701, "-1.25e-300", -1.25e-300),
        (701, "Infinity", math.inf),
        (701, "-Infinity", -math.inf),
        (
            1700,
            "12345678901234567890.000000000000000001",
            Decimal("12345678901234567890.000000000000000001"),
        ),
        (1700, "-0.5", Decimal("-0.5")),
        (1700, "Infinity", Decimal("Infinity")),
        (1700, "-Infinity", Decimal("-Infinity")),
        (25, "héllo", "héllo"),
        (1043, "", ""),
        (1042, "ab  ", "ab  "),
        (19, "pg_class", "pg_class"),
        (18, "x", "x"),
        (114, '{"a": [1, 2.5, null, "é"]}', {"a": [1, 2.5, None, "é"]}),
        (3802, "[true, false]", [True, False]),
        (3802, "null", None),
        (
            2950,
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        (17, "AAEC/w==", b"\x00\x01\x02\xff"),
        (17, "\\x000102ff", b"\x00\x01\x02\xff"),
        (17, "", b""),
        (17, "\\x", b""),
        (1082, "2024-02-29", date(2024, 2, 29)),
        (1082, "0001-01-01", date(1, 1, 1)),
        (1082, "9999-12-31", date(9999, 12, 31)),
        (1083, "04:05:06.789", time(4, 5, 6, 789000)),
        (1083, "23:59:59.999999", time(23, 59, 59, 999999)),
        (1266, "04:05:06.789+02", time(4, 5, 6, 789000, tzinfo=PLUS2)),
        (
            1266,
            "04:05:06-05:30:15",
            time(4, 5, 6, tzinfo=timezone(-timedelta(hours=5, minutes=30, seconds=15))),
        ),
        (1114, "2024-01-02 03:04:05.000006", datetime(2024, 1, 2, 3, 4, 5, 6)),
        (1114, "2024-01-02 03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
        (1184, "2024-01-02 03:04:05.5+00", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        (1184, "2024-01-02 03:04:05+05:30", datetime(2024, 1, 1, 21, 34, 5, tzinfo=UTC)),
        (1186, "00:00:00", timedelta(0)),
        (1186, "1 day", timedelta(days=1)),
        (
            1186,
            "1 year 2 mons 3 days 04:05:06.789",
            timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6, milliseconds=789),
        ),
        (1186, "-1 days +02:03:00", timedelta(days=-1, hours=2, minutes=3)),
        (
            1186,
            "-1 years -2 mons +3 days -04:05:06.000001",
            timedelta(days=-365 - 60 + 3)
            - timedelta(hours=4, minutes=5, seconds=6, microseconds=1),
        ),
        (1186, "-00:00:00.5", timedelta(microseconds=-500000)),
        (1186, "123456:00:00", timedelta(hours=123456)),
        (1186, "2 mons", timedelta(days=60)),
    ],
)
def test_scalar(oid: int, text: str, expected: Any) -> None:
    value = REGISTRY.parse(oid, text)
    assert value == expected
    assert type(value) is type(expected)


def test_timestamptz_is_utc_and_aware() -> None:
    value = REGISTRY.parse(1184, "2024-01-02 03:04:05+05:30")
    assert value.tzinfo is UTC


def test_float_nan() -> None:
    assert math.isnan(REGISTRY.parse(700, "NaN"))
    assert REGISTRY.parse(1700, "NaN").is_nan()


@pytest.mark.parametrize(
    "oid", [16, 17, 20, 23, 701, 1700, 25, 114, 2950, 1082, 1184, 1186, 1007, 9999]
)
def test_null_is_none_for_every_type(oid: int) -> None:
    assert REGISTRY.parse(oid, None) is None


def test_unknown_oid_is_raw_string() -> None:
    assert REGISTRY.parse(600, "(1,2)") == "(1,2)"


@pytest.mark.parametrize(
    ("oid", "text", "expected"),
    [
        (1000, "{t,f,NULL}", [True, False, None]),
        (1005, "{1,-2}", [1, -2]),
        (1007, "{{1,2},{3,NULL}}", [[1, 2], [3, None]]),
        (1007, "[0:1]={7,8}", [7, 8]),
        (1007, "{}", []),
        (1016, "{9223372036854775807}", [9223372036854775807]),
        (1021, "{1.5,NaN}", None),
        (1022, "{Infinity,-Infinity}", [math.inf, -math.inf]),
        (1231, "{1.10,NULL,NaN}", None),
        (1009, '{"a b","c\\"d",NULL,"NULL",""}', ["a b", 'c"d', None, "NULL", ""]),
        (1015, "{x,y}", ["x", "y"]),
        (1014, '{"a  "}', ["a  "]),
        (199, '{"{\\"a\\": 1}",NULL,"null"}', [{"a": 1}, None, None]),
        (3807, '{"[1, 2]","\\"s\\""}', [[1, 2], "s"]),
        (
            2951,
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            [UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
        ),
        (1001, '{"\\\\x00ff",NULL,"\\\\x"}', [b"\x00\xff", None, b""]),
        (1182, "{2024-01-02,NULL}", [date(2024, 1, 2), None]),
        (1183, '{04:05:06,"23:59:59.5"}', [time(4, 5, 6), time(23, 59, 59, 500000)]),
        (1270, "{04:05:06+02}", [time(4, 5, 6, tzinfo=PLUS2)]),
        (1115, '{"2024-01-02 03:04:05"}', [datetime(2024, 1, 2, 3, 4, 5)]),
        (1185, '{"2024-01-02 03:04:05+00"}', [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)]),
        (
            1187,
            '{"1 day","-1 days +02:03:00",00:00:01}',
            [timedelta(days=1), timedelta(days=-1, hours=2, minutes=3), timedelta(seconds=1)],
        ),
    ],
)
def test_arrays(oid: int, text: str, expected: Any) -> None:
    value = REGISTRY.parse(oid, text)
    if expected is None:
        assert len(value) in (2, 3)
        assert any(isinstance(v, float | Decimal) and v != v for v in value)
    else:
        assert value == expected


@pytest.mark.parametrize(
    ("oid", "text", "words"),
    [
        (1082, "infinity", "infinite"),
        (1082, "-infinity", "infinite"),
        (1082, "0044-03-15 BC", "BC"),
        (1082, "10000-01-01", "after 9999"),
        (1114, "infinity", "infinite"),
        (1114, "0001-01-01 00:00:00 BC", "BC"),
        (1184, "-infinity", "infinite"),
        (1184, "12345-01-01 00:00:00+00", "after 9999"),
        (1083, "24:00:00", "24:00:00"),
        (1186, "P1Y2M", "IntervalStyle"),
        (1186, "", "IntervalStyle"),
        (1186, "999999999999 days", "range"),
        (1186, "1 fortnight", "IntervalStyle"),
        (1186, "1", "IntervalStyle"),
        (1186, "01:02", "IntervalStyle"),
        (1186, "1:2:3", "IntervalStyle"),
        (1186, "04:05:06.1234567", "IntervalStyle"),
        (1186, "days 1", "IntervalStyle"),
        (1186, "-", "IntervalStyle"),
        (1186, "1 year2 mons", "IntervalStyle"),
        (1186, "1 day  04:05:06", "IntervalStyle"),
        (16, "maybe", "OID 16"),
        (23, "1.5", "OID 23"),
        (17, "not base64!", "OID 17"),
        (1007, "{1,,2}", "OID 1007"),
        (1082, "2024-13-01", "date"),
        (1184, "2024-01-01 00:00:00", "offset"),
        (1266, "04:05:06", "offset"),
    ],
)
def test_unrepresentable_and_malformed_values_raise_clear_errors(
    oid: int, text: str, words: str
) -> None:
    with pytest.raises(DataError, match=words) as caught:
        REGISTRY.parse(oid, text)
    assert repr(text)[1:-1][:20] in str(caught.value) or text == ""


def test_huge_bad_value_is_shortened_in_the_message() -> None:
    with pytest.raises(DataError) as caught:
        REGISTRY.parse(23, "9" * 100_000 + "x")
    assert len(str(caught.value)) < 500
