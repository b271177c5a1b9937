"""pandas over the dialect: `read_sql` whole and in chunks (streamed), `to_sql`, dtypes.

CPython only: in the browser pandas needs Pyodide's own numpy build.
"""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, text

ROUND_TRIP_ROWS = 100_000
CHUNK = 10_000


@pytest.fixture
def typed_table(
    engine: Engine, table_name: Callable[[], str], direct: psycopg.Connection[Any]
) -> str:
    name = table_name()
    direct.execute(
        f"CREATE TABLE {name} (id int PRIMARY KEY, at timestamptz, naive timestamp, "
        f"price numeric(10, 2), ratio float8, ok boolean, label text, n int)"
    )
    direct.execute(
        f"INSERT INTO {name} VALUES "
        f"(1, '2024-01-02 03:04:05.5+02', '2024-01-02 03:04:05', 12.50, 0.5, true, 'a', 10), "
        f"(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL), "
        f"(3, '2024-06-30 23:59:59+00', '2024-06-30 23:59:59', -0.01, 2.25, false, 'ç', 30)"
    )
    return name


def test_read_sql_gives_the_right_dtypes(engine: Engine, typed_table: str) -> None:
    frame = pd.read_sql(text(f"SELECT * FROM {typed_table} ORDER BY id"), engine)
    assert str(frame["at"].dtype).startswith("datetime64") and frame["at"].dt.tz is not None
    assert frame["at"][0] == pd.Timestamp("2024-01-02 01:04:05.5", tz="UTC")
    assert pd.isna(frame["at"][1])
    assert str(frame["naive"].dtype).startswith("datetime64") and frame["naive"].dt.tz is None
    # read_sql's coerce_float (on by default) makes numeric float64; off, Decimal stays.
    assert frame["price"].dtype == "float64" and frame["price"][2] == -0.01
    assert pd.isna(frame["price"][1])
    assert frame["ratio"].dtype == "float64" and pd.isna(frame["ratio"][1])
    assert frame["ok"].tolist() == [True, None, False]
    assert frame["label"].tolist()[0::2] == ["a", "ç"] and pd.isna(frame["label"][1])
    # An int column with a NULL becomes float64 in pandas, as with every driver.
    assert frame["n"].dtype == "float64" and frame["n"][2] == 30.0
    exact = pd.read_sql(
        text(f"SELECT price FROM {typed_table} ORDER BY id"), engine, coerce_float=False
    )
    assert exact["price"].tolist() == [Decimal("12.50"), None, Decimal("-0.01")]


def test_read_sql_table_uses_reflected_types(engine: Engine, typed_table: str) -> None:
    frame = pd.read_sql_table(typed_table, engine).sort_values("id").reset_index(drop=True)
    assert frame["at"].dt.tz is not None
    assert frame["ok"].tolist()[0::2] == [True, False]
    assert frame["price"][0] == 12.5  # read_sql_table coerces numeric to float


def test_to_sql_and_back(engine: Engine, table_name: Callable[[], str]) -> None:
    name = table_name()
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(["2024-03-01 10:00:00+01:00", None], utc=True),
            "ok": pd.array([True, None], dtype="boolean"),
            "n": pd.array([1, None], dtype="Int64"),
            "x": [1.5, float("nan")],
            "s": ["one", None],
        }
    )
    assert frame.to_sql(name, engine, index=False) == 2
    back = pd.read_sql(text(f"SELECT * FROM {name}"), engine)
    columns = {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(name)}
    assert isinstance(columns["at"], sa.DateTime) and columns["at"].timezone
    assert isinstance(columns["ok"], sa.Boolean)
    assert back["at"][0] == pd.Timestamp("2024-03-01 09:00:00", tz="UTC")
    assert back["ok"].tolist() == [True, None]
    assert back["n"][0] == 1 and pd.isna(back["n"][1])
    assert pd.isna(back["x"][1]) and back["s"][0] == "one" and pd.isna(back["s"][1])


def test_a_100k_row_round_trip_in_chunks(engine: Engine, table_name: Callable[[], str]) -> None:
    name = table_name()
    frame = pd.DataFrame(
        {
            "id": range(ROUND_TRIP_ROWS),
            "value": [i * 0.5 for i in range(ROUND_TRIP_ROWS)],
            "label": [f"label {i}" for i in range(ROUND_TRIP_ROWS)],
            "at": pd.date_range("2024-01-01", periods=ROUND_TRIP_ROWS, freq="s", tz="UTC"),
        }
    )
    frame.to_sql(name, engine, index=False, chunksize=CHUNK, method="multi")
    chunks = list(pd.read_sql(text(f"SELECT * FROM {name} ORDER BY id"), engine, chunksize=CHUNK))
    assert len(chunks) == ROUND_TRIP_ROWS // CHUNK
    assert all(len(chunk) == CHUNK for chunk in chunks)
    back = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["at"].dt.tz is not None


STREAM_ROWS = 200_000
STREAM_SQL = f"SELECT g, repeat('y', 200) AS pad FROM generate_series(1, {STREAM_ROWS}) AS g"
"""About 45 MB on the wire and well over that as Python objects."""

STREAM_MEMORY_BOUND = 25_000_000
"""Peak bytes traced while every chunk passes: a chunk is a tenth of the bound or less."""


def _backend_state(direct: psycopg.Connection[Any]) -> str | None:
    row = direct.execute(
        "SELECT state FROM pg_stat_activity WHERE query = %s AND pid <> pg_backend_pid()",
        [STREAM_SQL],
    ).fetchone()
    return None if row is None else str(row[0])


def test_chunks_stream_from_an_open_result(engine: Engine, direct: psycopg.Connection[Any]) -> None:
    """With `chunksize`, the first chunk arrives while PostgreSQL is still sending the rest.

    Were the result read whole before the first chunk, the backend would be done
    (idle) by then; streamed, it is still `active`, held back by the unread stream.
    Memory stays far below the size of the whole result all along.
    """
    tracemalloc.start()
    try:
        chunks = pd.read_sql(text(STREAM_SQL), engine, chunksize=CHUNK)
        first = next(chunks)
        assert first["g"].tolist()[:3] == [1, 2, 3]
        assert _backend_state(direct) == "active"
        seen = len(first)
        del first
        for chunk in chunks:
            seen += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == STREAM_ROWS
    assert peak < STREAM_MEMORY_BOUND, f"peak {peak} bytes: the chunks were not streamed"


def test_read_sql_with_parameters(engine: Engine, typed_table: str) -> None:
    frame = pd.read_sql(
        text(f"SELECT id FROM {typed_table} WHERE at > :since ORDER BY id"),
        engine,
        params={"since": dt.datetime(2024, 3, 1, tzinfo=dt.UTC)},
    )
    assert frame["id"].tolist() == [3]
