"""Row factories (`ppg_edge.rows`) on the async face, against the real gateway: the
default shapes, `row_factory=` on `connect()` / `client()` and per statement, over HTTP,
in transactions (a WebSocket session) and in batches."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

import ppg_edge
from ppg_edge import Row, ValidationError
from ppg_edge.rows import class_row, dict_row, namedtuple_row, tuple_row

pytestmark = pytest.mark.asyncio

SQL = (
    "SELECT g AS id, 'n' || g AS name, timestamptz '2024-01-02 03:04:05+00' AS at"
    " FROM generate_series(1, 3) g"
)
AT = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@dataclass
class Item:
    id: int
    name: str
    at: dt.datetime


async def test_defaults_are_dicts_high_level_and_rows_low_level(db: Any, cl: Any) -> None:
    assert (await db.query(SQL).collect())[0] == {"id": 1, "name": "n1", "at": AT}
    first = (await (await cl.query(SQL)).rows.collect())[0]
    assert isinstance(first, Row)
    assert first.values == [1, "n1", AT]


async def test_per_statement_factories_over_http(db: Any) -> None:
    assert await db.query(SQL, row_factory=tuple_row).collect() == [
        (g, f"n{g}", AT) for g in (1, 2, 3)
    ]
    named = await db.query(SQL, row_factory=namedtuple_row).collect()
    assert [(row.id, row.name, row.at) for row in named] == [(g, f"n{g}", AT) for g in (1, 2, 3)]
    items = await db.query(SQL, row_factory=class_row(Item)).collect()
    assert items == [Item(g, f"n{g}", AT) for g in (1, 2, 3)]


async def test_sql_template_takes_row_factory_as_its_own_keyword(db: Any) -> None:
    rows = await db.sql("SELECT {}::int AS x, {} AS y", 1, "b", row_factory=tuple_row).collect()
    assert rows == [(1, "b")]


async def test_connect_row_factory_applies_to_queries_transactions_and_batches(
    gateway: Any,
) -> None:
    async with ppg_edge.connect(
        gateway.connection_string, endpoint=gateway.url, row_factory=tuple_row
    ) as db:
        assert await db.query("SELECT 1 AS a, 'x' AS b").collect() == [(1, "x")]
        async with db.transaction() as tx:
            assert await tx.query("SELECT 2 AS a").collect() == [(2,)]
            async with tx.transaction() as inner:
                assert await inner.query("SELECT 3 AS a").collect() == [(3,)]
            assert await tx.query("SELECT 4 AS a", row_factory=dict_row).collect() == [{"a": 4}]
        results = await db.batch(ppg_edge.Query("SELECT 5 AS a"), ppg_edge.Exec("SELECT 1"))
        assert results == [[(5,)], 1]
        built = await db.batch().query("SELECT 6 AS a").run()
        assert built == [[(6,)]]


async def test_client_row_factory_and_per_query_override(gateway: Any, cl: Any) -> None:
    async with ppg_edge.client(
        gateway.connection_string, endpoint=gateway.url, row_factory=dict_row
    ) as client:
        result = await client.query("SELECT 1 AS a")
        assert await result.rows.collect() == [{"a": 1}]
        async with await client.new_session() as session:
            answer = await session.query("SELECT 2 AS a")
            assert await answer.rows.collect() == [{"a": 2}]
    result = await cl.query("SELECT 1 AS a, 2 AS b", row_factory=tuple_row)
    assert await result.rows.collect() == [(1, 2)]


async def test_rows_as_switches_before_reading_and_maps_after(cl: Any) -> None:
    fresh = await cl.query(SQL)
    assert await fresh.rows_as(tuple_row).collect() == [(g, f"n{g}", AT) for g in (1, 2, 3)]
    started = await cl.query(SQL)
    first = await anext(started.rows)
    assert first.values == [1, "n1", AT]
    assert await started.rows_as(class_row(Item)).collect() == [
        Item(2, "n2", AT),
        Item(3, "n3", AT),
    ]


async def test_a_class_that_refuses_the_columns_raises_its_own_error(db: Any) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'extra'"):
        await db.query(
            "SELECT 1 AS id, 'a' AS name, now() AS at, 2 AS extra", row_factory=class_row(Item)
        ).collect()
    assert await db.query("SELECT 1 AS a").collect() == [{"a": 1}]  # the client is still fine


async def test_a_parse_failure_under_a_factory_keeps_its_exact_error(db: Any) -> None:
    with pytest.raises(ppg_edge.UnrepresentableValueError, match="infinity"):
        await db.query(
            "SELECT g, CASE WHEN g = 2 THEN timestamptz 'infinity' ELSE now() END AS at"
            " FROM generate_series(1, 3) g",
            row_factory=tuple_row,
        ).collect()


async def test_a_row_factory_that_is_not_callable_is_refused_before_sending(db: Any) -> None:
    with pytest.raises(ValidationError, match="row_factory"):
        db.query("SELECT 1", row_factory="tuple")
