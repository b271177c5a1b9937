"""Cancel what nobody waits for: a statement whose client went away stops at once.

Each case starts a statement tagged with a unique marker, waits until
PostgreSQL runs it, makes its client go away, and asserts through
``pg_stat_activity`` that the statement is no longer active within 1 s (the
gateway sends a libpq cancel, it does not let the statement run to
completion), that its backend is gone (the connection was discarded, not
pooled mid-statement) and that no backend of the test role leaked.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest

import ppg_edge
from ppg_edge import QueryTimeoutError
from ppg_edge.core.protocol import (
    CANCEL_URN,
    CLOSE_PROTOCOL_ERROR,
    ERROR_URN,
    SESSION_PATH,
    STATEMENT_PATH,
    WS_SUBPROTOCOL,
    WS_SUBPROTOCOL_CANCEL,
)
from tests.support.raw import (
    BOUNDARY,
    RawHttp,
    answer_rows,
    basic_auth,
    expect_close,
    multipart_body,
    multipart_content_type,
    open_session,
    read_answer,
    send_statement,
    statement_parts,
)

GONE_WITHIN = 1.0
"""The issue's bound: a cancelled statement leaves pg_stat_activity within 1 s."""
LONG = 30


def marked(sql: str) -> tuple[str, str]:
    """The statement with a unique marker comment, and the marker."""
    marker = f"cancel_{uuid.uuid4().hex}"
    return f"{sql} /* {marker} */", marker


@pytest.fixture
async def watch(gateway: Any) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection straight to PostgreSQL as the test role, for pg_stat_activity."""
    async with await psycopg.AsyncConnection.connect(gateway.direct_dsn, autocommit=True) as conn:
        yield conn


async def _active(watch: psycopg.AsyncConnection[Any], marker: str) -> list[int]:
    cur = await watch.execute(
        "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
        "AND pid <> pg_backend_pid()",
        (f"%{marker}%",),
    )
    return [row[0] for row in await cur.fetchall()]


async def running(watch: psycopg.AsyncConnection[Any], marker: str) -> int:
    """The pid of the backend running the marked statement, once it runs."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pids = await _active(watch, marker)
        if pids:
            return pids[0]
        await asyncio.sleep(0.02)
    pytest.fail(f"the statement {marker} never started")


async def gone_after(watch: psycopg.AsyncConnection[Any], marker: str, since: float) -> float:
    """Seconds from ``since`` until the marked statement is no longer active (waits up to 15 s)."""
    deadline = since + 15
    while time.monotonic() < deadline:
        if not await _active(watch, marker):
            return time.monotonic() - since
        await asyncio.sleep(0.02)
    pytest.fail(f"the statement {marker} still runs 15 s after its client went away")


async def backend_gone(watch: psycopg.AsyncConnection[Any], pid: int) -> bool:
    """True once the backend ``pid`` has exited (within 5 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cur = await watch.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        row = await cur.fetchone()
        if row == (0,):
            return True
        await asyncio.sleep(0.05)
    return False


async def role_backends(watch: psycopg.AsyncConnection[Any], gateway: Any) -> int:
    """Backends the gateways hold for the test role (the watcher's own excluded)."""
    cur = await watch.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
        (gateway.user,),
    )
    row = await cur.fetchone()
    assert row is not None
    count: int = row[0]
    return count


async def assert_cancelled(
    watch: psycopg.AsyncConnection[Any],
    gateway: Any,
    marker: str,
    pid: int,
    since: float,
    before: int,
) -> float:
    """The statement is gone within the bound, its backend closed, nothing leaked."""
    elapsed = await gone_after(watch, marker, since)
    assert elapsed < GONE_WITHIN, f"still running {elapsed:.2f} s after the client went away"
    assert await backend_gone(watch, pid), "the cancelled statement's connection was kept"
    assert await role_backends(watch, gateway) <= before
    return elapsed


async def _http_request(
    gateway: Any, sql: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a whole statement request on a raw socket; the answer is left unread."""
    body = multipart_body(statement_parts("query", sql))
    head = (
        f"POST {STATEMENT_PATH}?db={gateway.database} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{gateway.port}\r\n"
        f"Authorization: {basic_auth(gateway.user, gateway.password)}\r\n"
        f"Content-Type: {multipart_content_type(BOUNDARY)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer


async def test_http_client_gone_before_any_row(gateway: Any, watch: Any) -> None:
    before = await role_backends(watch, gateway)
    sql, marker = marked(f"SELECT pg_sleep({LONG})")
    _, writer = await _http_request(gateway, sql)
    pid = await running(watch, marker)
    writer.close()
    since = time.monotonic()
    await assert_cancelled(watch, gateway, marker, pid, since, before + 1)


async def test_http_client_gone_while_rows_stream(gateway: Any, watch: Any) -> None:
    before = await role_backends(watch, gateway)
    sql, marker = marked("SELECT generate_series(1, 100000000) AS g, repeat('x', 200) AS pad")
    reader, writer = await _http_request(gateway, sql)
    received = b""
    while b'"values"' not in received:  # rows are flowing
        received += await asyncio.wait_for(reader.read(64 * 1024), 10)
    assert received.startswith(b"HTTP/1.1 200 OK")
    pid = await running(watch, marker)
    await asyncio.sleep(0.5)  # stop reading: the gateway and PostgreSQL back up behind us
    assert await _active(watch, marker) == [pid]
    writer.close()
    since = time.monotonic()
    await assert_cancelled(watch, gateway, marker, pid, since, before + 1)


async def test_http_pool_serves_after_a_cancellation(gateway: Any, watch: Any) -> None:
    """The next statement through the same pool runs on a clean connection."""
    sql, marker = marked(f"SELECT pg_sleep({LONG})")
    _, writer = await _http_request(gateway, sql)
    await running(watch, marker)
    writer.close()
    await gone_after(watch, marker, time.monotonic())
    async with aiohttp.ClientSession() as client:
        answer = await RawHttp(client, gateway).query("SELECT 'after' AS s")
    assert answer.status == 200 and answer.rows == [["after"]]


async def test_ws_socket_closed_mid_statement(gateway: Any, watch: Any) -> None:
    before = await role_backends(watch, gateway)
    sql, marker = marked(f"SELECT pg_sleep({LONG})")
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, gateway)
        await send_statement(ws, "query", sql)
        pid = await running(watch, marker)
        since = time.monotonic()
        await ws.close()
    await assert_cancelled(watch, gateway, marker, pid, since, before + 1)


async def test_ws_connection_dropped_mid_statement(gateway: Any, watch: Any) -> None:
    """No close frame at all: the TCP connection just ends."""
    before = await role_backends(watch, gateway)
    sql, marker = marked(f"SELECT pg_sleep({LONG})")
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, gateway)
        await send_statement(ws, "query", sql)
        pid = await running(watch, marker)
        transport = ws._response.connection.transport  # type: ignore[union-attr]
        assert transport is not None
        since = time.monotonic()
        transport.abort()
        await assert_cancelled(watch, gateway, marker, pid, since, before + 1)


async def test_ws_closed_with_a_pipeline_behind_a_long_statement(gateway: Any, watch: Any) -> None:
    """Statements queued or pipelined behind the long one never run either."""
    before = await role_backends(watch, gateway)
    sql, marker = marked(f"SELECT pg_sleep({LONG})")
    behind, behind_marker = marked("SELECT pg_sleep(0) AS behind")
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, gateway)
        await send_statement(ws, "query", "SELECT pg_sleep(0.3)")
        for text in (sql, behind, behind):  # queued while the first runs: one pipeline
            await send_statement(ws, "query", text)
        assert (await read_answer(ws))[-1][0].endswith("complete")
        pid = await running(watch, marker)
        since = time.monotonic()
        await ws.close()
    await assert_cancelled(watch, gateway, marker, pid, since, before + 1)
    cur = await watch.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s", (f"%{behind_marker}%",)
    )
    assert await cur.fetchone() == (0,)


async def test_ws_session_ended_by_the_heartbeat(gateway_factory: Any, watch: Any) -> None:
    """A client that stops answering pings loses its session, and its statement with it."""
    beating = gateway_factory(heartbeat=1)
    before = await role_backends(watch, beating)
    sql, marker = marked(f"SELECT pg_sleep({LONG})")
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, beating, autoping=False)
        await send_statement(ws, "query", sql)
        pid = await running(watch, marker)
        message = await ws.receive(15)  # pings are not answered; the gateway gives up
        while message.type == aiohttp.WSMsgType.PING:
            message = await ws.receive(15)
        since = time.monotonic()
        assert message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.ERROR,
        ), message
    await assert_cancelled(watch, beating, marker, pid, since, before + 1)


async def test_driver_http_timeout_cancels_the_statement(gateway: Any, watch: Any) -> None:
    """Over HTTP the driver drops the request at its timeout: the gateway cancels."""
    db = ppg_edge.connect(gateway.connection_string, endpoint=gateway.url)
    try:
        sql, marker = marked(f"SELECT pg_sleep({LONG})")
        with pytest.raises(QueryTimeoutError):
            await db.query(sql, timeout=1).collect()
        assert await gone_after(watch, marker, time.monotonic()) < GONE_WITHIN
    finally:
        await db.aclose()


# --- A driver-side timeout on a session (the cancel extension, PROTOCOL.md section 6) ---


async def session_pid(session: Any) -> int:
    result = await session.query("SELECT pg_backend_pid() AS pid")
    rows = await result.rows.collect()
    pid: int = rows[0].values[0]
    return pid


async def test_driver_timeout_cancels_the_session_statement(gateway: Any, watch: Any) -> None:
    """The timed-out statement stops at once, and the next one on the session is prompt."""
    cl = ppg_edge.client(
        ppg_edge.default_client_config(gateway.connection_string, endpoint=gateway.url)
    )
    try:
        async with await cl.new_session() as session:
            pid = await session_pid(session)
            sql, marker = marked(f"SELECT pg_sleep({LONG})")
            with pytest.raises(QueryTimeoutError):
                await session.query(sql, timeout=1)
            since = time.monotonic()
            elapsed = await gone_after(watch, marker, since)
            assert elapsed < GONE_WITHIN
            started = time.monotonic()
            result = await asyncio.wait_for(session.query("SELECT 'next' AS s"), 10)
            assert [row.values for row in await result.rows.collect()] == [["next"]]
            assert time.monotonic() - started < GONE_WITHIN
            assert session.active and await session_pid(session) == pid  # same session
            assert session.cancels  # the gateway selected the cancel extension
    finally:
        await cl.aclose()


async def test_driver_timeout_of_a_queued_statement_skips_it(gateway: Any) -> None:
    """A statement that timed out while queued never runs; FIFO holds for the rest."""
    cl = ppg_edge.client(
        ppg_edge.default_client_config(gateway.connection_string, endpoint=gateway.url)
    )
    try:
        async with await cl.new_session() as session:
            queued = "SELECT set_config('ppg.ran', 'yes', false) AS s"
            first = asyncio.ensure_future(session.query("SELECT pg_sleep(1.5), 1 AS n"))
            await asyncio.sleep(0.3)
            with pytest.raises(QueryTimeoutError):
                await session.query(queued, timeout=0.3)
            one = await asyncio.wait_for(first, 10)
            assert [row.values[1] for row in await one.rows.collect()] == [1]
            result = await session.query("SELECT 'after' AS s")
            assert [row.values for row in await result.rows.collect()] == [["after"]]
            ran = await session.query("SELECT current_setting('ppg.ran', true) AS ran")
            assert [row.values for row in await ran.rows.collect()] in ([[None]], [[""]])
    finally:
        await cl.aclose()


async def test_official_offer_gets_the_standard_subprotocol(gateway: Any) -> None:
    """A client offering only prisma-postgres-1.0 (the official one) sees no change."""
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, gateway)
        assert ws.protocol == WS_SUBPROTOCOL
        await ws.send_str(CANCEL_URN)  # not a message of the standard protocol
        code, _ = await expect_close(ws)
        assert code == CLOSE_PROTOCOL_ERROR


async def _extended_session(client: aiohttp.ClientSession, gateway: Any) -> Any:
    ws = await client.ws_connect(
        gateway.ws_url + SESSION_PATH,
        protocols=(WS_SUBPROTOCOL, WS_SUBPROTOCOL_CANCEL),
        params={"db": gateway.database},
    )
    assert ws.protocol == WS_SUBPROTOCOL_CANCEL
    await ws.send_str(json.dumps({"username": gateway.user, "password": gateway.password}))
    return ws


async def test_raw_cancel_of_a_queued_statement(gateway: Any) -> None:
    async with aiohttp.ClientSession() as client:
        ws = await _extended_session(client, gateway)
        await send_statement(ws, "query", "SELECT pg_sleep(0.5), 1")
        await send_statement(ws, "query", "SELECT 2")
        await send_statement(ws, "query", "SELECT 3")
        await ws.send_str(CANCEL_URN)
        await ws.send_str(json.dumps({"statement": 2}))
        assert answer_rows(await read_answer(ws)) == [["", "1"]]
        skipped = await read_answer(ws)
        assert skipped[-1][0] == ERROR_URN and skipped[-1][1]["error"]["code"] == "57014"
        assert answer_rows(await read_answer(ws)) == [["3"]]
        await ws.send_str(CANCEL_URN)  # an answered statement: ignored
        await ws.send_str(json.dumps({"statement": 1}))
        await send_statement(ws, "query", "SELECT 4")
        assert answer_rows(await read_answer(ws)) == [["4"]]
        await ws.close()


@pytest.mark.parametrize(
    "body", ['{"statement": 9}', '{"statement": 0}', '{"statement": true}', "[1]", "{"]
)
async def test_raw_cancel_that_names_no_statement_is_a_protocol_error(
    gateway: Any, body: str
) -> None:
    async with aiohttp.ClientSession() as client:
        ws = await _extended_session(client, gateway)
        await send_statement(ws, "query", "SELECT 1")
        await ws.send_str(CANCEL_URN)
        await ws.send_str(body)
        code, reason = await expect_close(ws)
        assert code == CLOSE_PROTOCOL_ERROR and "cancel" in reason


async def test_raw_cancel_of_a_pipelined_statement_lets_it_finish(gateway: Any) -> None:
    """PostgreSQL already holds the statements behind it: a cancel could hit one of them."""
    async with aiohttp.ClientSession() as client:
        ws = await _extended_session(client, gateway)
        await send_statement(ws, "query", "SELECT pg_sleep(0.3)")
        for text in ("SELECT pg_sleep(0.3), 2", "SELECT 3", "SELECT 4"):
            await send_statement(ws, "query", text)  # queued: they run as one pipeline
        assert (await read_answer(ws))[-1][0] != ERROR_URN
        await ws.send_str(CANCEL_URN)
        await ws.send_str(json.dumps({"statement": 2}))
        assert answer_rows(await read_answer(ws)) == [["", "2"]]
        assert answer_rows(await read_answer(ws)) == [["3"]]
        assert answer_rows(await read_answer(ws)) == [["4"]]
        await ws.close()


async def test_raw_cancel_never_hits_the_next_statement(gateway: Any) -> None:
    """Cancels timed around the end of their statement: the one behind is never cancelled."""
    rng = random.Random(11)
    outcomes = set()
    async with aiohttp.ClientSession() as client:
        ws = await _extended_session(client, gateway)
        for round_ in range(30):
            await send_statement(ws, "query", "SELECT pg_sleep(0.05)")
            await asyncio.sleep(rng.uniform(0.03, 0.08))
            await ws.send_str(CANCEL_URN)
            await ws.send_str(json.dumps({"statement": 2 * round_ + 1}))
            await send_statement(ws, "query", "SELECT pg_sleep(0.05), 'next'")
            first = await read_answer(ws)
            outcomes.add(first[-1][0])
            assert answer_rows(await read_answer(ws)) == [["", "next"]], f"round {round_}"
        await ws.close()
    assert ERROR_URN in outcomes  # some cancels did stop their statement


async def blocked_writing(watch: psycopg.AsyncConnection[Any], pid: int) -> None:
    """Wait until backend ``pid`` stays blocked writing its rows (nobody reads them): seen
    so in every look for half a second, not just for a moment."""
    deadline, looks = time.monotonic() + 15, 0
    while time.monotonic() < deadline and looks < 10:
        cur = await watch.execute("SELECT wait_event FROM pg_stat_activity WHERE pid = %s", (pid,))
        looks = looks + 1 if await cur.fetchone() == ("ClientWrite",) else 0
        await asyncio.sleep(0.05)
    if looks < 10:
        pytest.fail(f"backend {pid} never stayed blocked writing to the gateway")


@pytest.mark.parametrize("wait", ["at_once", "once_every_buffer_is_full"])
async def test_driver_stopping_a_session_stream_early_stops_the_statement(
    gateway: Any, watch: Any, wait: str
) -> None:
    """A consumer that stops reading a huge result gives it up: the rows stop at the source.

    Also when it gives up only once every buffer is full, and then reads nothing more: the
    gateway must go on reading PostgreSQL, which acts on a cancel only once it can write.
    """
    cl = ppg_edge.client(
        ppg_edge.default_client_config(gateway.connection_string, endpoint=gateway.url)
    )
    try:
        async with await cl.new_session() as session:
            sql, marker = marked("SELECT generate_series(1, 100000000) AS g")
            result = await session.query(sql)
            seen = []
            async for batch in result.rows.batches():
                seen.extend(row.values[0] for row in batch)
                if len(seen) >= 5:
                    break
            if wait == "once_every_buffer_is_full":
                await blocked_writing(watch, await running(watch, marker))
            await result.rows.aclose()
            assert seen[:5] == [1, 2, 3, 4, 5]
            assert await gone_after(watch, marker, time.monotonic()) < GONE_WITHIN
            after = await asyncio.wait_for(session.query("SELECT 'next' AS s"), 10)
            assert [row.values for row in await after.rows.collect()] == [["next"]]
    finally:
        await cl.aclose()


async def test_raw_cancel_of_the_last_statement_of_a_pipeline(gateway: Any, watch: Any) -> None:
    """Last in its pipeline, a statement is cancelled once those before it are answered."""
    long, marker = marked(f"SELECT pg_sleep({LONG})")
    async with aiohttp.ClientSession() as client:
        ws = await _extended_session(client, gateway)
        await send_statement(ws, "query", "SELECT pg_sleep(0.3)")
        for text in ("SELECT pg_sleep(0.5), 2", long):  # queued: they run as one pipeline
            await send_statement(ws, "query", text)
        assert (await read_answer(ws))[-1][0] != ERROR_URN
        await ws.send_str(CANCEL_URN)  # while statement 2 still runs: the cancel waits
        await ws.send_str(json.dumps({"statement": 3}))
        assert answer_rows(await read_answer(ws)) == [["", "2"]]
        started = time.monotonic()
        cancelled = await read_answer(ws)
        assert cancelled[-1][0] == ERROR_URN and cancelled[-1][1]["error"]["code"] == "57014"
        assert time.monotonic() - started < GONE_WITHIN
        assert not await _active(watch, marker)
        await send_statement(ws, "query", "SELECT 4")
        assert answer_rows(await read_answer(ws)) == [["4"]]
        await ws.close()
