"""Hypothesis round trips: serialize a value, parse the text back as its type, get it back."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from ppg_edge.core.types import array_literal, default_registry

REGISTRY = default_registry()
offsets = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-15 * 60 + 1, 15 * 60 - 1)
)


def round_trip(value: Any, oid: int) -> Any:
    text = REGISTRY.serialize(value)
    assert isinstance(text, str)
    return REGISTRY.parse(oid, text)


@given(st.integers(-(2**63), 2**63 - 1))
def test_int8(value: int) -> None:
    assert round_trip(value, 20) == value


@given(st.floats())
def test_float8(value: float) -> None:
    back = round_trip(value, 701)
    assert (math.isnan(back) and math.isnan(value)) or (
        back == value and math.copysign(1, back) == math.copysign(1, value)
    )


@given(st.decimals(allow_nan=False))
def test_numeric_keeps_digits_and_scale(value: Decimal) -> None:
    back = round_trip(value, 1700)
    assert str(back) == str(value)


@given(st.datetimes())
def test_timestamp(value: datetime) -> None:
    assert round_trip(value, 1114) == value


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)
)
def test_timestamptz(value: datetime) -> None:
    back = round_trip(value, 1184)
    assert back == value
    assert back.tzinfo is UTC


@given(st.dates())
def test_date(value: date) -> None:
    assert round_trip(value, 1082) == value


@given(st.times())
def test_time(value: time) -> None:
    assert round_trip(value, 1083) == value


@given(st.times(timezones=offsets))
def test_timetz(value: time) -> None:
    back = round_trip(value, 1266)
    assert back == value
    assert back.utcoffset() == value.utcoffset()


@given(st.timedeltas())
def test_interval(value: timedelta) -> None:
    assert round_trip(value, 1186) == value


@given(st.uuids())
def test_uuid(value: UUID) -> None:
    assert round_trip(value, 2950) == value


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.text(), json_values, max_size=5) | st.lists(json_values, max_size=5))
def test_json(value: Any) -> None:
    assert round_trip(value, 3802) == value


@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)), min_size=2, max_size=2),
        max_size=4,
    )
)
def test_int_array_2d(value: list[list[int | None]]) -> None:
    assert round_trip(array_literal(value), 1007) == value


texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"))


@given(st.lists(st.one_of(st.none(), texts), max_size=6))
def test_text_array(value: list[str | None]) -> None:
    assert round_trip(array_literal(value), 1009) == value


@given(st.lists(st.one_of(st.none(), st.binary(max_size=8)), max_size=5))
def test_bytea_array(value: list[bytes | None]) -> None:
    assert round_trip(array_literal(value), 1001) == value


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.timedeltas(),
        ),
        max_size=5,
    )
)
def test_interval_array(value: list[timedelta | None]) -> None:
    assert round_trip(array_literal(value), 1187) == value


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
        ),
        max_size=4,
    )
)
def test_timestamptz_array(value: list[datetime]) -> None:
    assert round_trip(array_literal(value), 1185) == value


@given(st.lists(json_values, max_size=4))
def test_jsonb_array(value: list[Any]) -> None:
    items = [{"v": item} for item in value]
    assert round_trip(array_literal(items), 3807) == items
