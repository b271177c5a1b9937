"""Streaming and back-pressure (issue point 5): a slow reader slows the gateway's reads."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import psycopg
import pytest

from ppg_edge.core.protocol import DESCRIPTOR_URN, STATEMENT_PATH
from tests.support.raw import BOUNDARY, basic_auth, multipart_body, statement_parts
from tests.support.raw_ws import RawWebSocket, text_frame

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


BIG = "SELECT generate_series(1, 100000000)"


async def _fast_stream(
    gateway: Any, transport: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A huge result asked for on a plain TCP stream, whose bytes the caller reads raw."""
    if transport == "session":
        ws = await RawWebSocket.open(gateway.port, gateway.database)
        await ws.auth(gateway.user, gateway.password)
        statement = statement_parts("query", BIG)
        await ws.send(text_frame(DESCRIPTOR_URN) + text_frame(statement[0][2]))
        return ws.reader, ws.writer
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    body = multipart_body(statement_parts("query", BIG))
    head = (
        f"POST {STATEMENT_PATH}?db={gateway.database} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Authorization: {basic_auth(gateway.user, gateway.password)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    return reader, writer


@pytest.mark.parametrize("transport", ["session", "http"])
async def test_a_reader_faster_than_the_gateway_leaves_room_for_everyone_else(
    gateway: Any, transport: str
) -> None:
    """A client that takes rows faster than the gateway writes them never makes it wait for
    the socket, and PostgreSQL has the next rows ready: other clients are still served (the
    gateway once answered them only after the whole result, 90 s later)."""
    reader, writer = await _fast_stream(gateway, transport)
    taken = 0

    async def take() -> None:
        nonlocal taken
        while data := await reader.read(1 << 20):
            taken += len(data)

    taking = asyncio.create_task(take())
    try:
        while taken < 8 << 20 and not taking.done():  # the stream is under way
            await asyncio.sleep(0.01)
        slowest = 0.0
        async with aiohttp.ClientSession() as client:
            for _ in range(10):
                started = time.monotonic()
                async with await _post(client, gateway, "SELECT 'other'") as answer:
                    assert b'"other"' in await answer.read()
                slowest = max(slowest, time.monotonic() - started)
        assert not taking.done(), "the stream ended early"
        assert slowest < 2.0, f"another client waited {slowest:.1f} s for SELECT 'other'"
    finally:
        writer.close()
        taking.cancel()
