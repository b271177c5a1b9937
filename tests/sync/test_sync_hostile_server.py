"""The synchronous face against the async tests' hostile or broken servers: a typed error
within a bound, in bounded memory, never a hang or a wrong result."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import ppg_edge
from ppg_edge import ConnectTimeoutError, ProtocolError, QueryTimeoutError, WebSocketError
from ppg_edge.core.protocol import CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR, DESCRIPTION_URN
from ppg_edge.runtime.cpython_http import KEEPALIVE_COUNT, KEEPALIVE_IDLE, KEEPALIVE_INTERVAL
from tests.driver.broken_server import (
    RawPeer,
    broken_server,
    never_answer,
    raw_server,
    streaming_server,
)
from tests.sync.conftest import BackgroundLoop

URL = "postgres://user:pw@db.example.com/db"
MiB = 1 << 20
GiB = 1 << 30
INT_COLUMN = {"columns": [{"name": "n", "typeOid": 23}]}


async def _endless_line() -> AsyncIterator[bytes]:
    yield json.dumps(INT_COLUMN).encode() + b'\n{"values": ["'
    chunk = b"7" * (64 * 1024)
    for _ in range(GiB // len(chunk)):
        yield chunk


def test_endless_ndjson_line_is_cut_at_the_cap_in_bounded_memory(
    background: BackgroundLoop,
) -> None:
    cap = 1 * MiB
    with (
        background.entered(streaming_server(_endless_line)) as server,
        ppg_edge.connect_sync(URL, endpoint=server.url, max_frame_bytes=cap, timeout=60) as db,
    ):
        tracemalloc.start()
        try:
            with pytest.raises(ProtocolError, match="max_frame_bytes"):
                db.query("SELECT n").collect()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert server.sent < 256 * MiB, f"the client read {server.sent / MiB:.0f} MiB"
    assert peak < 16 * cap, f"peak traced memory {peak / MiB:.1f} MiB"


async def _opened(peer: RawPeer) -> None:
    await peer.accept()
    await peer.receive()


async def _until_closed(peer: RawPeer) -> None:
    while await peer.receive() is not None:
        pass


def _answering(payload: str) -> Callable[[RawPeer], Any]:
    async def handler(peer: RawPeer) -> None:
        await _opened(peer)
        await peer.statement()
        peer.frame(DESCRIPTION_URN, payload)
        await peer.writer.drain()
        await _until_closed(peer)

    return handler


def test_a_session_message_over_the_cap_closes_1009(background: BackgroundLoop) -> None:
    payload = json.dumps({"columns": [{"name": "x" * (2 * MiB), "typeOid": 25}]})
    with background.entered(raw_server(_answering(payload))) as server:
        client = ppg_edge.client_sync(URL, endpoint=server.url, max_frame_bytes=MiB, timeout=10)
        with client, client.new_session() as session:
            with pytest.raises(WebSocketError) as caught:
                session.query("SELECT 1")
            assert caught.value.close_code == CLOSE_MESSAGE_TOO_BIG


NESTINGS = [b"[" * 100_000, b'{"a": ' * 100_000]


@pytest.mark.parametrize("nesting", NESTINGS, ids=["arrays", "objects"])
def test_deeply_nested_json_over_http_is_a_protocol_error(
    nesting: bytes, background: BackgroundLoop
) -> None:
    body = json.dumps(INT_COLUMN).encode() + b"\n" + nesting + b"\n"
    with (
        background.entered(broken_server(body)) as server,
        ppg_edge.connect_sync(URL, endpoint=server.url, timeout=10) as db,
        pytest.raises(ProtocolError, match="nested too deeply"),
    ):
        db.query("SELECT n").collect()


@pytest.mark.parametrize("nesting", NESTINGS, ids=["arrays", "objects"])
def test_deeply_nested_json_over_a_session_is_a_protocol_error(
    nesting: bytes, background: BackgroundLoop
) -> None:
    with background.entered(raw_server(_answering(nesting.decode()))) as server:
        client = ppg_edge.client_sync(URL, endpoint=server.url, timeout=10)
        with client, client.new_session() as session:
            with pytest.raises(ProtocolError, match="nested too deeply"):
                session.query("SELECT 1")
            assert not session.active
        time.sleep(0.2)  # let the peer see the close frame
    assert server.peers[0].close_code == CLOSE_PROTOCOL_ERROR


def _times_out_connecting(attempt: Callable[[], Any], limit: float) -> None:
    started = time.perf_counter()
    with pytest.raises(ConnectTimeoutError) as caught:
        attempt()
    elapsed = time.perf_counter() - started
    assert isinstance(caught.value, TimeoutError)
    assert "pw" not in str(caught.value)
    assert limit * 0.9 < elapsed < limit + 5


def test_a_session_to_a_server_that_never_answers_times_out_connecting(
    background: BackgroundLoop,
) -> None:
    with (
        background.entered(raw_server(never_answer)) as server,
        ppg_edge.client_sync(URL, endpoint=server.url, connect_timeout=0.5) as client,
    ):
        _times_out_connecting(client.new_session, 0.5)


def test_a_statement_to_a_tls_server_that_never_answers_times_out_connecting(
    background: BackgroundLoop,
) -> None:
    with background.entered(raw_server(never_answer)) as server:
        endpoint = server.url.replace("http://", "https://")
        with ppg_edge.connect_sync(URL, endpoint=endpoint, connect_timeout=0.5) as db:
            _times_out_connecting(lambda: db.query("SELECT 1").collect(), 0.5)


def _keepalive(sock: socket.socket) -> dict[str, int]:
    seen = {
        "SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
        "TCP_NODELAY": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY),
    }
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"):
        option = getattr(socket, name, None)
        if option is not None:
            seen[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
    return seen


def test_the_driver_sockets_have_tcp_keepalive_and_nodelay(gateway: Any) -> None:
    with ppg_edge.connect_sync(gateway.connection_string, endpoint=gateway.url) as db:
        assert db.query("SELECT 1 AS one").collect() == [{"one": 1}]
        pool = db.client.runtime.pool  # type: ignore[attr-defined]
        sockets = [conn.sock for idle in pool._idle.values() for conn in idle]
        with db.client.new_session() as session:
            sockets.append(session._socket._sock)  # type: ignore[attr-defined]
            assert len(sockets) == 2
            expected = {
                "SO_KEEPALIVE": 1,
                "TCP_NODELAY": 1,
                "TCP_KEEPIDLE": KEEPALIVE_IDLE,
                "TCP_KEEPINTVL": KEEPALIVE_INTERVAL,
                "TCP_KEEPCNT": KEEPALIVE_COUNT,
            }
            for sock in sockets:
                seen = _keepalive(sock)
                assert seen == {name: expected[name] for name in seen}
                assert seen["SO_KEEPALIVE"] == 1


def test_a_session_statement_to_a_server_that_stopped_reading_times_out(
    background: BackgroundLoop,
) -> None:
    """The statement's messages fill every buffer on the way: the blocking send must be
    bounded by the statement's timeout, not wait for a server that will never read."""

    async def stop_reading(peer: RawPeer) -> None:
        await _opened(peer)
        await asyncio.sleep(60)  # read nothing more; cancelled when the test ends

    big = b"\x01" * (64 * MiB)
    outcome: list[BaseException | None] = []

    def run(client: ppg_edge.SyncClient) -> None:
        try:
            with client.new_session() as session:
                session.exec("SELECT length($1::bytea)", big, timeout=1.0)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    with (
        background.entered(raw_server(stop_reading)) as server,
        ppg_edge.client_sync(URL, endpoint=server.url) as client,
    ):
        started = time.perf_counter()
        worker = threading.Thread(target=run, args=(client,), daemon=True)  # the test's watch
        worker.start()
        worker.join(20)
        assert not worker.is_alive(), "the statement hung on a server that stopped reading"
    assert isinstance(outcome[0], QueryTimeoutError), outcome
    assert time.perf_counter() - started < 10
