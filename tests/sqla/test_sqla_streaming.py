"""``executemany`` pipelined and ``stream_results`` / ``yield_per`` streamed through the dialect.

Round trips are counted from elapsed time through the latency proxy (each costs
2 x DELAY); memory with tracemalloc while a result far larger than the bound is
consumed in partitions.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

import ppg_edge.dbapi
from tests.driver.latency_proxy import LatencyProxy
from tests.sqla.conftest import gateway_url

DELAY = 0.1
"""One-way latency the proxy adds: a round trip costs 0.2 s."""

ROWS = 60
"""Rows of the pipelined executemany: unpipelined they would cost 60 round trips (12 s)."""

BIG_ROWS = 60_000
ROW_BYTES = 1_000
"""A 60 MB result: held whole it would dwarf the memory bound below."""

MEMORY_BOUND = 15_000_000
"""Peak bytes traced while the whole result streams past (a partition is ~1 MB)."""


@pytest.fixture
async def slow(gateway: Any) -> AsyncIterator[LatencyProxy]:
    async with LatencyProxy("127.0.0.1", gateway.port, DELAY) as proxy:
        yield proxy


def _slow_engine(gateway: Any, proxy: LatencyProxy) -> Engine:
    return create_engine(gateway_url(gateway), connect_args={"endpoint": proxy.url})


def _insert_many(engine: Engine, name: str) -> float:
    table = sa.table(name, sa.column("id", sa.Integer), sa.column("label", sa.String))
    rows = [{"id": i, "label": f"row {i}"} for i in range(ROWS)]
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (id int, label text)"))
    started = time.monotonic()
    with engine.begin() as conn:
        result = conn.execute(table.insert(), rows)
        assert result.rowcount == ROWS
        conn.execute(
            table.update()
            .where(table.c.id == sa.bindparam("key"))
            .values(label=sa.bindparam("new")),
            [{"key": i, "new": f"new {i}"} for i in range(ROWS)],
        )
    return time.monotonic() - started


async def test_executemany_is_pipelined(
    gateway: Any, slow: LatencyProxy, table_name: Callable[[], str], direct: Any
) -> None:
    """Two executemany of 60 rows each, in one transaction, cost a handful of round trips."""
    name = table_name()
    engine = _slow_engine(gateway, slow)
    try:
        elapsed = await asyncio.to_thread(_insert_many, engine, name)
    finally:
        engine.dispose()
    labels = [r[0] for r in direct.execute(f"SELECT label FROM {name} ORDER BY id").fetchall()]
    assert labels == [f"new {i}" for i in range(ROWS)]
    # begin, two pipelined batches, commit, plus connecting: far below 2 * ROWS round trips.
    assert elapsed < 20 * slow.rtt, f"{elapsed:.2f} s: executemany was not pipelined"


def _peak_while(consume: Callable[[], int]) -> tuple[int, int]:
    tracemalloc.start()
    try:
        seen = consume()
        return seen, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BIG_QUERY = f"SELECT g, repeat('x', {ROW_BYTES}) AS pad FROM generate_series(1, {BIG_ROWS}) AS g"


def test_stream_results_holds_one_partition_at_a_time(engine: Engine) -> None:
    def consume() -> int:
        seen = 0
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, max_row_buffer=1000).execute(
                text(BIG_QUERY)
            )
            for partition in result.partitions(1000):
                seen += len(partition)
        return seen

    seen, peak = _peak_while(consume)
    assert seen == BIG_ROWS
    assert peak < MEMORY_BOUND, f"peak {peak} bytes: the result was buffered"


def test_orm_yield_per_streams(engine: Engine) -> None:
    def consume() -> int:
        seen = 0
        with Session(engine) as session:
            rows = session.execute(
                select(sa.column("g", sa.Integer), sa.column("pad", sa.Text))
                .select_from(
                    text(f"generate_series(1, {BIG_ROWS}) AS g, repeat('x', {ROW_BYTES}) AS pad")
                )
                .execution_options(yield_per=500)
            )
            for partition in rows.partitions():
                seen += len(partition)
        return seen

    seen, peak = _peak_while(consume)
    assert seen == BIG_ROWS
    assert peak < MEMORY_BOUND, f"peak {peak} bytes: the result was buffered"


def test_a_stream_abandoned_early_leaves_the_connection_usable(engine: Engine) -> None:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(text(BIG_QUERY))
        first = result.fetchmany(10)
        result.close()
        assert [row.g for row in first] == list(range(1, 11))
        assert conn.scalar(text("SELECT 7")) == 7


def test_closing_the_connection_mid_stream_reads_no_further(gateway: Any) -> None:
    """Only a transaction that goes on needs the rest of an abandoned answer read: a
    connection that closes drops its session at once, whatever is still streaming."""
    conn = ppg_edge.dbapi.connect(gateway.connection_string, endpoint=gateway.url)
    cursor = conn.cursor()
    cursor.execute("SELECT g FROM generate_series(1, 50000000) AS g")  # minutes to read whole
    assert [row[0] for row in cursor.fetchmany(3)] == [1, 2, 3]
    started = time.monotonic()
    conn.close()
    assert time.monotonic() - started < 10
