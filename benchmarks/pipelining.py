"""Round trips saved by pipelining, measured through a 50 ms-each-way TCP proxy.

Starts PostgreSQL and the gateway, puts a latency-injecting proxy in front of the
gateway and prints, side by side, the elapsed time and the round trips it amounts
to (elapsed / RTT) for:

- 10 session queries sent concurrently (pipelined) vs one after another;
- a 5-statement batch vs the same 5 statements awaited one by one in a transaction.

Run from the repository root: `python benchmarks/pipelining.py [--delay 0.05] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ppg_edge
from benchmarks.stack import running_stack
from ppg_edge import Exec, Query
from tests.driver.latency_proxy import LatencyProxy

Scenario = Callable[[], Awaitable[Any]]
OPEN = "new_session() alone (WebSocket handshake)"


async def median_seconds(scenario: Scenario, repeat: int) -> float:
    """Median elapsed time of `repeat` runs, after one warm-up run."""
    await scenario()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await scenario()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def statements(table: str) -> list[tuple[type[Any], str, tuple[Any, ...]]]:
    """The five statements of the batch comparison, as (kind, sql, parameters)."""
    return [
        (Exec, f"INSERT INTO {table} (n) VALUES ($1)", (1,)),
        (Exec, f"INSERT INTO {table} (n) VALUES ($1)", (2,)),
        (Query, f"SELECT count(*) AS c FROM {table}", ()),
        (Exec, f"UPDATE {table} SET n = n + $1", (1,)),
        (Exec, f"DELETE FROM {table} WHERE n > $1", (0,)),
    ]


async def session_open_seconds(client: Any, repeat: int) -> float:
    """Median time until `new_session()` returns (the WebSocket handshake); close untimed."""
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        session = await client.new_session()
        times.append(time.perf_counter() - start)
        await session.close()
    return statistics.median(times[1:])


async def session_scenarios(client: Any) -> tuple[Scenario, Scenario]:
    """10 queries on an open session: all at once, and one at a time."""
    session = await client.new_session()
    await (await session.query("SELECT 0")).rows.collect()

    async def one(i: int) -> None:
        result = await session.query("SELECT $1::int AS n", i)
        rows = await result.rows.collect()
        assert rows[0].values == [i]

    async def pipelined() -> None:
        await asyncio.gather(*(one(i) for i in range(10)))

    async def sequential() -> None:
        for i in range(10):
            await one(i)

    return pipelined, sequential


def batch_scenarios(db: Any, table: str) -> tuple[Scenario, Scenario]:
    """A 5-statement batch, and the same statements one by one in a transaction."""

    async def batch() -> None:
        await db.batch(*(kind(sql, *params) for kind, sql, params in statements(table)))

    async def sequential() -> None:
        async with db.transaction() as tx:
            for kind, sql, params in statements(table):
                if kind is Exec:
                    await tx.exec(sql, *params)
                else:
                    await tx.query(sql, *params).collect()

    return batch, sequential


def report(rtt: float, rows: list[tuple[str, float]]) -> None:
    """Print each scenario's elapsed milliseconds and round trips."""
    print(f"{'scenario':<52} {'elapsed ms':>10} {'round trips':>12}")
    for name, seconds in rows:
        print(f"{name:<52} {seconds * 1000:>10.1f} {seconds / rtt:>12.2f}")


async def run(delay: float, repeat: int) -> None:
    async with running_stack() as stack:
        table = "bench_pipelining"
        await stack.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (n int)")
        async with LatencyProxy("127.0.0.1", stack.gateway_port, delay) as proxy:
            client = ppg_edge.client(stack.connection_string, endpoint=proxy.url)
            db = ppg_edge.connect(stack.connection_string, endpoint=proxy.url)
            try:
                pipelined, one_by_one = await session_scenarios(client)
                batch, in_tx = batch_scenarios(db, table)
                rows = [
                    ("10 session queries, pipelined (gather)", pipelined),
                    ("10 session queries, sequential", one_by_one),
                    ("batch of 5 statements (incl. session open)", batch),
                    ("same 5 statements awaited in transaction()", in_tx),
                ]
                measured = [(name, await median_seconds(s, repeat)) for name, s in rows]
                measured.insert(2, (OPEN, await session_open_seconds(client, repeat)))
            finally:
                await client.aclose()
                await db.aclose()
        print(
            f"one-way delay {delay * 1000:.0f} ms, RTT {proxy.rtt * 1000:.0f} ms, "
            f"median of {repeat} runs"
        )
        report(proxy.rtt, measured)
        handshake = dict(measured)[OPEN]
        batch_time = dict(measured)["batch of 5 statements (incl. session open)"]
        print(
            f"batch of 5 minus the session handshake: {(batch_time - handshake) / proxy.rtt:.2f}"
            " round trips"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.05, help="one-way delay, seconds")
    parser.add_argument("--repeat", type=int, default=5, help="runs per scenario")
    args = parser.parse_args()
    asyncio.run(run(args.delay, args.repeat))


if __name__ == "__main__":
    main()
