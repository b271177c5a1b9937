"""Round trips measured for real: the client talks to the gateway through a TCP proxy
that adds 100 ms each way, so every round trip costs 200 ms and shows in elapsed time.

A batch of k statements must cost one round trip however large k is (the official
client pays about k+1), transaction() must pipeline BEGIN with the first statement,
and concurrent statements on a session must share one round trip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import pytest

import ppg_edge
from ppg_edge import Exec, Query
from tests.driver.latency_proxy import LatencyProxy

pytestmark = pytest.mark.asyncio

DELAY = 0.1
RTT = 2 * DELAY
T = TypeVar("T")


@pytest.fixture
async def slow(gateway: Any) -> AsyncIterator[LatencyProxy]:
    """The gateway behind 100 ms of one-way latency."""
    async with LatencyProxy("127.0.0.1", gateway.port, DELAY) as proxy:
        yield proxy


@pytest.fixture
async def slow_db(gateway: Any, slow: LatencyProxy) -> AsyncIterator[Any]:
    db = ppg_edge.connect(gateway.connection_string, endpoint=slow.url)
    try:
        yield db
    finally:
        await db.aclose()


async def timed(awaitable: Awaitable[T]) -> tuple[float, T]:
    """Seconds `awaitable` took, and its result."""
    start = time.perf_counter()
    result = await asyncio.wait_for(awaitable, 30)
    return time.perf_counter() - start, result


async def best_of(make: Callable[[], Awaitable[T]], runs: int = 3) -> tuple[float, T]:
    """The fastest of `runs` timings (a loaded machine only ever adds time), and a result."""
    timings = [await timed(make()) for _ in range(runs)]
    return min(t for t, _ in timings), timings[-1][1]


def five_specs(table: str) -> list[tuple[type[Any], str, tuple[Any, ...]]]:
    """Five statements as (kind, sql, parameters)."""
    return [
        (Exec, f"INSERT INTO {table} (n) VALUES ($1)", (1,)),
        (Exec, f"INSERT INTO {table} (n) VALUES ($1)", (2,)),
        (Query, f"SELECT sum(n)::int AS s FROM {table}", ()),
        (Exec, f"UPDATE {table} SET n = n * $1", (10,)),
        (Query, f"SELECT array_agg(n ORDER BY n) AS ns FROM {table}", ()),
    ]


def five_statements(table: str) -> list[Any]:
    return [kind(sql, *params) for kind, sql, params in five_specs(table)]


async def test_batch_of_five_costs_one_round_trip(
    slow_db: Any, slow: LatencyProxy, make_table: Any, gateway: Any
) -> None:
    table = await make_table("n int")
    client = ppg_edge.client(gateway.connection_string, endpoint=slow.url)

    async def open_close() -> None:
        session = await client.new_session()
        await session.close()

    try:
        t_open, _ = await best_of(open_close)
    finally:
        await client.aclose()
    t_one, _ = await best_of(lambda: slow_db.batch(Query("SELECT 1")))
    connections = slow.stats.connections
    t_single, results = await timed(slow_db.batch(*five_statements(table)))
    assert results == [1, 1, [{"s": 3}], 2, [{"ns": [10, 20]}]]
    assert slow.stats.connections - connections <= 1
    t_five, _ = await best_of(lambda: slow_db.batch(*five_statements(table)))
    t_five = min(t_five, t_single)
    assert t_five - t_one < 0.5 * RTT, (t_one, t_five)
    assert t_five - t_open < 1.5 * RTT, (t_open, t_five)


async def test_batch_beats_sequential_statements(slow_db: Any, make_table: Any) -> None:
    table = await make_table("n int")

    async def sequential() -> None:
        async with slow_db.transaction() as tx:
            for kind, sql, params in five_specs(table):
                if kind is Exec:
                    await tx.exec(sql, *params)
                else:
                    await tx.query(sql, *params).collect()

    t_sequential, _ = await best_of(sequential)
    t_batch, _ = await best_of(lambda: slow_db.batch(*five_statements(table)))
    assert t_sequential - t_batch > 3.5 * RTT, (t_sequential, t_batch)


async def test_transaction_pipelines_begin_with_first_statement(slow_db: Any) -> None:
    t_batch, _ = await best_of(lambda: slow_db.batch(Query("SELECT 1")))

    async def one_statement(tx: Any) -> Any:
        return await tx.query("SELECT 41 + 1 AS n").collect()

    t_tx, rows = await best_of(lambda: slow_db.transaction(one_statement))
    assert rows == [{"n": 42}]
    # BEGIN+SELECT share a round trip; COMMIT costs the only extra one.
    assert t_tx - t_batch < 1.5 * RTT, (t_batch, t_tx)


async def test_concurrent_session_queries_share_one_round_trip(
    gateway: Any, slow: LatencyProxy
) -> None:
    client = ppg_edge.client(gateway.connection_string, endpoint=slow.url)
    try:
        async with await client.new_session() as session:
            await (await session.query("SELECT 0")).rows.collect()

            async def one(i: int) -> list[Any]:
                result = await session.query("SELECT $1::int * 2 AS n", i)
                return [row.values for row in await result.rows.collect()]

            async def sequential() -> None:
                for i in range(10):
                    await one(i)

            t_pipelined, answers = await best_of(
                lambda: asyncio.gather(*(one(i) for i in range(10)))
            )
            t_sequential, _ = await timed(sequential())
    finally:
        await client.aclose()
    assert answers == [[[2 * i]] for i in range(10)]
    assert t_pipelined < 2 * RTT, t_pipelined
    assert t_sequential > 9 * RTT, t_sequential
