"""HTTP connection pools against the real PostgreSQL: idle connections have a global cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg

from ppg_edge.gateway.upstream import Connection, Credentials, Pools, Upstream


async def live_backends(dsn: str, pids: list[int], expected: set[int]) -> set[int]:
    """Which of these backends PostgreSQL still runs, once that is ``expected`` or after 5 s.

    A closed connection's backend exits a moment after the close.
    """
    deadline = time.monotonic() + 5
    while (live := await _live(dsn, pids)) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return live


async def _live(dsn: str, pids: list[int]) -> set[int]:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
        return {pid for (pid,) in await cur.fetchall()}


async def test_idle_connections_are_capped_globally_oldest_closed_first(
    postgres: Any, gateway: Any
) -> None:
    pools = Pools(Upstream(postgres.host, postgres.port), 10, max_idle=8, max_idle_total=3)
    logins = [
        Credentials(gateway.user, gateway.password, gateway.database),
        Credentials(gateway.user, gateway.password, None),
    ]
    try:
        async with contextlib.AsyncExitStack() as stack:
            held: list[Connection] = []
            for index in range(5):
                held.append(await stack.enter_async_context(pools.connection(logins[index % 2])))
            pids = [conn.info.backend_pid for conn in held]
        # Returned in reverse order of entry: the first connection opened is returned last.
        assert pools.idle_count() == 3
        survivors = await live_backends(postgres.superuser_dsn, pids, set(pids[:3]))
        assert survivors == set(pids[:3])
    finally:
        await pools.close()
    assert await live_backends(postgres.superuser_dsn, pids, set()) == set()
