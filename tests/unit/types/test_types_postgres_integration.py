"""Integration: the default parsers read PostgreSQL's own text output, and values the
default serializers write come back unchanged through a real PostgreSQL — first
straight from psycopg, then end to end through the real gateway and client.

Results are fetched in text format with psycopg's loaders replaced by one that hands
back the raw text, under the session settings the gateway uses (TimeZone=UTC,
DateStyle=ISO, IntervalStyle=postgres, bytea_output=hex).
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.adapt import Loader

import ppg_edge
from ppg_edge.core.errors import DataError
from ppg_edge.core.types import array_literal, default_registry
from ppg_edge.core.types.oids import ARRAY_OF

REGISTRY = default_registry()
PLUS2 = timezone(timedelta(hours=2))
SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO",
    "IntervalStyle": "postgres",
    "bytea_output": "hex",
}
KNOWN_OIDS = [
    16,
    17,
    18,
    19,
    20,
    21,
    23,
    25,
    26,
    114,
    700,
    701,
    1042,
    1043,
    1082,
    1083,
    1114,
    1184,
    1186,
    1266,
    1700,
    2950,
    3802,
    *ARRAY_OF,
]


class RawText(Loader):
    """Hands back PostgreSQL's text output untouched."""

    def load(self, data: Any) -> str:
        return bytes(data).decode()


@pytest.fixture(scope="module")
def pg(postgres: Any) -> Iterator[psycopg.Connection[Any]]:
    """A direct psycopg connection with the gateway's session settings and raw text loaders."""
    conn = psycopg.connect(postgres.superuser_dsn, autocommit=True)
    for name, value in SETTINGS.items():
        conn.execute("SELECT set_config(%s, %s, false)", (name, value))
    for oid in KNOWN_OIDS:
        conn.adapters.register_loader(oid, RawText)
    yield conn
    conn.close()


def fetch(
    pg: psycopg.Connection[Any], sql: str, params: tuple[Any, ...] = ()
) -> tuple[int, str | None]:
    """One value: (type OID PostgreSQL reports, raw text or None)."""
    cur = pg.execute(f"SELECT {sql}", params)
    row = cur.fetchone()
    assert row is not None and cur.description is not None
    return cur.description[0].type_code, row[0]


CASES: list[tuple[str, int, Any]] = [
    ("true", 16, True),
    ("false", 16, False),
    ("NULL::bool", 16, None),
    ("'\\x00ff10'::bytea", 17, b"\x00\xff\x10"),
    ("''::bytea", 17, b""),
    ("'x'::\"char\"", 18, "x"),
    ("'pg_class'::name", 19, "pg_class"),
    ("(-9223372036854775808)::int8", 20, -(2**63)),
    ("(-32768)::int2", 21, -32768),
    ("2147483647::int4", 23, 2147483647),
    ("'héllo ☃'::text", 25, "héllo ☃"),
    ("4294967295::oid", 26, 4294967295),
    ('\'{"a": [1, 2.5, null, "é"]}\'::json', 114, {"a": [1, 2.5, None, "é"]}),
    ("'0.1'::float4", 700, 0.1),
    ("'-1.25e-300'::float8", 701, -1.25e-300),
    ("'Infinity'::float8", 701, math.inf),
    ("'-Infinity'::float4", 700, -math.inf),
    ("'ab'::char(4)", 1042, "ab  "),
    ("'x y'::varchar", 1043, "x y"),
    ("'2024-02-29'::date", 1082, date(2024, 2, 29)),
    ("'0001-01-01'::date", 1082, date(1, 1, 1)),
    ("'04:05:06.789'::time", 1083, time(4, 5, 6, 789000)),
    ("'2024-01-02 03:04:05.000006'::timestamp", 1114, datetime(2024, 1, 2, 3, 4, 5, 6)),
    ("'2024-01-02 03:04:05+05:30'::timestamptz", 1184, datetime(2024, 1, 1, 21, 34, 5, tzinfo=UTC)),
    (
        "'1 year 2 mons 3 days 04:05:06.789'::interval",
        1186,
        timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6, milliseconds=789),
    ),
    ("'-1 days +02:03:00'::interval", 1186, timedelta(days=-1, hours=2, minutes=3)),
    (
        "'-1 years -2 mons +3 days -04:05:06.000001'::interval",
        1186,
        timedelta(days=-425 + 3, hours=-4, minutes=-5, seconds=-6, microseconds=-1),
    ),
    ("'0'::interval", 1186, timedelta(0)),
    ("'04:05:06.789+02'::timetz", 1266, time(4, 5, 6, 789000, tzinfo=PLUS2)),
    (
        "'12345678901234567890.000000000000000001'::numeric",
        1700,
        Decimal("12345678901234567890.000000000000000001"),
    ),
    ("'NaN'::numeric", 1700, "nan"),
    ("'-Infinity'::numeric", 1700, Decimal("-Infinity")),
    (
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
        2950,
        UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ),
    ('\'{"b": [true], "a": null}\'::jsonb', 3802, {"a": None, "b": [True]}),
    # arrays, with NULLs, quoting, escapes, nesting and dimension decorations
    ("ARRAY[true, NULL, false]", 1000, [True, None, False]),
    ("ARRAY['\\x00ff'::bytea, NULL, '']", 1001, [b"\x00\xff", None, b""]),
    ("ARRAY['a', NULL]::\"char\"[]", 1002, ["a", None]),
    ("ARRAY['n'::name]", 1003, ["n"]),
    ("ARRAY[1, NULL]::int2[]", 1005, [1, None]),
    ("'{{1,2},{3,NULL}}'::int4[]", 1007, [[1, 2], [3, None]]),
    ("'[0:1]={7,8}'::int4[]", 1007, [7, 8]),
    ("'{}'::int4[]", 1007, []),
    ("'[1:1][-1:0]={{5,6}}'::int4[]", 1007, [[5, 6]]),
    (
        "ARRAY['a b', 'c\"d', NULL, 'NULL', '', 'e\\f', '{x}', ' ', 'null', 'ü', E'\\u00a0']",
        1009,
        ["a b", 'c"d', None, "NULL", "", "e\\f", "{x}", " ", "null", "ü", "\u00a0"],
    ),
    ("ARRAY[['x', NULL], ['y,z', 'w']]", 1009, [["x", None], ["y,z", "w"]]),
    ("ARRAY['a  '::char(3), NULL]", 1014, ["a  ", None]),
    ("ARRAY['v'::varchar]", 1015, ["v"]),
    ("ARRAY[9223372036854775807, NULL]::int8[]", 1016, [2**63 - 1, None]),
    ("ARRAY[1.5, 'Infinity']::float4[]", 1021, [1.5, math.inf]),
    ("ARRAY[0.1, '-Infinity', NULL]::float8[]", 1022, [0.1, -math.inf, None]),
    ("ARRAY[1, NULL]::oid[]", 1028, [1, None]),
    ("ARRAY['{\"a\": \"b,c\"}'::json, 'null', NULL]", 199, [{"a": "b,c"}, None, None]),
    ('ARRAY[\'[1, "x\\""]\'::jsonb, NULL]', 3807, [[1, 'x"'], None]),
    (
        "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL]",
        2951,
        [UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), None],
    ),
    ("ARRAY['2024-01-02'::date, NULL]", 1182, [date(2024, 1, 2), None]),
    ("ARRAY['04:05:06'::time, '23:59:59.5']", 1183, [time(4, 5, 6), time(23, 59, 59, 500000)]),
    ("ARRAY['04:05:06+02'::timetz]", 1270, [time(4, 5, 6, tzinfo=PLUS2)]),
    ("ARRAY['2024-01-02 03:04:05'::timestamp, NULL]", 1115, [datetime(2024, 1, 2, 3, 4, 5), None]),
    (
        "ARRAY['2024-01-02 03:04:05.1+00'::timestamptz]",
        1185,
        [datetime(2024, 1, 2, 3, 4, 5, 100000, tzinfo=UTC)],
    ),
    (
        "ARRAY['1 day'::interval, '-1 days +02:03:00', NULL]",
        1187,
        [timedelta(days=1), timedelta(days=-1, hours=2, minutes=3), None],
    ),
    ("ARRAY[1.10, NULL, 'NaN']::numeric[]", 1231, "nan-array"),
]


@pytest.mark.parametrize(("sql", "oid", "expected"), CASES, ids=[c[0][:50] for c in CASES])
def test_parsers_read_postgres_output(
    pg: psycopg.Connection[Any], sql: str, oid: int, expected: Any
) -> None:
    actual_oid, text = fetch(pg, sql)
    assert actual_oid == oid
    check(REGISTRY.parse(oid, text), expected, sql)


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("'infinity'::date", "infinite"),
        ("'-infinity'::timestamp", "infinite"),
        ("'infinity'::timestamptz", "infinite"),
        ("'0044-03-15 BC'::date", "BC"),
        ("'0044-03-15 12:00 BC'::timestamptz", "BC"),
        ("'10000-01-01'::date", "after 9999"),
        ("'24:00:00'::time", "24:00:00"),
        ("'178000000 years'::interval", "range"),
        ("ARRAY['infinity'::date]", "infinite"),
    ],
)
def test_values_python_cannot_hold_raise_clear_errors(
    pg: psycopg.Connection[Any], sql: str, words: str
) -> None:
    oid, text = fetch(pg, sql)
    with pytest.raises(DataError, match=words):
        REGISTRY.parse(oid, text)


def through_postgres(pg: psycopg.Connection[Any], value: Any, type_name: str) -> Any:
    """Serialize `value`, let PostgreSQL parse it as `type_name`, parse its output back."""
    wire = REGISTRY.serialize(value)
    assert isinstance(wire, str)
    oid, text = fetch(pg, f"%s::{type_name}", (wire,))
    return REGISTRY.parse(oid, text)


PG = settings(max_examples=40, deadline=None)
offsets = st.builds(
    lambda m: timezone(timedelta(minutes=m)), st.integers(-15 * 60 + 1, 15 * 60 - 1)
)
pg_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)


@PG
@given(st.integers(-(2**63), 2**63 - 1))
def test_int8_through_postgres(pg: psycopg.Connection[Any], value: int) -> None:
    assert through_postgres(pg, value, "int8") == value


@PG
@given(st.floats(allow_nan=False))
def test_float8_through_postgres(pg: psycopg.Connection[Any], value: float) -> None:
    back = through_postgres(pg, value, "float8")
    assert back == value and math.copysign(1, back) == math.copysign(1, value)


@PG
@given(st.floats(width=32, allow_nan=False))
def test_float4_through_postgres(pg: psycopg.Connection[Any], value: float) -> None:
    back = through_postgres(pg, value, "float4")
    assert struct.pack("<f", back) == struct.pack("<f", value)


def test_float_nan_through_postgres(pg: psycopg.Connection[Any]) -> None:
    assert math.isnan(through_postgres(pg, float("nan"), "float8"))
    assert through_postgres(pg, Decimal("NaN"), "numeric").is_nan()


@PG
@given(
    st.decimals(allow_nan=False, places=None).filter(
        lambda d: d.is_infinite() or abs(d.adjusted()) < 1000
    )
)
def test_numeric_through_postgres(pg: psycopg.Connection[Any], value: Decimal) -> None:
    back = through_postgres(pg, value, "numeric")
    assert back == value
    if value.is_finite() and value.as_tuple().exponent <= 0:  # type: ignore[operator]
        assert str(back) == str(value).replace("-0", "0", 1) or back == value


@PG
@given(st.datetimes())
def test_timestamp_through_postgres(pg: psycopg.Connection[Any], value: datetime) -> None:
    assert through_postgres(pg, value, "timestamp") == value


@PG
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)
)
def test_timestamptz_through_postgres(pg: psycopg.Connection[Any], value: datetime) -> None:
    back = through_postgres(pg, value, "timestamptz")
    assert back == value and back.tzinfo is UTC


@PG
@given(st.dates())
def test_date_through_postgres(pg: psycopg.Connection[Any], value: date) -> None:
    assert through_postgres(pg, value, "date") == value


@PG
@given(st.times())
def test_time_through_postgres(pg: psycopg.Connection[Any], value: time) -> None:
    assert through_postgres(pg, value, "time") == value


@PG
@given(st.times(timezones=offsets))
def test_timetz_through_postgres(pg: psycopg.Connection[Any], value: time) -> None:
    back = through_postgres(pg, value, "timetz")
    assert back == value and back.utcoffset() == value.utcoffset()


@PG
@given(st.timedeltas(min_value=timedelta(days=-(10**8)), max_value=timedelta(days=10**8)))
def test_interval_through_postgres(pg: psycopg.Connection[Any], value: timedelta) -> None:
    assert through_postgres(pg, value, "interval") == value


@PG
@given(
    st.integers(-5000, 5000),
    st.integers(-100, 100),
    st.integers(-(10**6), 10**6),
    st.integers(-(10**15), 10**15),
)
def test_mixed_sign_intervals_from_postgres(
    pg: psycopg.Connection[Any], years: int, months: int, days: int, micros: int
) -> None:
    """PostgreSQL's own output for intervals with years, months and mixed signs."""
    oid, text = fetch(
        pg,
        "make_interval(years => %s, months => %s, days => %s) + %s * interval '1 microsecond'",
        (years, months, days, micros),
    )
    total_months = 12 * years + months  # PostgreSQL keeps months and shows whole years
    whole_years = int(total_months / 12)
    month_days = 365 * whole_years + 30 * (total_months - 12 * whole_years)
    expected = timedelta(days=month_days + days, microseconds=micros)
    assert REGISTRY.parse(oid, text) == expected


@PG
@given(st.uuids())
def test_uuid_through_postgres(pg: psycopg.Connection[Any], value: UUID) -> None:
    assert through_postgres(pg, value, "uuid") == value


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | pg_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(pg_texts, inner, max_size=3),
    max_leaves=12,
)


@PG
@given(st.dictionaries(pg_texts, json_values, max_size=4) | st.lists(json_values, max_size=4))
def test_json_through_postgres(pg: psycopg.Connection[Any], value: Any) -> None:
    assert through_postgres(pg, value, "jsonb") == value
    assert through_postgres(pg, value, "json") == value


@PG
@given(
    st.lists(
        st.lists(st.one_of(st.none(), pg_texts), min_size=2, max_size=2), min_size=1, max_size=3
    )
)
def test_text_array_through_postgres(
    pg: psycopg.Connection[Any], value: list[list[str | None]]
) -> None:
    assert through_postgres(pg, array_literal(value), "text[]") == value


@PG
@given(st.lists(st.one_of(st.none(), st.binary(max_size=6)), max_size=4))
def test_bytea_array_through_postgres(
    pg: psycopg.Connection[Any], value: list[bytes | None]
) -> None:
    assert through_postgres(pg, array_literal(value), "bytea[]") == value


@PG
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.timedeltas(min_value=timedelta(days=-(10**6)), max_value=timedelta(days=10**6)),
        ),
        max_size=4,
    )
)
def test_interval_array_through_postgres(
    pg: psycopg.Connection[Any], value: list[timedelta | None]
) -> None:
    assert through_postgres(pg, array_literal(value), "interval[]") == value


@PG
@given(
    st.lists(st.one_of(st.none(), st.dictionaries(pg_texts, json_values, max_size=2)), max_size=3)
)
def test_jsonb_array_through_postgres(pg: psycopg.Connection[Any], value: list[Any]) -> None:
    assert through_postgres(pg, array_literal(value), "jsonb[]") == value


def test_bytes_serialize_as_binary_and_round_trip(pg: psycopg.Connection[Any]) -> None:
    wire = REGISTRY.serialize(b"\x00\x01\xfe\xff")
    data = bytes(wire.data)  # type: ignore[union-attr]
    oid, text = fetch(pg, "%b::bytea", (data,))
    assert REGISTRY.parse(oid, text) == b"\x00\x01\xfe\xff"


# --- the same values end to end: PostgreSQL -> gateway (scalar bytea as base64) -> client


@pytest.fixture
async def client(gateway: Any) -> AsyncIterator[Any]:
    """The low-level client with the default registry, pointed at the real gateway."""
    cl = ppg_edge.client(
        ppg_edge.default_client_config(gateway.connection_string, endpoint=gateway.url)
    )
    try:
        yield cl
    finally:
        await cl.aclose()


async def test_parsers_read_gateway_answers_over_http(client: Any) -> None:
    for sql, oid, expected in CASES:
        result = await client.query(f"SELECT {sql} AS v")
        assert [c.oid for c in result.columns] == [oid], sql
        [row] = await result.rows.collect()
        check(row.values[0], expected, sql)


async def test_parsers_read_gateway_answers_over_a_session(client: Any) -> None:
    async with await client.new_session() as session:
        results = await asyncio.gather(
            *(session.query(f"SELECT {sql} AS v") for sql, _, _ in CASES)
        )
        for (sql, oid, expected), result in zip(CASES, results, strict=True):
            assert [c.oid for c in result.columns] == [oid], sql
            [row] = await result.rows.collect()
            check(row.values[0], expected, sql)


PARAMETERS: list[tuple[Any, str]] = [
    (None, "int4"),
    (True, "bool"),
    (-(2**63), "int8"),
    (0.1, "float8"),
    (Decimal("-12.340"), "numeric"),
    ("héllo, ☃ 'quoted'", "text"),
    (b"\x00\x01\xfe\xff" * 300, "bytea"),
    (datetime(2024, 1, 2, 3, 4, 5, 6), "timestamp"),
    (datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "timestamptz"),
    (date(2024, 2, 29), "date"),
    (time(23, 59, 59, 999999), "time"),
    (time(4, 5, 6, tzinfo=PLUS2), "timetz"),
    (timedelta(days=-1, seconds=7380, microseconds=5), "interval"),
    (UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "uuid"),
    ({"a": [1, None, "é"]}, "jsonb"),
    ([1, "x", None], "json"),
]


@pytest.mark.parametrize(("value", "type_name"), PARAMETERS, ids=[p[1] for p in PARAMETERS])
async def test_serialized_parameters_come_back_through_the_gateway(
    client: Any, value: Any, type_name: str
) -> None:
    result = await client.query(f"SELECT $1::{type_name} AS v", value)
    [row] = await result.rows.collect()
    assert row.values == [value]


async def test_array_literal_parameters_come_back_through_the_gateway(client: Any) -> None:
    texts = [["a b", 'c"d'], [None, "NULL"]]
    blobs = [b"\x00\xff", None, b""]
    result = await client.query(
        "SELECT $1::text[] AS t, $2::bytea[] AS b", array_literal(texts), array_literal(blobs)
    )
    [row] = await result.rows.collect()
    assert row.values == [texts, blobs]


def check(value: Any, expected: Any, sql: str) -> None:
    """Compare a parsed value with a CASES expectation (NaN cases by their marker)."""
    if expected == "nan":
        assert isinstance(value, Decimal) and value.is_nan(), sql
    elif expected == "nan-array":
        assert value[:2] == [Decimal("1.10"), None] and value[2].is_nan(), sql
    else:
        assert value == expected, sql
        assert type(value) is type(expected), sql
