"""The driver against hostile or broken servers (issue 8, points 13-18): every one
ends in a typed error within a bound, in bounded memory, never a hang or a wrong
result. The servers are the deliberately broken ones of `broken_server`."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import pytest

import ppg_edge
from ppg_edge import ConnectTimeoutError, ProtocolError, ValidationError, WebSocketError
from ppg_edge.core.config import CLOSE_HANDSHAKE_TIMEOUT
from ppg_edge.core.protocol import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_PROTOCOL_ERROR,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
)
from ppg_edge.runtime.cpython_http import KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL
from tests.driver.broken_server import (
    RawPeer,
    broken_server,
    never_answer,
    raw_server,
    streaming_server,
)

pytestmark = pytest.mark.asyncio

URL = "postgres://user:pw@db.example.com/db"
MiB = 1 << 20
GiB = 1 << 30
COMPLETE = {"complete": True}
INT_COLUMN = {"columns": [{"name": "n", "typeOid": 23}]}
EXEC_COLUMN = {"columns": [{"name": "rowsAffected", "typeOid": 23}]}


async def _session(server_url: str, **options: Any) -> tuple[ppg_edge.Client, ppg_edge.Session]:
    client = ppg_edge.client(URL, endpoint=server_url, **options)
    return client, await asyncio.wait_for(client.new_session(), 10)


async def _opened(peer: RawPeer) -> None:
    """Accept the upgrade and read the credentials message."""
    await peer.accept()
    await peer.receive()


async def _until_closed(peer: RawPeer) -> None:
    while await peer.receive() is not None:
        pass


# --- 13: an NDJSON line has a length cap ------------------------------------------


async def _endless_line() -> AsyncIterator[bytes]:
    """A description, then a row whose line goes on for 1 GiB and never ends."""
    yield json.dumps(INT_COLUMN).encode() + b'\n{"values": ["'
    chunk = b"7" * (64 * 1024)
    for _ in range(GiB // len(chunk)):
        yield chunk


async def test_endless_ndjson_line_is_cut_at_the_cap_in_bounded_memory() -> None:
    cap = 1 * MiB
    async with streaming_server(_endless_line) as server:
        db = ppg_edge.connect(URL, endpoint=server.url, max_frame_bytes=cap)
        tracemalloc.start()
        try:
            with pytest.raises(ProtocolError, match="max_frame_bytes"):
                await asyncio.wait_for(db.query("SELECT n").collect(), 60)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await db.aclose()
    # The client stopped reading right after the cap (the rest sat in socket buffers).
    assert server.sent < 256 * MiB, f"the client read {server.sent / MiB:.0f} MiB"
    assert peak < 16 * cap, f"peak traced memory {peak / MiB:.1f} MiB"


async def test_a_session_message_over_the_cap_closes_1009() -> None:
    async def oversized(peer: RawPeer) -> None:
        await _opened(peer)
        await peer.statement()
        peer.frame(DESCRIPTION_URN, {"columns": [{"name": "x" * (2 * MiB), "typeOid": 25}]})
        await peer.writer.drain()
        await _until_closed(peer)

    async with raw_server(oversized) as server:
        client, session = await _session(server.url, max_frame_bytes=1 * MiB)
        try:
            with pytest.raises(WebSocketError) as caught:
                await asyncio.wait_for(session.query("SELECT 1"), 10)
            assert caught.value.close_code == CLOSE_MESSAGE_TOO_BIG
        finally:
            await session.close()
            await client.aclose()


# --- 14: deeply nested JSON is a ProtocolError on both transports ---------------------

NESTINGS = [b"[" * 100_000, b'{"a": ' * 100_000]


@pytest.mark.parametrize("nesting", NESTINGS, ids=["arrays", "objects"])
async def test_deeply_nested_json_over_http_is_a_protocol_error(nesting: bytes) -> None:
    body = json.dumps(INT_COLUMN).encode() + b"\n" + nesting + b"\n"
    async with broken_server(body) as server:
        db = ppg_edge.connect(URL, endpoint=server.url)
        try:
            with pytest.raises(ProtocolError, match="nested too deeply"):
                await asyncio.wait_for(db.query("SELECT n").collect(), 10)
        finally:
            await db.aclose()


@pytest.mark.parametrize("nesting", NESTINGS, ids=["arrays", "objects"])
async def test_deeply_nested_json_over_a_session_is_a_protocol_error(nesting: bytes) -> None:
    async def nested(peer: RawPeer) -> None:
        await _opened(peer)
        await peer.statement()
        peer.frame(DESCRIPTION_URN, nesting.decode())
        await peer.writer.drain()
        await _until_closed(peer)

    async with raw_server(nested) as server:
        client, session = await _session(server.url)
        try:
            with pytest.raises(ProtocolError, match="nested too deeply"):
                await asyncio.wait_for(session.query("SELECT 1"), 10)
            assert not session.active
        finally:
            await session.close()
            await client.aclose()
    assert server.peers[0].close_code == CLOSE_PROTOCOL_ERROR


# --- 15: a ping flood from a server that stopped reading ---------------------------


async def test_ping_flood_from_a_server_that_stopped_reading_is_bounded() -> None:
    """The server reads one statement, floods 100,000 pings, answers, and never reads
    again: the pongs the client owes stay bounded, and close() still returns."""
    pings = 100_000
    ping = bytes([0x89, 120]) + b"p" * 120

    async def flooding(peer: RawPeer) -> None:
        await _opened(peer)
        await peer.statement()
        peer.writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 32768
        )  # the kernel cannot soak up the pongs either
        for _ in range(pings // 1000):
            peer.writer.write(ping * 1000)
            await peer.writer.drain()
        peer.frame(DESCRIPTION_URN, INT_COLUMN)
        peer.frame(DATAROW_URN, {"values": ["1"]})
        peer.frame(COMPLETE_URN, COMPLETE)
        await peer.writer.drain()
        await asyncio.sleep(120)  # never reads again, never answers the close

    async with raw_server(flooding) as server:
        client, session = await _session(server.url)
        try:
            result = await asyncio.wait_for(session.query("SELECT 1"), 60)
            assert [row.values for row in await result.rows.collect()] == [[1]]
            # The answer came behind every ping; one pong each would leave about
            # 100,000 x 126 bytes (12 MiB) unsent, less what the kernels hold.
            backlog = session._socket._writer.transport.get_write_buffer_size()  # type: ignore[attr-defined]
            assert backlog < 1 * MiB, f"{backlog / MiB:.1f} MiB of pongs queued"
            started = time.perf_counter()
            await asyncio.wait_for(session.close(), CLOSE_HANDSHAKE_TIMEOUT + 15)
            assert time.perf_counter() - started < CLOSE_HANDSHAKE_TIMEOUT + 5
            assert not session.active
        finally:
            await client.aclose()


# --- 16: an answer frame with no statement to answer ---------------------------------


async def test_an_answer_before_the_statement_was_sent_is_a_protocol_error() -> None:
    """The server answers as soon as it has the descriptor, while the statement's 16 MiB
    parameter is still on its way: that answer can belong to no statement."""

    async def early(peer: RawPeer) -> None:
        await _opened(peer)
        await peer.receive()  # descriptor URN
        await peer.receive()  # descriptor; the parameter follows
        peer.frame(COMPLETE_URN, COMPLETE)
        await peer.writer.drain()
        await asyncio.sleep(1)  # read nothing meanwhile: the upload is stuck
        await _until_closed(peer)

    async with raw_server(early) as server:
        client, session = await _session(server.url)
        try:
            with pytest.raises(ProtocolError, match="before the statement"):
                await asyncio.wait_for(session.query("SELECT $1", b"\x00" * (16 * MiB)), 20)
            assert not session.active
        finally:
            await session.close()
            await client.aclose()


async def test_a_stray_frame_ahead_of_an_exec_answer_closes_the_session() -> None:
    """A stray `complete` ahead of the answers to a pipelined exec and query: the exec's
    answer no longer fits it, so the session fails both and closes, instead of handing
    the exec's answer to the query."""

    async def stray(peer: RawPeer) -> None:
        await _opened(peer)
        await peer.statement()
        await peer.statement()
        peer.frame(COMPLETE_URN, COMPLETE)  # answers nothing
        for frame in ((DESCRIPTION_URN, EXEC_COLUMN), (DATAROW_URN, {"values": ["0"]})):
            peer.frame(*frame)
        peer.frame(COMPLETE_URN, COMPLETE)
        peer.frame(DESCRIPTION_URN, INT_COLUMN)
        peer.frame(DATAROW_URN, {"values": ["2"]})
        peer.frame(COMPLETE_URN, COMPLETE)
        await peer.writer.drain()
        await _until_closed(peer)

    async def rows(result: Any) -> list[Any]:
        return [row.values for row in await (await result).rows.collect()]

    async with raw_server(stray) as server:
        client, session = await _session(server.url)
        try:
            first = session.exec("UPDATE t SET n = 0 WHERE false")
            second = rows(session.query("SELECT 2 AS n"))
            outcomes = await asyncio.wait_for(
                asyncio.gather(first, second, return_exceptions=True), 10
            )
            assert [type(outcome) for outcome in outcomes] == [ProtocolError, ProtocolError]
            assert not session.active
        finally:
            await session.close()
            await client.aclose()
    assert server.peers[0].close_code == CLOSE_PROTOCOL_ERROR


# --- 17: a malformed template is a ValidationError -------------------------------------


@pytest.mark.parametrize(
    "template", ["SELECT {²}", "SELECT {①} AS n", "SELECT {" + "9" * 5000 + "}"]
)
async def test_malformed_template_fields_are_validation_errors(template: str) -> None:
    db = ppg_edge.connect(URL, endpoint="http://127.0.0.1:9")  # nothing is ever sent
    try:
        with pytest.raises(ValidationError):
            db.sql(template, 1)
        with pytest.raises(ValidationError):
            await db.sql.exec(template, 1)
    finally:
        await db.aclose()


# --- 18: connecting is bounded; dead peers are found by keep-alive -----------------------


async def _times_out_connecting(attempt: Any, limit: float) -> float:
    started = time.perf_counter()
    with pytest.raises(ConnectTimeoutError) as caught:
        await asyncio.wait_for(attempt, limit + 20)
    elapsed = time.perf_counter() - started
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value, ppg_edge.GenericError)
    assert "pw" not in str(caught.value)
    assert limit * 0.9 < elapsed < limit + 5
    return elapsed


async def test_a_session_to_a_server_that_never_answers_times_out_connecting() -> None:
    async with raw_server(never_answer) as server:
        client = ppg_edge.client(URL, endpoint=server.url, connect_timeout=0.5)
        try:
            await _times_out_connecting(client.new_session(), 0.5)
        finally:
            await client.aclose()


async def test_a_statement_to_a_tls_server_that_never_answers_times_out_connecting() -> None:
    async with raw_server(never_answer) as server:
        endpoint = server.url.replace("http://", "https://")
        db = ppg_edge.connect(URL, endpoint=endpoint, connect_timeout=0.5)
        try:
            await _times_out_connecting(db.query("SELECT 1").collect(), 0.5)
        finally:
            await db.aclose()


def _keepalive(sock: Any) -> dict[str, int]:
    seen = {"SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)}
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"):
        option = getattr(socket, name, None)
        if option is not None:
            seen[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
    return seen


async def test_the_driver_sockets_have_tcp_keepalive(gateway: Any) -> None:
    db = ppg_edge.connect(gateway.connection_string, endpoint=gateway.url)
    try:
        assert await db.query("SELECT 1 AS one").collect() == [{"one": 1}]
        pool = db.client.runtime._pool  # type: ignore[attr-defined]
        sockets = [
            conn.writer.get_extra_info("socket") for idle in pool._idle.values() for conn in idle
        ]
        async with await db.client.new_session() as session:
            sockets.append(session._socket._writer.get_extra_info("socket"))  # type: ignore[attr-defined]
            assert len(sockets) == 2
            expected = {
                "SO_KEEPALIVE": 1,
                "TCP_KEEPIDLE": KEEPALIVE_IDLE,
                "TCP_KEEPINTVL": KEEPALIVE_INTERVAL,
                "TCP_KEEPCNT": KEEPALIVE_COUNT,
            }
            for sock in sockets:
                seen = _keepalive(sock)
                assert seen == {name: expected[name] for name in seen}
                assert seen["SO_KEEPALIVE"] == 1
    finally:
        await db.aclose()
