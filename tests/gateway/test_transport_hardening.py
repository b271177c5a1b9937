"""Odd bytes, broken frames, vanished peers: a reason on every refusal, quiet logs (issue 8).

Points 7 (non-ASCII Content-Type), 9 (frame-level violations close with a code
and a reason), 11 (no secret in any log line), 12 (malformed requests and
vanished clients are one quiet line, a fully answered request keeps its status
and its pooled connection) and the heartbeat that rolls back a dead peer's
transaction.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg
import pytest

from ppg_edge.core.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    COMPLETE_URN,
    DESCRIPTOR_URN,
    ERROR_URN,
    STATEMENT_PATH,
    WS_SUBPROTOCOL,
    multipart_content_type,
)
from ppg_edge_gateway.config import DEFAULT_AUTH_TIMEOUT
from tests.support.raw import (
    BOUNDARY,
    answer_rows,
    basic_auth,
    expect_close,
    multipart_body,
    open_session,
    read_answer,
    send_statement,
    statement_parts,
)
from tests.support.raw_ws import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    RawWebSocket,
    body_of,
    frame,
    raw_http,
    read_http_answer,
    status_of,
    text_frame,
)
from tests.support.servers import Gateway

INVALID_TEXT = 1007
IDLE = 4


@pytest.fixture(scope="module")
def watched(gateway_factory: Callable[..., Any]) -> Gateway:
    """A gateway of its own, so its log holds only this module's traffic."""
    gateway: Gateway = gateway_factory(heartbeat=1, idle_timeout=IDLE)
    return gateway


def post_head(gateway: Gateway, content_type: bytes, length: int, auth: str | None = None) -> bytes:
    """A statement POST head with a raw Content-Type."""
    return (
        f"POST {STATEMENT_PATH}?db={gateway.database} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: {auth or basic_auth(gateway.user, gateway.password)}\r\n".encode()
        + b"Content-Type: "
        + content_type
        + f"\r\nContent-Length: {length}\r\n\r\n".encode()
    )


SELECT_ONE = multipart_body(statement_parts("query", "SELECT 1"))


@pytest.mark.parametrize(
    "content_type",
    [
        b"multipart/form-data; bound\xffary=" + BOUNDARY.encode(),
        b"multipart/form-data; boundary=" + BOUNDARY.encode() + b"\xff",
        b"multipart/form-data; boundary=" + BOUNDARY.encode() + b"; x=\xe9",
        b"multipart/form-d\xe9ta; boundary=" + BOUNDARY.encode(),
    ],
)
async def test_non_ascii_content_type_is_400_with_a_reason(
    watched: Gateway, content_type: bytes
) -> None:
    answer = await raw_http(
        watched.port, post_head(watched, content_type, len(SELECT_ONE)) + SELECT_ONE
    )
    assert status_of(answer) == 400, answer
    assert body_of(answer).startswith(b"bad request: ")
    body_of(answer).decode("utf-8")  # the reason itself is valid UTF-8


async def session(gateway: Gateway, *, auth: bool) -> RawWebSocket:
    ws = await RawWebSocket.open(gateway.port, gateway.database)
    if auth:
        await ws.auth(gateway.user, gateway.password)
        await send_raw_statement(ws, "SELECT 1")
        assert (await read_raw_answer(ws))[-1][0] == COMPLETE_URN
    return ws


async def send_raw_statement(ws: RawWebSocket, sql: str) -> None:
    await ws.send(text_frame(DESCRIPTOR_URN) + text_frame(json.dumps({"query": sql})))


async def read_raw_answer(ws: RawWebSocket) -> list[tuple[str, Any]]:
    """URN/JSON pairs up to complete or error (pings skipped, never answered)."""
    pairs: list[tuple[str, Any]] = []
    texts: list[str] = []
    while True:
        received = await ws.read_frame()
        assert received is not None and received.opcode != OP_CLOSE, received
        if received.opcode != OP_TEXT:
            continue
        texts.append(received.payload.decode())
        if len(texts) == 2:
            pairs.append((texts[0], json.loads(texts[1])))
            if texts[0] in (COMPLETE_URN, ERROR_URN):
                return pairs
            texts = []


VIOLATIONS: dict[str, tuple[bytes, set[int]]] = {
    "invalid UTF-8 text": (text_frame(b"\xff\xfe"), {INVALID_TEXT}),
    # A message valid in either phase but unmasked (RFC 6455 5.1: the server must fail it).
    "unmasked frame": (text_frame(DESCRIPTOR_URN, mask=False), {CLOSE_PROTOCOL_ERROR}),
    "reserved bit": (text_frame("x", rsv=2), {CLOSE_PROTOCOL_ERROR}),
    "compression bit without deflate": (text_frame("x", rsv=4), {CLOSE_PROTOCOL_ERROR}),
    "reserved opcode": (frame(0x3, b"x"), {CLOSE_PROTOCOL_ERROR}),
    "fragmented ping": (frame(OP_PING, b"x", fin=False), {CLOSE_PROTOCOL_ERROR}),
    "ping over 125 bytes": (frame(OP_PING, b"x" * 126), {CLOSE_PROTOCOL_ERROR}),
    "oversized message": (frame(OP_BINARY, b"", declared=1 << 40), {CLOSE_MESSAGE_TOO_BIG}),
    "continuation first": (frame(OP_CONTINUATION, b"x"), {CLOSE_PROTOCOL_ERROR}),
    "text inside a fragmented message": (
        text_frame("a", fin=False) + text_frame("b"),
        {CLOSE_PROTOCOL_ERROR},
    ),
    "invalid close code": (frame(OP_CLOSE, struct.pack("!H", 1)), {CLOSE_PROTOCOL_ERROR}),
    "one-byte close payload": (frame(OP_CLOSE, b"\x03"), {CLOSE_PROTOCOL_ERROR}),
    # aiohttp lets these through (1006 is in its own list; it checks nothing from 3000 up),
    # and echoed them with 1000: RFC 6455 7.4 reserves 1005, 1006 and 1015, and ends at 4999.
    "close code 1006 on the wire": (
        frame(OP_CLOSE, struct.pack("!H", 1006)),
        {CLOSE_PROTOCOL_ERROR},
    ),
    "close code over 4999": (frame(OP_CLOSE, struct.pack("!H", 5000)), {CLOSE_PROTOCOL_ERROR}),
}


@pytest.mark.parametrize("authenticated", [False, True], ids=["before-auth", "in-session"])
@pytest.mark.parametrize("violation", list(VIOLATIONS))
async def test_frame_violation_closes_with_a_code_and_a_reason(
    watched: Gateway, violation: str, authenticated: bool
) -> None:
    data, codes = VIOLATIONS[violation]
    ws = await session(watched, auth=authenticated)
    try:
        await ws.send(data)
        closed = await ws.read_close()
    finally:
        ws.close()
    assert closed is not None, "the gateway dropped the connection without a close frame"
    code, reason = closed
    assert code in codes and reason.strip(), (code, reason)
    if violation == "unmasked frame":
        assert "masked" in reason


@pytest.mark.parametrize("code", [1000, 1001, 3000, 4999])
async def test_a_valid_client_close_is_answered_normally(watched: Gateway, code: int) -> None:
    ws = await session(watched, auth=True)
    try:
        await ws.send(frame(OP_CLOSE, struct.pack("!H", code) + b"bye"))
        closed = await ws.read_close()
    finally:
        ws.close()
    assert closed is not None and closed[0] == 1000, closed


async def test_non_ascii_websocket_key_is_400_with_a_reason(watched: Gateway) -> None:
    head = (
        (
            f"GET /v0/session?db={watched.database} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {WS_SUBPROTOCOL}\r\n"
        ).encode()
        + b"Sec-WebSocket-Key: "
        + b"\xff" * 24
        + b"\r\n\r\n"
    )
    reader, writer = await asyncio.open_connection("127.0.0.1", watched.port)
    try:
        writer.write(head)
        answer = await read_http_answer(reader)
    finally:
        writer.close()
    assert status_of(answer) == 400, answer
    assert b"Sec-WebSocket-Key" in body_of(answer)


async def test_auth_message_over_its_cap_closes_1009_before_it_is_buffered(
    watched: Gateway,
) -> None:
    ws = await RawWebSocket.open(watched.port, watched.database)
    try:
        await ws.send(text_frame(b"", declared=10 * 1024 * 1024))  # 10 MiB announced, none sent
        closed = await ws.read_close()
    finally:
        ws.close()
    assert closed is not None and closed[0] == CLOSE_MESSAGE_TOO_BIG
    assert "auth message" in closed[1]


def oversized_requests(user: str, password: str) -> list[bytes]:
    """Requests that carry ``password`` in a place aiohttp's parser refuses as too long."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [
        f"POST /v0/statement HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {token}\r\n\r\n".encode(),
        f"GET /v0/statement?password={password} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        f"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-Authorization: Basic {token}\r\n\r\n".encode(),
        f"GET / HTTP/1.1\r\nHost: x\r\nCookie: session={token}\r\n\r\n".encode(),
    ]


async def test_no_log_line_quotes_a_secret_from_an_oversized_header(watched: Gateway) -> None:
    password = "pw-" + secrets.token_hex(8) + "-" + "z" * 9000
    for request in oversized_requests(watched.user, password):
        answer = await raw_http(watched.port, request)
        assert status_of(answer) == 400 and b"longer than" in body_of(answer), answer[:200]
    await asyncio.sleep(0.3)
    log = watched.log_text()
    token = base64.b64encode(f"{watched.user}:{password}".encode()).decode()
    assert password[:12] not in log
    # Any 12-character stretch of the base64 (aligned or not) would leak part of the password.
    assert not any(token[i : i + 12] in log for i in range(0, 48)), log[-2000:]
    assert "longer than 8190 bytes" in log


MALFORMED = [
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
    b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X: " + b"y" * 9000 + b"\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
]


async def test_malformed_requests_are_one_quiet_line_each(watched: Gateway) -> None:
    before = watched.log_text()
    for request in MALFORMED * 3:
        answer = await raw_http(watched.port, request)
        assert status_of(answer) == 400 and body_of(answer).startswith(b"bad request: "), answer
    await asyncio.sleep(0.3)
    new = watched.log_text()[len(before) :]
    assert "Traceback" not in new and " ERROR " not in new, new[:3000]
    assert len(re.findall(r" INFO ppg_edge_gateway: bad request from ", new)) == 3 * len(MALFORMED)


def reset(ws: RawWebSocket) -> None:
    """Abort the TCP connection (RST), as a crashed client or a middlebox does."""
    sock: socket.socket = ws.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    ws.writer.transport.abort()


async def wait_for_log(gateway: Gateway, pattern: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while not re.search(pattern, log := gateway.log_text()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return log


async def test_client_reset_while_the_gateway_writes_is_not_an_error(watched: Gateway) -> None:
    before = len(watched.log_text())
    for _ in range(3):
        ws = await session(watched, auth=True)
        await send_raw_statement(ws, "SELECT repeat('x', 1000) FROM generate_series(1, 200000)")
        assert await ws.read_frame() is not None
        await asyncio.sleep(0.5)  # the gateway is blocked on a full socket by now
        reset(ws)
    deadline = time.monotonic() + 10
    while True:
        new = watched.log_text()[before:]
        sessions = [line for line in new.splitlines() if "WS /v0/session" in line]
        if len(sessions) >= 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert len(sessions) == 3, new[:3000]
    assert "session executor failed" not in new and "Traceback" not in new, new[:3000]
    assert all("close=1011" not in line for line in sessions), sessions


async def test_http_client_reset_mid_answer_is_a_quiet_499(watched: Gateway) -> None:
    before = len(watched.log_text())
    body = multipart_body(
        statement_parts("query", "SELECT repeat('x', 1000) FROM generate_series(1, 200000)")
    )
    content_type = multipart_content_type(BOUNDARY).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", watched.port)
    writer.write(post_head(watched, content_type, len(body)) + body)
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(0.5)
    sock: socket.socket = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    log = await wait_for_log(watched, r"POST /v0/statement 499")
    new = log[before:]
    assert "POST /v0/statement 499" in new and "client went away" in new
    assert "Traceback" not in new and " ERROR " not in new, new[:3000]


async def test_answer_sent_in_full_keeps_its_status_and_its_connection(
    postgres: Any, gateway_factory: Callable[..., Any]
) -> None:
    """The client closes right after the last byte, while the gateway resets the connection
    (100 ms away from PostgreSQL): logged 200, and the connection is reused afterwards."""
    from tests.support.latency import delay_proxy

    async with delay_proxy(postgres.host, postgres.port, 0.05) as port:
        far: Gateway = gateway_factory(upstream=f"postgres://127.0.0.1:{port}")
        body = multipart_body(statement_parts("query", "SELECT pg_backend_pid()"))
        head = post_head(far, multipart_content_type(BOUNDARY).encode(), len(body))
        pids = []
        for _ in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", far.port)
            writer.write(head + body)
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 30)
            writer.close()  # at once: the gateway's ROLLBACK / DISCARD ALL is still on its way
            pids.append(re.findall(rb'"values":\["(\d+)"\]', answer))
            await wait_for_log(far, r"POST /v0/statement (200|499)(.*\n.*POST /v0/statement)?")
            await asyncio.sleep(0.5)
        log = far.log_text()
    lines = [line for line in log.splitlines() if "POST /v0/statement" in line]
    assert len(lines) == 2 and all(" 200 " in line for line in lines), lines
    assert pids[0] and pids[0] == pids[1], pids  # the same pooled backend served both


async def test_dead_peer_mid_transaction_is_rolled_back_within_the_heartbeat(
    watched: Gateway,
) -> None:
    """A client that stops answering (no pong, no close) while it holds a row lock."""
    async with await psycopg.AsyncConnection.connect(watched.direct_dsn, autocommit=True) as db:
        await db.execute("CREATE TABLE IF NOT EXISTS heartbeat_lock (id int PRIMARY KEY)")
        await db.execute("INSERT INTO heartbeat_lock VALUES (1) ON CONFLICT DO NOTHING")
        ws = await session(watched, auth=True)
        for sql in ("BEGIN", "SELECT id FROM heartbeat_lock WHERE id = 1 FOR UPDATE"):
            await send_raw_statement(ws, sql)
            assert (await read_raw_answer(ws))[-1][0] == COMPLETE_URN
        went_silent = time.monotonic()  # from here on the client reads nothing
        await db.execute("SET lock_timeout = '200ms'")
        while True:
            try:
                await db.execute("SELECT id FROM heartbeat_lock WHERE id = 1 FOR UPDATE")
                break
            except psycopg.errors.LockNotAvailable:
                assert time.monotonic() - went_silent < 15, "the dead peer still holds its lock"
        released = time.monotonic() - went_silent
        ws.close()
    print(f"\nlock released {released:.1f} s after the peer went silent (heartbeat 1 s)")
    assert released < 10
    log = await wait_for_log(watched, r"WS /v0/session .*PONG")
    assert re.search(r"WS /v0/session .*No PONG received", log)


async def test_live_peer_answering_pings_keeps_its_session_but_not_past_the_idle_timeout(
    watched: Gateway,
) -> None:
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, watched)
        await send_statement(ws, "query", "SELECT 'awake'")
        assert answer_rows(await read_answer(ws)) == [["awake"]]
        started = time.monotonic()
        # receive() answers the gateway's pings (one a second) while it waits.
        code, reason = await expect_close(ws, 3 * IDLE)
    assert code == CLOSE_GOING_AWAY and "idle timeout" in reason
    assert IDLE - 0.5 < time.monotonic() - started < IDLE + 3


async def test_pings_do_not_stretch_the_auth_timeout(watched: Gateway) -> None:
    """The auth timeout (5 s by default) holds even for a socket that keeps pinging."""
    ws = await RawWebSocket.open(watched.port, watched.database)
    started = time.monotonic()
    closed = None
    try:
        while closed is None and time.monotonic() - started < 15:
            await ws.send(frame(OP_PING, b"still here"))
            with contextlib.suppress(TimeoutError):
                closed = await ws.read_close(0.5)
    finally:
        ws.close()
    assert closed is not None and closed[0] == 1008 and "no auth message" in closed[1]
    assert time.monotonic() - started < DEFAULT_AUTH_TIMEOUT + 3
