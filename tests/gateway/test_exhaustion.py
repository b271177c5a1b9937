"""Clients without credentials, or with time on their side, cannot lock others out (issue 8: 4-6).

Body budgets are reserved after the login and as bytes arrive, unauthenticated
WebSockets hold no session slot, request heads and bodies have deadlines, and
connections stay under the descriptor limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from ppg_edge.core.protocol import CLOSE_POLICY_VIOLATION, STATEMENT_PATH, multipart_content_type
from ppg_edge_gateway.config import DEFAULT_AUTH_TIMEOUT, DEFAULT_MAX_BODY
from tests.support.raw import (
    BOUNDARY,
    RawHttp,
    answer_rows,
    basic_auth,
    expect_close,
    open_session,
    read_answer,
    send_statement,
)
from tests.support.raw_ws import body_of, read_http_answer, status_of
from tests.support.servers import descriptor_limit

QUICK = 1.5
"""Head, body and auth deadline of the ``quick`` gateway, in seconds."""


@pytest.fixture(scope="module")
def quick(gateway_factory: Callable[..., Any]) -> Any:
    """A gateway with short deadlines and few unauthenticated WebSockets allowed."""
    return gateway_factory(
        header_timeout=QUICK, body_timeout=QUICK, auth_timeout=QUICK, max_unauthenticated=5
    )


def statement_head(gateway: Any, password: str, length: int) -> bytes:
    """The head of a statement POST announcing ``length`` body bytes."""
    return (
        f"POST {STATEMENT_PATH}?db={gateway.database} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{gateway.port}\r\n"
        f"Authorization: {basic_auth(gateway.user, password)}\r\n"
        f"Content-Type: {multipart_content_type(BOUNDARY)}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def open_raw(gateway: Any, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(data)
    await writer.drain()
    return reader, writer


async def test_announced_bodies_reserve_nothing_before_login_or_bytes(
    http: RawHttp, gateway: Any
) -> None:
    """4 x 64 MiB announced (the whole buffer budget) with wrong and right logins, no bytes."""
    wrong = [await open_raw(gateway, statement_head(gateway, "wrong", DEFAULT_MAX_BODY))]
    wrong += [await open_raw(gateway, statement_head(gateway, "wrong", DEFAULT_MAX_BODY))]
    right = [
        await open_raw(gateway, statement_head(gateway, gateway.password, DEFAULT_MAX_BODY))
        for _ in range(4)
    ]
    try:
        await asyncio.sleep(0.5)
        for _ in range(5):
            answer = await http.query("SELECT 'served'")
            assert answer.status == 200, answer.text
            assert answer.rows == [["served"]]
        for reader, _ in wrong:  # a wrong login is refused before any body byte
            refused = await read_http_answer(reader)
            assert status_of(refused) == 401 and b"authentication failed" in body_of(refused)
    finally:
        for _, writer in wrong + right:
            writer.close()


async def test_stalled_body_is_answered_408_within_the_body_timeout(quick: Any) -> None:
    reader, writer = await open_raw(quick, statement_head(quick, quick.password, 1000))
    started = time.monotonic()
    try:
        writer.write(b"--" + BOUNDARY.encode())
        answer = await read_http_answer(reader)
    finally:
        writer.close()
    elapsed = time.monotonic() - started
    assert status_of(answer) == 408 and b"body not received within 1.5 s" in body_of(answer)
    assert QUICK - 0.2 < elapsed < QUICK + 5


async def trickle(writer: asyncio.StreamWriter, byte: bytes, seconds: float) -> None:
    """Send ``byte`` every 0.3 s for ``seconds``, until the gateway closes the connection.

    Apart from the reader, so that an answer arriving between two bytes is never lost
    and a write after the gateway closed is the end of the trickle, not a failure.
    """
    deadline = time.monotonic() + seconds
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline and not writer.is_closing():
            writer.write(byte)
            await writer.drain()
            await asyncio.sleep(0.3)


async def test_body_trickled_a_byte_at_a_time_is_cut(quick: Any) -> None:
    reader, writer = await open_raw(quick, statement_head(quick, quick.password, 1000))
    started = time.monotonic()
    sender = asyncio.create_task(trickle(writer, b"-", 10))
    try:
        answer = await read_http_answer(reader, 10)
    finally:
        sender.cancel()
        writer.close()
    assert status_of(answer) == 408, answer
    assert time.monotonic() - started < QUICK + 5


async def test_request_head_trickled_a_byte_at_a_time_is_cut(quick: Any) -> None:
    reader, writer = await open_raw(quick, b"POST /v0/statement HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    started = time.monotonic()
    sender = asyncio.create_task(trickle(writer, b"a", 10))
    try:
        answer = await asyncio.wait_for(reader.read(-1), 10)
    finally:
        sender.cancel()
        writer.close()
    elapsed = time.monotonic() - started
    assert status_of(answer) == 408 and b"request head not received within 1.5 s" in answer
    assert QUICK - 0.2 < elapsed < QUICK + 5


async def test_silent_connection_is_closed_within_the_header_timeout(quick: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", quick.port)
    started = time.monotonic()
    try:
        assert await asyncio.wait_for(reader.read(-1), 10) == b""
    finally:
        writer.close()
    assert time.monotonic() - started < QUICK + 5


async def test_keep_alive_connection_may_idle_past_the_header_timeout(quick: Any) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as client:
        http = RawHttp(client, quick)
        assert (await http.query("SELECT 1")).rows == [["1"]]
        await asyncio.sleep(QUICK + 1)
        again = await http.query("SELECT 2")
        assert again.rows == [["2"]]


async def test_unauthenticated_websockets_take_no_session_slot(gateway: Any) -> None:
    """100 sockets that never authenticate (the default session limit): real sessions go on."""
    unlimited = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=unlimited) as client:
        await _crowd_then_session(client, gateway)


async def _crowd_then_session(client: aiohttp.ClientSession, gateway: Any) -> None:
    opened = time.monotonic()
    idle = [await open_session(client, gateway, auth=False) for _ in range(100)]
    try:
        ws = await open_session(client, gateway)
        await send_statement(ws, "query", "SELECT 'still a slot'")
        assert answer_rows(await read_answer(ws)) == [["still a slot"]]
        await ws.close()
        closes = await asyncio.gather(*(expect_close(socket, 30) for socket in idle))
        elapsed = time.monotonic() - opened
    finally:
        for socket in idle:
            await socket.close()
    assert {code for code, _ in closes} == {CLOSE_POLICY_VIOLATION}
    assert all(f"no auth message within {DEFAULT_AUTH_TIMEOUT:g} s" in r for _, r in closes)
    assert elapsed < DEFAULT_AUTH_TIMEOUT + 10


async def test_auth_timeout_is_configurable(client: aiohttp.ClientSession, quick: Any) -> None:
    ws = await open_session(client, quick, auth=False)
    started = time.monotonic()
    code, reason = await expect_close(ws, 10)
    assert code == CLOSE_POLICY_VIOLATION and "no auth message within 1.5 s" in reason
    assert QUICK - 0.2 < time.monotonic() - started < QUICK + 5


async def test_unauthenticated_websockets_are_bounded(
    client: aiohttp.ClientSession, quick: Any
) -> None:
    waiting = [await open_session(client, quick, auth=False) for _ in range(5)]
    one_more = await open_session(client, quick, auth=False)
    code, reason = await expect_close(one_more, 5)
    assert code == aiohttp.WSCloseCode.TRY_AGAIN_LATER
    assert "too many sockets waiting to authenticate (limit 5)" in reason
    for ws in waiting:
        await ws.close()
    await asyncio.sleep(0.3)
    ws = await open_session(client, quick)
    await send_statement(ws, "query", "SELECT 'after the crowd'")
    assert answer_rows(await read_answer(ws)) == [["after the crowd"]]
    await ws.close()


FD_LIMIT = 640
ATTACKERS = 800
ATTACK_SECONDS = 8.0


@pytest.fixture(scope="module")
def few_descriptors(gateway_factory: Callable[..., Any]) -> Any:
    """A gateway allowed 640 descriptors, so 800 slowloris sockets would exhaust them."""
    return gateway_factory(
        popen_options=descriptor_limit(FD_LIMIT),
        header_timeout=3,
        max_connections=20,
        max_sessions=20,
    )


async def slowloris(gateway: Any, until: float, lifetimes: list[float]) -> None:
    """Trickle a request head a byte a second; a second after being cut, reconnect."""
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        except OSError:
            await asyncio.sleep(1)
            continue
        opened = time.monotonic()
        try:
            writer.write(b"POST /v0/statement HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            while time.monotonic() < until:
                writer.write(b"a")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(-1), 1.0)
                    break  # the gateway answered or closed
        except OSError:
            pass
        finally:
            if time.monotonic() < until:
                lifetimes.append(time.monotonic() - opened)
            writer.close()
        await asyncio.sleep(1)


async def test_slowloris_under_a_low_descriptor_limit_leaves_service_up(
    few_descriptors: Any,
) -> None:
    until = time.monotonic() + ATTACK_SECONDS
    lifetimes: list[float] = []
    attack = [asyncio.create_task(slowloris(few_descriptors, until, lifetimes))]
    attack += [
        asyncio.create_task(slowloris(few_descriptors, until, lifetimes))
        for _ in range(ATTACKERS - 1)
    ]
    latencies: list[float] = []
    try:
        await asyncio.sleep(2)  # the attack is in full swing
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            http = RawHttp(s, few_descriptors)
            while time.monotonic() < until - 0.5:
                started = time.monotonic()
                answer = await asyncio.wait_for(http.query("SELECT 'served'"), 10)
                latencies.append(time.monotonic() - started)
                assert answer.status == 200 and answer.rows == [["served"]], answer.text
                await asyncio.sleep(0.2)
    finally:
        await asyncio.gather(*attack, return_exceptions=True)
    log = few_descriptors.log_text()
    print(
        f"\nlegit: {len(latencies)} statements, max {max(latencies) * 1000:.0f} ms; "
        f"slowloris sockets: {len(lifetimes)} cut, longest lived {max(lifetimes):.1f} s"
    )
    assert len(latencies) >= 10 and max(latencies) < 5
    assert lifetimes and max(lifetimes) < 3 + 3
    assert "Traceback" not in log
    warnings = re.findall(r" (?:WARNING|ERROR) ", log)
    assert len(warnings) <= 2 * ATTACK_SECONDS, log[-3000:]


async def test_descriptor_exhaustion_is_one_counted_line_not_a_traceback_storm(
    gateway_factory: Callable[..., Any],
) -> None:
    """A cap set above the descriptor limit: accepting fails with EMFILE, quietly."""
    crowded = gateway_factory(
        popen_options=descriptor_limit(128), max_clients=1000, header_timeout=2
    )
    held = []
    for _ in range(300):
        with contextlib.suppress(OSError):
            held.append(await open_raw(crowded, b"GET / HTTP/1.1\r\nHost: x\r\n"))
    await asyncio.sleep(3)  # heads are cut at 2 s; accepting resumes (asyncio retries each 1 s)
    for _, writer in held:
        writer.close()
    async with aiohttp.ClientSession() as client:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = await RawHttp(client, crowded).query("SELECT 'back'")
                break
            except aiohttp.ClientError:
                assert time.monotonic() < deadline, "the gateway did not recover"
                await asyncio.sleep(0.5)
    assert answer.rows == [["back"]]
    log = crowded.log_text()
    assert "out of system resource (Too many open files)" in log
    assert "Traceback" not in log
    assert len(re.findall(r"out of system resource", log)) <= 3, log[-3000:]
