"""Row factories (`ppg_edge.rows`) on the sync face, against the real gateway: the
async driver tests' (tests/driver/test_driver_row_factories.py) with blocking calls."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

import ppg_edge
from ppg_edge import Row, ValidationError
from ppg_edge.rows import class_row, dict_row, namedtuple_row, tuple_row

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


def test_defaults_are_dicts_high_level_and_rows_low_level(db: Any, cl: Any) -> None:
    assert (db.query(SQL).collect())[0] == {"id": 1, "name": "n1", "at": AT}
    first = ((cl.query(SQL)).rows.collect())[0]
    assert isinstance(first, Row)
    assert first.values == [1, "n1", AT]


def test_per_statement_factories_over_http(db: Any) -> None:
    assert db.query(SQL, row_factory=tuple_row).collect() == [(g, f"n{g}", AT) for g in (1, 2, 3)]
    named = db.query(SQL, row_factory=namedtuple_row).collect()
    assert [(row.id, row.name, row.at) for row in named] == [(g, f"n{g}", AT) for g in (1, 2, 3)]
    items = db.query(SQL, row_factory=class_row(Item)).collect()
    assert items == [Item(g, f"n{g}", AT) for g in (1, 2, 3)]


def test_sql_template_takes_row_factory_as_its_own_keyword(db: Any) -> None:
    rows = db.sql("SELECT {}::int AS x, {} AS y", 1, "b", row_factory=tuple_row).collect()
    assert rows == [(1, "b")]


def test_connect_row_factory_applies_to_queries_transactions_and_batches(
    gateway: Any,
) -> None:
    with ppg_edge.connect_sync(
        gateway.connection_string, endpoint=gateway.url, row_factory=tuple_row
    ) as db:
        assert db.query("SELECT 1 AS a, 'x' AS b").collect() == [(1, "x")]
        with db.transaction() as tx:
            assert tx.query("SELECT 2 AS a").collect() == [(2,)]
            with tx.transaction() as inner:
                assert inner.query("SELECT 3 AS a").collect() == [(3,)]
            assert tx.query("SELECT 4 AS a", row_factory=dict_row).collect() == [{"a": 4}]
        results = db.batch(ppg_edge.Query("SELECT 5 AS a"), ppg_edge.Exec("SELECT 1"))
        assert results == [[(5,)], 1]
        built = db.batch().query("SELECT 6 AS a").run()
        assert built == [[(6,)]]


def test_client_row_factory_and_per_query_override(gateway: Any, cl: Any) -> None:
    with ppg_edge.client_sync(
        gateway.connection_string, endpoint=gateway.url, row_factory=dict_row
    ) as client:
        result = client.query("SELECT 1 AS a")
        assert result.rows.collect() == [{"a": 1}]
        with client.new_session() as session:
            answer = session.query("SELECT 2 AS a")
            assert answer.rows.collect() == [{"a": 2}]
    result = cl.query("SELECT 1 AS a, 2 AS b", row_factory=tuple_row)
    assert result.rows.collect() == [(1, 2)]


def test_rows_as_switches_before_reading_and_maps_after(cl: Any) -> None:
    fresh = cl.query(SQL)
    assert fresh.rows_as(tuple_row).collect() == [(g, f"n{g}", AT) for g in (1, 2, 3)]
    started = cl.query(SQL)
    first = next(started.rows)
    assert first.values == [1, "n1", AT]
    assert started.rows_as(class_row(Item)).collect() == [
        Item(2, "n2", AT),
        Item(3, "n3", AT),
    ]


def test_a_class_that_refuses_the_columns_raises_its_own_error(db: Any) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'extra'"):
        db.query(
            "SELECT 1 AS id, 'a' AS name, now() AS at, 2 AS extra", row_factory=class_row(Item)
        ).collect()
    assert db.query("SELECT 1 AS a").collect() == [{"a": 1}]  # the client is still fine


def test_a_parse_failure_under_a_factory_keeps_its_exact_error(db: Any) -> None:
    with pytest.raises(ppg_edge.UnrepresentableValueError, match="infinity"):
        db.query(
            "SELECT g, CASE WHEN g = 2 THEN timestamptz 'infinity' ELSE now() END AS at"
            " FROM generate_series(1, 3) g",
            row_factory=tuple_row,
        ).collect()


def test_a_row_factory_that_is_not_callable_is_refused_before_sending(db: Any) -> None:
    with pytest.raises(ValidationError, match="row_factory"):
        db.query("SELECT 1", row_factory="tuple")
