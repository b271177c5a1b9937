"""Streaming and back-pressure (issue point 5): a slow reader slows the gateway's reads."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import psycopg

from tests.support.raw import BOUNDARY, basic_auth, multipart_body, statement_parts

ROWS = 2_000_000
SQL = f"SELECT g, repeat('r', 60) FROM generate_series(1, {ROWS}) g"


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


async def _backend_wait_event(dsn: str) -> str | None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT wait_event FROM pg_stat_activity WHERE query = %s AND state = 'active'", [SQL]
        )
        row = await cur.fetchone()
        return None if row is None else row[0]


async def _post(session: aiohttp.ClientSession, gateway: Any, sql: str) -> aiohttp.ClientResponse:
    """POST one query as the gateway's role; the answer's head has arrived on return."""
    return await session.post(
        gateway.url + "/v0/statement",
        data=multipart_body(statement_parts("query", sql)),
        params={"db": gateway.database},
        headers={
            "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            "Authorization": basic_auth(gateway.user, gateway.password),
        },
    )


async def _open_stream(gateway: Any) -> tuple[aiohttp.ClientSession, aiohttp.ClientResponse]:
    session = aiohttp.ClientSession()
    response = await _post(session, gateway, SQL)
    assert response.status == 200
    return session, response


async def test_slow_reader_pauses_postgres_and_memory_stays_bounded(gateway: Any) -> None:
    assert gateway.process is not None
    before = _rss_kib(gateway.process.pid)
    session, response = await _open_stream(gateway)
    try:
        first = await response.content.readline()
        assert first.startswith(b'{"columns"')
        event = None
        for _ in range(50):
            await asyncio.sleep(0.1)
            event = await _backend_wait_event(gateway.direct_dsn)
            if event == "ClientWrite":
                break
        assert event == "ClientWrite", "PostgreSQL should be blocked writing to the gateway"
        grown = _rss_kib(gateway.process.pid) - before
        assert grown < 64 * 1024, f"gateway grew by {grown} KiB while the reader paused"
        for _ in range(10_000):
            assert (await response.content.readline()).startswith(b'{"values":[')
    finally:
        response.close()
        await session.close()


async def test_client_leaving_mid_stream_cancels_the_query(gateway: Any) -> None:
    session, response = await _open_stream(gateway)
    await response.content.readline()
    response.close()
    await session.close()
    for _ in range(50):
        await asyncio.sleep(0.1)
        if await _backend_wait_event(gateway.direct_dsn) is None:
            break
    assert await _backend_wait_event(gateway.direct_dsn) is None
    async with (
        aiohttp.ClientSession() as again,
        await _post(again, gateway, "SELECT 'alive'") as answer,
    ):
        assert b'"alive"' in await answer.read()


async def test_client_leaving_before_any_row_cancels_the_query(gateway: Any) -> None:
    marker = "SELECT pg_sleep(30), 'leave-before-rows'"
    session = aiohttp.ClientSession()
    request = asyncio.ensure_future(_post(session, gateway, marker))
    async with await psycopg.AsyncConnection.connect(gateway.direct_dsn, autocommit=True) as conn:
        sql = "SELECT count(*) FROM pg_stat_activity WHERE query = %s AND state = 'active'"
        for _ in range(50):
            await asyncio.sleep(0.1)
            if (await (await conn.execute(sql, [marker])).fetchone()) == (1,):
                break
        else:
            raise AssertionError("the statement never started")
        request.cancel()
        await session.close()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if (await (await conn.execute(sql, [marker])).fetchone()) == (0,):
                break
        assert (await (await conn.execute(sql, [marker])).fetchone()) == (0,)
