"""The timed Python workloads: ppg_edge through its public API, and asyncpg over TCP.

Each returns a `Run` (rows or statements seen, seconds, the last item) and `check` fails
the benchmark loudly when a count or the last item is not what the statement produces,
so a fast but short or wrong answer can never pass as a figure.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import ppg_edge

BURST_SQL = "SELECT $1::int AS n"
ASYNCPG_PREFETCH = 1000
"""Rows per cursor fetch for asyncpg (its default, 50, costs one round trip per 50 rows)."""


class MiscountError(RuntimeError):
    """A benchmark run saw another count or last item than its statement produces."""


@dataclass
class Run:
    """One timed run: how many rows (or statements) it saw, in how long, and the last one."""

    count: int
    seconds: float
    last: Any
    cpu_seconds: float | None = None
    """CPU time the client process spent (all its threads): steadier than wall time on a
    shared machine, though it does not credit a client for work done in parallel."""

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def cpu_rate(self) -> float:
        if self.cpu_seconds is None:
            raise ValueError("this run measured no CPU time")
        return self.count / self.cpu_seconds


def check(label: str, run: Run, count: int, last: Any) -> Run:
    """Return `run` if it saw exactly `count` items ending with `last`; raise otherwise."""
    if run.count != count:
        raise MiscountError(f"{label}: {run.count} items, expected {count}")
    if run.last != last:
        raise MiscountError(f"{label}: last item {run.last!r}, expected {last!r}")
    return run


async def ppg_http(url: str, endpoint: str, sql: str) -> Run:
    """Dict rows over HTTP with `async for`, as a user of `connect()` reads them."""
    start, cpu = time.perf_counter(), time.process_time()
    count, last = 0, None
    async with ppg_edge.connect(url, endpoint=endpoint) as db:
        async for row in db.query(sql):
            count += 1
            last = row
    return Run(count, time.perf_counter() - start, last, time.process_time() - cpu)


async def ppg_session(url: str, endpoint: str, sql: str) -> Run:
    """Dict rows over a WebSocket session (a transaction's `query`), with `async for`."""
    start, cpu = time.perf_counter(), time.process_time()
    count, last = 0, None
    async with ppg_edge.connect(url, endpoint=endpoint) as db, db.transaction() as tx:
        async for row in tx.query(sql):
            count += 1
            last = row
    return Run(count, time.perf_counter() - start, last, time.process_time() - cpu)


async def ppg_burst(url: str, endpoint: str, total: int) -> Run:
    """`total` statements issued at once on one open session; all answers collected."""
    async with ppg_edge.connect(url, endpoint=endpoint) as db:
        session = await db.client.new_session()
        async with session:
            await (await session.query("SELECT 1")).rows.collect()  # open and logged in

            async def one(n: int) -> Any:
                rows = await (await session.query(BURST_SQL, n)).rows.collect()
                return rows[0].values[0]

            start = time.perf_counter()
            values = await asyncio.gather(*(one(n) for n in range(1, total + 1)))
            seconds = time.perf_counter() - start
    if values != list(range(1, total + 1)):
        raise MiscountError("ppg_edge burst: answers out of order or wrong")
    return Run(len(values), seconds, values[-1])


async def asyncpg_cursor(dsn: dict[str, Any], sql: str) -> Run:
    """asyncpg straight to PostgreSQL over TCP: a streaming cursor in a transaction."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(**dsn)
    try:
        start = time.perf_counter()
        count, last = 0, None
        async with connection.transaction():
            async for record in connection.cursor(sql, prefetch=ASYNCPG_PREFETCH):
                count += 1
                last = record
        seconds = time.perf_counter() - start
    finally:
        await connection.close()
    return Run(count, seconds, None if last is None else dict(last))
