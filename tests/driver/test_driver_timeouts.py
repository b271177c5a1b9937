"""Timeouts and cancellation: client-wide and per-statement `timeout=` raise
QueryTimeoutError, stopping early releases the server's work, and a session stays
consistent after a statement is cancelled or a stream is abandoned."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import QueryTimeoutError

pytestmark = pytest.mark.asyncio

SLEEP = "SELECT pg_sleep(5) AS slept"


async def _raises_timeout_quickly(awaitable: Any, limit: float = 3.0) -> QueryTimeoutError:
    start = time.perf_counter()
    with pytest.raises(QueryTimeoutError) as caught:
        await asyncio.wait_for(awaitable, 15)
    assert time.perf_counter() - start < limit
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, ppg_edge.GenericError)
    return caught.value


async def _active_queries(direct: psycopg.AsyncConnection[Any], marker: str) -> int:
    cur = await direct.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE %s AND pid <> pg_backend_pid()",
        (f"%{marker}%",),
    )
    row = await cur.fetchone()
    assert row is not None
    count: int = row[0]
    return count


async def _until_gone(direct: psycopg.AsyncConnection[Any], marker: str) -> None:
    for _ in range(100):
        if await _active_queries(direct, marker) == 0:
            return
        await asyncio.sleep(0.1)
    pytest.fail("the abandoned statement is still running on the server")


async def test_client_wide_timeout(gateway: Any) -> None:
    db = ppg_edge.connect(gateway.connection_string, endpoint=gateway.url, timeout=0.5)
    try:
        await _raises_timeout_quickly(db.query(SLEEP).collect())
        await _raises_timeout_quickly(db.exec(SLEEP))
        assert await db.query("SELECT 1 AS one").collect() == [{"one": 1}]
    finally:
        await db.aclose()


async def test_per_statement_timeout(db: Any) -> None:
    await _raises_timeout_quickly(db.query(SLEEP, timeout=0.5).collect())
    await _raises_timeout_quickly(db.exec(SLEEP, timeout=0.5))
    await _raises_timeout_quickly(db.sql("SELECT pg_sleep({})", 5, timeout=0.5).collect())
    await _raises_timeout_quickly(db.sql.exec("SELECT pg_sleep({})", 5, timeout=0.5))
    assert await db.query("SELECT 2 AS two", timeout=5).collect() == [{"two": 2}]


async def test_per_statement_timeout_overrides_client_default(gateway: Any) -> None:
    db = ppg_edge.connect(gateway.connection_string, endpoint=gateway.url, timeout=0.3)
    try:
        rows = await db.query("SELECT pg_sleep(0.8), 'done' AS s", timeout=5).collect()
        assert rows[0]["s"] == "done"
    finally:
        await db.aclose()


async def test_timeout_inside_transaction_rolls_back(
    db: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table("n int")

    async def work() -> None:
        async with db.transaction() as tx:
            await tx.exec(f"INSERT INTO {table} (n) VALUES ($1)", 1)
            await tx.query(SLEEP, timeout=0.5).collect()

    await _raises_timeout_quickly(work())
    cur = await direct.execute(f"SELECT count(*) FROM {table}")
    assert await cur.fetchone() == (0,)


async def test_timeout_when_server_never_answers(gateway: Any) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # read forever, answer nothing
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    db = ppg_edge.connect(
        gateway.connection_string, endpoint=f"http://127.0.0.1:{port}", timeout=0.5
    )
    try:
        await _raises_timeout_quickly(db.query("SELECT 1").collect())
        await _raises_timeout_quickly(db.batch(ppg_edge.Query("SELECT 1")))
    finally:
        await db.aclose()
        server.close()


async def test_stopping_an_http_stream_early_releases_the_server(
    db: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    marker = f"stop_early_{uuid.uuid4().hex}"
    rows = db.query(f"SELECT g, pg_sleep(0.01) /* {marker} */ FROM generate_series(1, 100000) g")
    seen = []
    async for row in rows:
        seen.append(row["g"])
        if len(seen) == 10:
            break
    await rows.aclose()
    assert seen == list(range(1, 11))
    await _until_gone(direct, marker)
    assert await db.query("SELECT 3 AS n").collect() == [{"n": 3}]


async def test_cancelled_async_for_releases_the_server(
    db: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    marker = f"cancel_for_{uuid.uuid4().hex}"
    first_rows = asyncio.Event()

    async def consume() -> None:
        async for _ in db.query(
            f"SELECT g, pg_sleep(0.01) /* {marker} */ FROM generate_series(1, 100000) g"
        ):
            first_rows.set()

    task = asyncio.ensure_future(consume())
    await asyncio.wait_for(first_rows.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _until_gone(direct, marker)
    assert await db.query("SELECT 4 AS n").collect() == [{"n": 4}]


@pytest.fixture
async def session(cl: Any) -> AsyncIterator[Any]:
    async with await cl.new_session() as opened:
        yield opened


async def _values(session: Any, sql: str, *params: Any) -> list[list[Any]]:
    result = await asyncio.wait_for(session.query(sql, *params), 10)
    return [row.values for row in await asyncio.wait_for(result.rows.collect(), 10)]


async def test_abandoned_session_stream_keeps_session_consistent(session: Any) -> None:
    # A server without the cancel extension drains the rest (PROTOCOL.md section 6): keep it modest.
    result = await session.query("SELECT g FROM generate_series(1, 20000) g")
    seen = []
    async for row in result.rows:
        seen.append(row.values[0])
        if len(seen) == 5:
            break
    await result.rows.aclose()
    assert seen == [1, 2, 3, 4, 5]
    assert await _values(session, "SELECT 'next' AS s") == [["next"]]
    assert session.active


async def test_cancelled_pending_session_statement_keeps_session_consistent(
    session: Any,
) -> None:
    pending = asyncio.ensure_future(session.query("SELECT pg_sleep(0.5), 'slow' AS s"))
    await asyncio.sleep(0.1)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    assert await _values(session, "SELECT 'next' AS s") == [["next"]]
    assert await _values(session, "SELECT $1::int AS n", 5) == [[5]]
    assert session.active


async def test_cancelled_statement_behind_others_keeps_fifo(session: Any) -> None:
    first = asyncio.ensure_future(session.query("SELECT pg_sleep(0.3), 1 AS n"))
    second = asyncio.ensure_future(session.query("SELECT 2 AS n"))
    third = asyncio.ensure_future(session.query("SELECT 3 AS n"))
    await asyncio.sleep(0.05)
    second.cancel()
    one = await asyncio.wait_for(first, 10)
    three = await asyncio.wait_for(third, 10)
    assert [row.values[1] for row in await one.rows.collect()] == [1]
    assert [row.values for row in await three.rows.collect()] == [[3]]
    assert await _values(session, "SELECT 4 AS n") == [[4]]
