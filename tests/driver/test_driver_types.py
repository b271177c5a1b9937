"""Every type the driver promises, through real PostgreSQL: as results (HTTP and
WebSocket), as parameters read back by the driver, and as parameters stored and
read back by psycopg, so a wrong encoding cannot cancel itself out."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest

import ppg_edge

pytestmark = pytest.mark.asyncio

IST = timezone(timedelta(hours=5, minutes=30))
U = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
Y2K = datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
SPAN = timedelta(days=3, hours=4, microseconds=5)

RESULTS: list[tuple[str, Any]] = [
    ("true", True),
    ("false", False),
    ("32767::int2", 32767),
    ("(-2147483648)::int4", -2147483648),
    ("9223372036854775807::int8", 9223372036854775807),
    ("1.5::float4", 1.5),
    ("'-0.000125'::float8", -0.000125),
    ("'NaN'::float8", math.nan),
    ("'Infinity'::float8", math.inf),
    ("'-Infinity'::float4", -math.inf),
    ("'12345678901234567890.000000001'::numeric", Decimal("12345678901234567890.000000001")),
    ("'-0.50'::numeric(5,2)", Decimal("-0.50")),
    ("'héllo ☃ \"q\"'::text", 'héllo ☃ "q"'),
    ("'abc'::varchar(5)", "abc"),
    (
        """'{"a": [1, null, "x"], "b": {"c": true}}'::json""",
        {"a": [1, None, "x"], "b": {"c": True}},
    ),
    ("""'[1.5, "s", false]'::jsonb""", [1.5, "s", False]),
    ("'2024-02-29'::date", date(2024, 2, 29)),
    ("'13:14:15.123456'::time", time(13, 14, 15, 123456)),
    ("'04:05:06.789+05:30'::timetz", time(4, 5, 6, 789000, tzinfo=IST)),
    ("'2024-01-15 10:30:00.5'::timestamp", datetime(2024, 1, 15, 10, 30, 0, 500000)),
    ("'2024-01-15 10:30:00+02'::timestamptz", datetime(2024, 1, 15, 8, 30, tzinfo=UTC)),
    (f"'{U}'::uuid", UUID(U)),
    ("'\\x00ff10'::bytea", b"\x00\xff\x10"),
    ("''::bytea", b""),
    (
        "'3 days 04:05:06.789'::interval",
        timedelta(days=3, hours=4, minutes=5, seconds=6, microseconds=789000),
    ),
    ("'-1 days +02:00:00'::interval", timedelta(days=-1, hours=2)),
    ("'-00:00:01.5'::interval", timedelta(seconds=-1.5)),
    ("ARRAY[1, NULL, 3]::int4[]", [1, None, 3]),
    ("ARRAY[[1, 2], [3, NULL]]::int8[]", [[1, 2], [3, None]]),
    ("ARRAY[[['a']], [['b']]]::text[]", [[["a"]], [["b"]]]),
    ("'{}'::int4[]", []),
    (
        "ARRAY['a b', 'c,d', 'e\"f', 'g\\h', '{x}', 'NULL', '', ' ', NULL]::text[]",
        ["a b", "c,d", 'e"f', "g\\h", "{x}", "NULL", "", " ", None],
    ),
    ("ARRAY[true, false, NULL]", [True, False, None]),
    ("ARRAY[1.5, NULL, 'NaN']::numeric[]", [Decimal("1.5"), None, Decimal("NaN")]),
    ("ARRAY['2024-01-01'::date, NULL]", [date(2024, 1, 1), None]),
    ("ARRAY['12:00:01'::time]", [time(12, 0, 1)]),
    ("ARRAY['2024-01-15 10:30:00+00'::timestamptz]", [datetime(2024, 1, 15, 10, 30, tzinfo=UTC)]),
    ("ARRAY['2024-01-15 10:30:00'::timestamp]", [datetime(2024, 1, 15, 10, 30)]),
    (f"ARRAY['{U}'::uuid, NULL]", [UUID(U), None]),
    ("ARRAY['\\x0102'::bytea, NULL, ''::bytea]", [b"\x01\x02", None, b""]),
    ("ARRAY['1 day'::interval]", [timedelta(days=1)]),
    ("""ARRAY['{"k": "a,b}"}'::jsonb, NULL]""", [{"k": "a,b}"}, None]),
    ("ARRAY[1.5, 'Infinity']::float8[]", [1.5, math.inf]),
    ("ARRAY['x']::varchar[]", ["x"]),
]

NULL_TYPES = [
    "bool", "int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar",
    "json", "jsonb", "date", "time", "timetz", "timestamp", "timestamptz", "uuid", "bytea",
    "interval", "int4[]", "text[]", "bytea[]", "point",
]  # fmt: skip

PARAMETERS: list[tuple[str, Any, Any]] = [
    ("int4", None, None),
    ("bool", True, True),
    ("bool", False, False),
    ("int8", 2**62 + 1, 2**62 + 1),
    ("int4", -5, -5),
    ("float8", 1.25, 1.25),
    ("float8", 0.1, 0.1),
    ("float8", math.nan, math.nan),
    ("float8", math.inf, math.inf),
    ("float8", -math.inf, -math.inf),
    ("numeric", Decimal("-12345.678900"), Decimal("-12345.678900")),
    ("numeric", Decimal("1E+30"), Decimal("1" + "0" * 30)),
    ("text", "héllo ☃ 'q' \"d\" \\ {x}", "héllo ☃ 'q' \"d\" \\ {x}"),
    ("text", "", ""),
    ("bytea", b"\x00\xff\xfe\x80", b"\x00\xff\xfe\x80"),
    ("bytea", bytearray(b"\xc3\x28"), b"\xc3\x28"),
    ("bytea", memoryview(b"\xff\x00\xff"), b"\xff\x00\xff"),
    ("date", date(2024, 2, 29), date(2024, 2, 29)),
    ("time", time(13, 14, 15, 123456), time(13, 14, 15, 123456)),
    ("timetz", time(4, 5, 6, 7, tzinfo=IST), time(4, 5, 6, 7, tzinfo=IST)),
    ("timestamp", datetime(2024, 1, 15, 10, 30, 0, 1), datetime(2024, 1, 15, 10, 30, 0, 1)),
    (
        "timestamptz",
        datetime(2024, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 1, 15, 8, 30, tzinfo=UTC),
    ),
    ("timestamptz", Y2K, Y2K),
    ("interval", SPAN, SPAN),
    ("interval", timedelta(days=-1, seconds=5), timedelta(days=-1, seconds=5)),
    ("uuid", UUID(U), UUID(U)),
    ("jsonb", {"a": [1, None, "x"], "b": {"c": True}}, {"a": [1, None, "x"], "b": {"c": True}}),
    ("json", [1, "two", None, 2.5], [1, "two", None, 2.5]),
]


def same(got: Any, expected: Any) -> bool:
    """Equal values of the same type, with NaN equal to NaN and aware datetimes in UTC."""
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(same(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    if isinstance(expected, Decimal) and expected.is_nan():
        return isinstance(got, Decimal) and got.is_nan()
    if isinstance(expected, datetime) and expected.tzinfo is not None:
        return isinstance(got, datetime) and got == expected and got.utcoffset() == timedelta(0)
    if isinstance(expected, time) and expected.tzinfo is not None:
        return isinstance(got, time) and got.utcoffset() == expected.utcoffset() and got == expected
    if isinstance(expected, Decimal):
        return type(got) is Decimal and str(got) == str(expected)
    return type(got) is type(expected) and bool(got == expected)


@pytest.mark.parametrize(("expr", "expected"), RESULTS, ids=[e for e, _ in RESULTS])
async def test_result_over_http(db: Any, expr: str, expected: Any) -> None:
    rows = await db.query(f"SELECT {expr} AS v").collect()
    assert same(rows[0]["v"], expected), (rows[0]["v"], expected)


async def test_all_results_over_websocket(cl: Any) -> None:
    select = ", ".join(f"{expr} AS v{i}" for i, (expr, _) in enumerate(RESULTS))
    async with await cl.new_session() as session:
        result = await session.query(f"SELECT {select}")
        (row,) = await result.rows.collect()
    for got, (expr, expected) in zip(row.values, RESULTS, strict=True):
        assert same(got, expected), (expr, got, expected)


async def test_null_is_none_for_every_type(db: Any, cl: Any) -> None:
    select = ", ".join(f"NULL::{t} AS c{i}" for i, t in enumerate(NULL_TYPES))
    (row,) = await db.query(f"SELECT {select}").collect()
    assert list(row.values()) == [None] * len(NULL_TYPES)
    async with await cl.new_session() as session:
        (ws_row,) = await (await session.query(f"SELECT {select}")).rows.collect()
    assert ws_row.values == [None] * len(NULL_TYPES)


async def test_unrepresentable_value_is_a_data_error(db: Any, cl: Any) -> None:
    with pytest.raises(ppg_edge.DataError, match="infinite"):
        await db.query("SELECT 'infinity'::date AS d").collect()
    async with await cl.new_session() as session:
        result = await session.query("SELECT '10000-01-01'::date AS d")
        with pytest.raises(ppg_edge.DataError, match="after 9999"):
            await result.rows.collect()
        assert session.active
        assert (await (await session.query("SELECT 1")).rows.collect())[0].values == [1]


async def test_unknown_oid_comes_back_as_text(db: Any) -> None:
    assert await db.query("SELECT '(1,2)'::point AS p").collect() == [{"p": "(1,2)"}]


@pytest.mark.parametrize(
    ("pg_type", "value", "expected"),
    PARAMETERS,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(PARAMETERS)],
)
async def test_parameter_round_trip(db: Any, pg_type: str, value: Any, expected: Any) -> None:
    rows = await db.query(f"SELECT $1::{pg_type} AS v", value).collect()
    assert same(rows[0]["v"], expected), (rows[0]["v"], expected)


def _parameter_table_columns() -> str:
    return ", ".join(f"c{i} {t}" for i, (t, _, _) in enumerate(PARAMETERS))


def _stored_matches(stored: Any, expected: Any) -> bool:
    """psycopg's reading of a stored value, against the expected Python value."""
    if isinstance(expected, datetime) and expected.tzinfo is not None:
        return isinstance(stored, datetime) and stored == expected
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(stored, float) and math.isnan(stored)
    return bool(stored == expected)


async def _check_stored(direct: psycopg.AsyncConnection[Any], table: str) -> None:
    cur = await direct.execute(f"SELECT * FROM {table}")
    (stored,) = await cur.fetchall()
    for got, (pg_type, _, expected) in zip(stored, PARAMETERS, strict=True):
        assert _stored_matches(got, expected), (pg_type, got, expected)


async def test_parameters_stored_as_psycopg_reads_them_http(
    db: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table(_parameter_table_columns())
    placeholders = ", ".join(f"${i + 1}" for i in range(len(PARAMETERS)))
    values = [value for _, value, _ in PARAMETERS]
    assert await db.exec(f"INSERT INTO {table} VALUES ({placeholders})", *values) == 1
    await _check_stored(direct, table)


async def test_parameters_stored_as_psycopg_reads_them_websocket(
    cl: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table(_parameter_table_columns())
    placeholders = ", ".join(f"${i + 1}" for i in range(len(PARAMETERS)))
    values = [value for _, value, _ in PARAMETERS]
    async with await cl.new_session() as session:
        assert await session.exec(f"INSERT INTO {table} VALUES ({placeholders})", *values) == 1
    await _check_stored(direct, table)


INSTANTS = [
    "2024-01-31 04:05:06.123456+00",
    "2024-06-01 12:00:00.5+00",
    "0001-01-01 12:00:00+00",
    "9999-12-31 00:00:00.999999+00",
    "1900-01-01 00:00:00+00",
]
"""timestamptz instants whose text PostgreSQL prints with fractions of 1 to 6 digits, and,
in the zones below, with offsets of minutes (Asia/Kolkata, America/St_Johns) and of
seconds (Europe/Amsterdam in 1900: +00:19:32)."""
BULK = 3000
"""Rows per result: many network reads, so the batch path decodes most of them."""


def _bulk_sql(texts: list[str]) -> str:
    values = ", ".join(f"('{text}'::timestamptz)" for text in texts)
    return f"SELECT g, v AS at FROM generate_series(1, {BULK}) g, (VALUES {values}) AS t(v)"


def _expected(texts: list[str]) -> list[datetime]:
    return [datetime.fromisoformat(text).astimezone(UTC) for text in texts] * BULK


async def test_timestamptz_in_bulk_over_http_is_utc_whatever_the_fraction(db: Any) -> None:
    rows = await db.query(_bulk_sql(INSTANTS) + " ORDER BY g").collect()
    assert [row["at"] for row in rows] == _expected(INSTANTS)
    assert {row["at"].tzinfo for row in rows} == {UTC}


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns", "Europe/Amsterdam"])
async def test_timestamptz_in_bulk_printed_with_offsets_comes_back_in_utc(
    db: Any, zone: str
) -> None:
    async with db.transaction() as tx:
        await tx.exec(f"SET LOCAL TimeZone = '{zone}'")
        (printed,) = await tx.query("SELECT $1::timestamptz::text AS t", INSTANTS[4]).collect()
        rows = await tx.query(_bulk_sql(INSTANTS) + " ORDER BY g").collect()
    assert printed["t"][19:] != "+00"  # PostgreSQL did print another offset
    assert [row["at"] for row in rows] == _expected(INSTANTS)
    assert {row["at"].tzinfo for row in rows} == {UTC}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (
            "infinity",
            "cannot parse timestamptz value 'infinity': Python has no infinite date/time; "
            "register a ValueParser to map it",
        ),
        (
            "0044-03-15 BC",
            "cannot parse timestamptz value '0044-03-15 00:00:00+00 BC': BC dates are "
            "outside Python's range (years 1 to 9999)",
        ),
    ],
)
async def test_a_bad_timestamptz_after_thousands_of_good_ones_is_the_exact_data_error(
    db: Any, bad: str, message: str
) -> None:
    sql = (
        "SELECT g, CASE WHEN g = 2500 THEN $1::timestamptz "
        "ELSE timestamptz '2024-01-01 00:00:00+00' + g * interval '1.001 s' END AS at "
        "FROM generate_series(1, 3000) g ORDER BY g"
    )
    seen = 0
    with pytest.raises(ppg_edge.DataError) as caught:
        async for _ in db.query(sql, bad):
            seen += 1
    assert str(caught.value) == message
    assert 0 < seen < 2500  # the rows of the reads before the bad value's read
