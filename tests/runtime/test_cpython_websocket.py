"""WebSockets of the CPython runtime against real aiohttp and raw wsproto servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    TextMessage,
)

from ppg_edge.core.config import CLOSE_HANDSHAKE_TIMEOUT
from ppg_edge.core.protocol import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    WS_SUBPROTOCOL,
)
from ppg_edge.runtime.base import SEND_NOW_LIMIT, WebSocketClosed, WebSocketRejected
from ppg_edge.runtime.cpython import ConnectTimeoutError, CPythonRuntime, Limits
from ppg_edge.runtime.cpython_websocket import FRAGMENT_SIZE

ServeApp = Callable[..., Awaitable[str]]
ServeRaw = Callable[..., Awaitable[int]]
PeerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]
MiB = 1024 * 1024


def ws_url(base: str, path: str) -> str:
    return base.replace("http", "ws", 1) + path


def ws_app(seen: dict[str, object]) -> web.Application:
    """An echo endpoint plus endpoints that close in various ways."""

    async def echo(request: web.Request) -> web.WebSocketResponse:
        seen["header"] = request.headers.get("X-Test")
        ws = web.WebSocketResponse(protocols=[WS_SUBPROTOCOL], max_msg_size=64 * MiB)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        seen["close_code"] = ws.close_code
        seen["close_reason"] = ws.close_message if hasattr(ws, "close_message") else None
        return ws

    async def policy(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=[WS_SUBPROTOCOL])
        await ws.prepare(request)
        await ws.receive()
        await ws.send_str("first")
        await ws.close(code=CLOSE_POLICY_VIOLATION, message=b"authentication failed")
        return ws

    async def small(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=[WS_SUBPROTOCOL], max_msg_size=1024)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    async def unauthorized(request: web.Request) -> web.Response:
        return web.Response(status=401, text="bad credentials for this database")

    async def flood(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=[WS_SUBPROTOCOL])
        await ws.prepare(request)
        block = b"z" * int(request.query.get("size", 64 * 1024))
        for i in range(int(request.query["n"])):
            await ws.send_bytes(i.to_bytes(4, "big") + block)
            seen["sent"] = i + 1
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_get("/policy", policy)
    app.router.add_get("/small", small)
    app.router.add_get("/unauthorized", unauthorized)
    app.router.add_get("/flood", flood)
    return app


async def test_echo_with_subprotocol_headers_and_close(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    seen: dict[str, object] = {}
    base = await serve_app(ws_app(seen))
    ws = await runtime.websocket(
        ws_url(base, "/echo"), ["other", WS_SUBPROTOCOL], [("X-Test", "present")]
    )
    assert ws.subprotocol == WS_SUBPROTOCOL
    assert seen["header"] == "present"
    await ws.send("héllo ✓")
    assert await ws.receive() == "héllo ✓"
    await ws.send(b"\x00\x01binary")
    assert await ws.receive() == b"\x00\x01binary"
    await ws.close(CLOSE_NORMAL, "bye")
    with pytest.raises(WebSocketClosed) as info:
        await ws.receive()
    assert info.value.code == CLOSE_NORMAL
    await asyncio.sleep(0.1)
    assert seen["close_code"] == CLOSE_NORMAL
    with pytest.raises(WebSocketClosed):
        await ws.send("after close")


async def test_large_binary_and_text_messages_round_trip(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(ws_app({}))
    ws = await runtime.websocket(ws_url(base, "/echo"), [WS_SUBPROTOCOL])
    payload = os.urandom(20 * MiB + 3)
    await ws.send(payload)
    assert await ws.receive() == payload
    text = "ü" * (3 * MiB)
    await ws.send(text)
    assert await ws.receive() == text
    await ws.close()


async def test_send_many_is_one_write_and_receive_many_takes_every_queued_message(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(ws_app({}))
    ws = await runtime.websocket(ws_url(base, "/echo"), [WS_SUBPROTOCOL])
    writes: list[int] = []
    write = ws._writer.write  # type: ignore[attr-defined]
    ws._writer.write = lambda data: (writes.append(len(data)), write(data))  # type: ignore[attr-defined]
    sent = ["urn:one", '{"a": "é"}', b"\x00bin", "last"]
    await ws.send_many(sent)
    assert len(writes) == 1  # the whole statement in one transport write
    await asyncio.sleep(0.3)  # every echo has arrived
    assert await asyncio.wait_for(ws.receive_many(), 5) == sent  # all of them, in one call
    big = "b" * (FRAGMENT_SIZE + 10)
    writes.clear()
    await ws.send_many(["before", big, "after"])
    assert len(writes) == 4  # "before"; the big one's two fragments; "after"
    got: list[object] = []
    while len(got) < 3:
        got += await asyncio.wait_for(ws.receive_many(), 10)
    assert got == ["before", big, "after"]
    await ws.close()
    with pytest.raises(WebSocketClosed):
        await ws.receive_many()


async def test_send_now_writes_at_once_or_sends_nothing(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    """One write when the socket can take it without waiting; otherwise False and nothing
    written: too much at once, a send_many under way, a transport over its high-water
    mark, a closed socket."""
    base = await serve_app(ws_app({}))
    ws = await runtime.websocket(ws_url(base, "/echo"), [WS_SUBPROTOCOL])
    writer = ws._writer  # type: ignore[attr-defined]
    writes: list[int] = []
    write = writer.write
    writer.write = lambda data: (writes.append(len(data)), write(data))
    sent = ["urn:one", '{"a": "é"}', b"\x00bin"]
    assert ws.send_now(sent) is True
    assert len(writes) == 1
    got: list[object] = []
    while len(got) < 3:
        got += await asyncio.wait_for(ws.receive_many(), 5)
    assert got == sent
    writes.clear()
    assert ws.send_now(["x" * (SEND_NOW_LIMIT + 1)]) is False
    async with ws._send_lock:  # type: ignore[attr-defined]  # as while send_many drains
        assert ws.send_now(["during"]) is False
    transport = writer.transport
    transport.set_write_buffer_limits(high=0)
    size = transport.get_write_buffer_size
    transport.get_write_buffer_size = lambda: 1  # bytes wait in the transport
    assert ws.send_now(["over the mark"]) is False
    transport.get_write_buffer_size = size
    assert writes == []
    await ws.send("after")  # the socket is intact: nothing half-sent
    assert await asyncio.wait_for(ws.receive(), 5) == "after"
    assert len(writes) == 1
    await ws.close()
    closed = list(writes)
    assert ws.send_now(["closed"]) is False
    assert writes == closed


async def test_receive_many_returns_what_came_before_the_close_then_raises(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(ws_app({}))
    ws = await runtime.websocket(ws_url(base, "/policy"), [WS_SUBPROTOCOL])
    await ws.send("auth")
    await asyncio.sleep(0.3)  # "first" and the close frame have both arrived
    assert await asyncio.wait_for(ws.receive_many(), 5) == ["first"]
    with pytest.raises(WebSocketClosed) as info:
        await asyncio.wait_for(ws.receive_many(), 5)
    assert info.value.code == CLOSE_POLICY_VIOLATION


async def test_server_close_1008_with_reason_after_a_message(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(ws_app({}))
    ws = await runtime.websocket(ws_url(base, "/policy"), [WS_SUBPROTOCOL])
    await ws.send('{"username": "u", "password": "p"}')
    assert await ws.receive() == "first"
    for _ in range(2):
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert (info.value.code, info.value.reason) == (
            CLOSE_POLICY_VIOLATION,
            "authentication failed",
        )
    await ws.close()


async def test_server_close_1009_for_an_oversized_message(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(ws_app({}))
    ws = await runtime.websocket(ws_url(base, "/small"), [WS_SUBPROTOCOL])
    await ws.send("ok")
    assert await ws.receive() == "ok"
    await ws.send("x" * 5000)
    with pytest.raises(WebSocketClosed) as info:
        await asyncio.wait_for(ws.receive(), 5)
    assert info.value.code == CLOSE_MESSAGE_TOO_BIG


async def test_handshake_rejected_with_401(runtime: CPythonRuntime, serve_app: ServeApp) -> None:
    base = await serve_app(ws_app({}))
    with pytest.raises(WebSocketRejected) as info:
        await runtime.websocket(ws_url(base, "/unauthorized"), [WS_SUBPROTOCOL])
    assert info.value.status == 401
    assert isinstance(info.value, ConnectionError)
    assert "401" in str(info.value)
    assert "bad credentials for this database" in str(info.value)
    with pytest.raises(WebSocketRejected) as missing:
        await runtime.websocket(ws_url(base, "/nowhere"), [WS_SUBPROTOCOL])
    assert missing.value.status == 404


async def test_abrupt_drop_is_1006(
    runtime: CPythonRuntime,
    serve_raw: ServeRaw,
    ws_peer: PeerFactory,
) -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.accept(WS_SUBPROTOCOL)
        peer.send(TextMessage(data="only message"))
        await writer.drain()
        writer.transport.abort()

    port = await serve_raw(drop)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    assert ws.subprotocol == WS_SUBPROTOCOL
    assert await ws.receive() == "only message"
    with pytest.raises(WebSocketClosed) as info:
        await asyncio.wait_for(ws.receive(), 5)
    assert info.value.code == 1006
    await ws.close()


async def test_fragments_pings_and_client_close(
    runtime: CPythonRuntime,
    serve_raw: ServeRaw,
    ws_peer: PeerFactory,
) -> None:
    log: list[object] = []

    async def fragmenting(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.accept(WS_SUBPROTOCOL)
        log.append(peer.request.extra_headers if peer.request else None)
        for piece in ("frag", "men", "ted ✓"):
            peer.send(TextMessage(data=piece, message_finished=piece.endswith("✓")))
            await writer.drain()
            await asyncio.sleep(0.02)
        peer.send(Ping(payload=b"are you there"))
        peer.send(BytesMessage(data=b"\x01\x02", message_finished=False))
        peer.send(BytesMessage(data=b"\x03", message_finished=True))
        await writer.drain()
        while True:
            event = await peer.next_event()
            log.append(event)
            if isinstance(event, CloseConnection):
                peer.send(event.response())
                await writer.drain()
                return

    port = await serve_raw(fragmenting)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/path?db=x", [WS_SUBPROTOCOL])
    assert await ws.receive() == "fragmented ✓"
    assert await ws.receive() == b"\x01\x02\x03"
    await ws.close(CLOSE_POLICY_VIOLATION, "client says bye")
    events = log[1:]
    assert Pong(payload=b"are you there") in events
    assert CloseConnection(code=CLOSE_POLICY_VIOLATION, reason="client says bye") in events


async def test_frames_in_the_same_segment_as_the_101_are_not_lost(
    runtime: CPythonRuntime, serve_raw: ServeRaw, ws_peer: PeerFactory
) -> None:
    async def eager(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.read_request()
        engine = peer.engine
        writer.write(  # one write: the 101 head, a text message, a fragmented binary one
            engine.send(AcceptConnection(subprotocol=WS_SUBPROTOCOL))
            + engine.send(TextMessage(data="first"))
            + engine.send(BytesMessage(data=b"sec", message_finished=False))
            + engine.send(BytesMessage(data=b"ond", message_finished=True))
        )
        await writer.drain()
        event = await peer.next_event()
        if isinstance(event, CloseConnection):
            peer.send(event.response())
            await writer.drain()

    port = await serve_raw(eager)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    assert ws.subprotocol == WS_SUBPROTOCOL
    assert await asyncio.wait_for(ws.receive(), 5) == "first"
    assert await asyncio.wait_for(ws.receive(), 5) == b"second"
    await ws.close()


async def test_server_without_subprotocol_and_protocol_violation(
    runtime: CPythonRuntime,
    serve_raw: ServeRaw,
    ws_peer: PeerFactory,
) -> None:
    async def bad_frame(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.accept(None)
        writer.write(b"\x81\x05hello\x8f\x00")  # a text frame, then a reserved opcode
        await writer.drain()
        await asyncio.sleep(1)

    port = await serve_raw(bad_frame)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    assert ws.subprotocol is None
    assert await ws.receive() == "hello"
    with pytest.raises(WebSocketClosed) as info:
        await asyncio.wait_for(ws.receive(), 5)
    assert info.value.code == 1002
    await ws.close()


@pytest.mark.parametrize(
    ("limits", "size", "count", "most"),
    [
        # 100 MiB in 64 KiB messages: the bound on the number of queued messages
        (Limits(max_queued_messages=8, max_queued_bytes=1 * MiB), 64 * 1024, 1600, 200),
        # 200 MiB in 1 MiB messages, each over many reads: the byte bound must weigh each
        # whole, not just the read that completes it, or the queue holds dozens of them
        (Limits(max_message_size=2 * MiB, max_queued_bytes=2 * MiB), MiB, 200, 20),
    ],
    ids=["messages", "bytes"],
)
async def test_receive_back_pressure_stops_the_sender(
    serve_app: ServeApp, limits: Limits, size: int, count: int, most: int
) -> None:
    seen: dict[str, object] = {}
    base = await serve_app(ws_app(seen))
    rt = CPythonRuntime(websocket_limits=limits)
    try:
        ws = await rt.websocket(ws_url(base, f"/flood?n={count}&size={size}"), [WS_SUBPROTOCOL])
        await asyncio.sleep(1.0)
        sent = seen["sent"]
        assert isinstance(sent, int)
        assert sent < most, f"server pushed {sent} messages into a client that read none"
        for i in range(count):
            message = await asyncio.wait_for(ws.receive(), 10)
            assert isinstance(message, bytes)
            assert int.from_bytes(message[:4], "big") == i
        with pytest.raises(WebSocketClosed) as info:
            await ws.receive()
        assert info.value.code == CLOSE_NORMAL
    finally:
        await rt.aclose()


async def test_client_limit_on_incoming_message_size(serve_app: ServeApp) -> None:
    base = await serve_app(ws_app({}))
    rt = CPythonRuntime(websocket_limits=Limits(max_message_size=1000))
    ws = await rt.websocket(ws_url(base, "/echo"), [WS_SUBPROTOCOL])
    await ws.send("y" * 999)
    assert await ws.receive() == "y" * 999
    await ws.send("y" * 1001)
    with pytest.raises(WebSocketClosed) as info:
        await asyncio.wait_for(ws.receive(), 5)
    assert info.value.code == CLOSE_MESSAGE_TOO_BIG
    await ws.close()


async def test_send_cancelled_mid_message_drops_the_connection(
    runtime: CPythonRuntime, serve_raw: ServeRaw, ws_peer: PeerFactory
) -> None:
    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.accept(WS_SUBPROTOCOL)
        await asyncio.sleep(5)

    port = await serve_raw(deaf)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ws.send(b"q" * (64 * MiB)), 0.5)
    with pytest.raises(WebSocketClosed) as info:
        await ws.send("next message")
    assert info.value.code == 1006
    with pytest.raises(WebSocketClosed):
        await asyncio.wait_for(ws.receive(), 2)
    await ws.close()


async def test_handshake_timeout(serve_raw: ServeRaw) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)

    port = await serve_raw(mute)
    rt = CPythonRuntime(connect_timeout=0.3)
    with pytest.raises(ConnectTimeoutError, match="handshake timed out"):
        await rt.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    await rt.aclose()


def _ping_frames(count: int, payload: bytes) -> bytes:
    """`count` unmasked server pings with the same payload, as raw bytes."""
    return (bytes([0x89, len(payload)]) + payload) * count


async def test_a_ping_flood_unread_by_the_server_gets_one_late_pong(
    runtime: CPythonRuntime, serve_raw: ServeRaw, ws_peer: PeerFactory
) -> None:
    """A server that floods pings while reading nothing: the client's unsent pongs stay
    bounded, and once the server reads again it gets a pong for the latest ping."""
    pings = 100_000
    pongs: list[bytes] = []
    reading = asyncio.Event()

    async def flooding(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.accept(WS_SUBPROTOCOL)
        # A small, fixed receive buffer: the kernel cannot soak up the pongs either.
        writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        for _ in range(pings // 1000):
            writer.write(_ping_frames(1000, b"p" * 120))
            await writer.drain()
        peer.send(Ping(payload=b"the latest"))
        peer.send(TextMessage(data="flood over"))
        await writer.drain()
        await reading.wait()
        while True:
            event = await peer.next_event()
            if isinstance(event, Pong):
                pongs.append(event.payload)
                if event.payload == b"the latest":
                    return

    port = await serve_raw(flooding)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    assert await asyncio.wait_for(ws.receive(), 60) == "flood over"
    # Every ping was handled before that message; answering each one would leave
    # 100,000 x 126 bytes (12 MiB) unsent, less the few MiB the kernels hold.
    backlog = ws._writer.transport.get_write_buffer_size()  # type: ignore[attr-defined]
    assert backlog < 1 * MiB, f"{backlog} bytes of pongs queued"
    reading.set()
    for _ in range(200):
        if pongs and pongs[-1] == b"the latest":
            break
        await asyncio.sleep(0.05)
    assert pongs and pongs[-1] == b"the latest"
    assert len(pongs) < pings
    await ws.close()


async def test_close_is_bounded_when_the_server_never_reads(
    serve_raw: ServeRaw, ws_peer: PeerFactory
) -> None:
    """Our close frame cannot leave (the server reads nothing and our send buffer is
    full): close() still returns after the close-handshake timeout, connection dropped."""

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.accept(WS_SUBPROTOCOL)
        await asyncio.sleep(60)

    port = await serve_raw(deaf)
    rt = CPythonRuntime(connect_timeout=5.0)
    ws = await rt.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    for _ in range(256):  # whole one-frame messages until the buffers are full
        try:
            await asyncio.wait_for(ws.send(b"q" * MiB), 0.5)
        except TimeoutError:
            break  # written, stuck in its drain: not cut, the socket stays open
    else:
        pytest.fail("the send buffers never filled")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.wait_for(ws.close(), CLOSE_HANDSHAKE_TIMEOUT + 10)
    assert loop.time() - started < CLOSE_HANDSHAKE_TIMEOUT + 3
    with pytest.raises(WebSocketClosed):
        await ws.receive()
    await rt.aclose()
