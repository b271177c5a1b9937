"""HTTP connection pools against the real PostgreSQL: idle connections have a global cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import psycopg

from ppg_edge_gateway.upstream import Connection, Credentials, Pools, Upstream


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


async def test_concurrent_clients_of_one_login_reuse_their_connections(
    postgres: Any, gateway: Any
) -> None:
    """Twelve concurrent statements of one login, twice: the second round logs in nowhere.

    (With a fixed idle bound of 8 per login, 4 of the 12 logged in afresh every round.)
    """
    pools = Pools(Upstream(postgres.host, postgres.port), 12)
    login = Credentials(gateway.user, gateway.password, gateway.database)

    async def one_round() -> set[int]:
        async with contextlib.AsyncExitStack() as stack:
            held = [await stack.enter_async_context(pools.connection(login)) for _ in range(12)]
            return {conn.info.backend_pid for conn in held}

    try:
        first = await one_round()
        assert pools.idle_count() == 12
        assert await one_round() == first
    finally:
        await pools.close()


async def test_idle_and_active_connections_stay_within_max_connections(
    postgres: Any, gateway: Any
) -> None:
    """Idle connections of one login make room for another login's statement."""
    pools = Pools(Upstream(postgres.host, postgres.port), 3)
    first = Credentials(gateway.user, gateway.password, gateway.database)
    other = Credentials(gateway.user, gateway.password, None)  # another pool key
    try:
        async with contextlib.AsyncExitStack() as stack:
            held = [await stack.enter_async_context(pools.connection(first)) for _ in range(3)]
            pids = [conn.info.backend_pid for conn in held]
        assert pools.idle_count() == 3
        async with pools.connection(other) as conn:
            assert pools.idle_count() == 2  # the oldest idle one was closed for this login
            opened = conn.info.backend_pid
        survivors = await live_backends(postgres.superuser_dsn, [*pids, opened], set())
        assert len(survivors) <= 3
    finally:
        await pools.close()
