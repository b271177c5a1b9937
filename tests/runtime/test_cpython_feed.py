"""The WebSocket's receive feed (`ChunkFeed`) on real sockets from raw servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from wsproto.events import AcceptConnection, TextMessage

from ppg_edge.core.protocol import WS_SUBPROTOCOL
from ppg_edge.runtime.cpython import CPythonRuntime
from ppg_edge.runtime.cpython_feed import ChunkFeed
from ppg_edge.runtime.cpython_http import READ_SIZE, Origin, open_stream
from ppg_edge.runtime.cpython_websocket import HEAD_LIMIT

ServeRaw = Callable[..., Awaitable[int]]
PeerFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


async def _feed(port: int) -> tuple[ChunkFeed, asyncio.StreamWriter]:
    feed = ChunkFeed()
    _, writer = await open_stream(Origin(False, "127.0.0.1", port), None, 5, wrap=feed.wrapping)
    return feed, writer


async def _read_all(feed: ChunkFeed) -> list[bytes]:
    chunks = []
    while chunk := await asyncio.wait_for(feed.read(), 10):
        chunks.append(chunk)
    return chunks


async def test_everything_sent_comes_out_in_order_in_chunks_of_read_size_at_most(
    serve_raw: ServeRaw,
) -> None:
    sent = os.urandom(3 * 1024 * 1024 + 7)

    async def burst(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(sent)
        await writer.drain()
        writer.close()

    feed, writer = await _feed(await serve_raw(burst))
    await asyncio.sleep(0.2)  # let large reads pile up in the transport
    chunks = await _read_all(feed)
    writer.close()
    assert b"".join(chunks) == sent
    assert max(map(len, chunks)) <= READ_SIZE
    assert await feed.read() == b""  # the end stays the end


async def test_reading_pauses_while_the_queue_is_over_its_limit(serve_raw: ServeRaw) -> None:
    """An unread feed stops taking bytes (TCP pushes back on the sender); reading resumes it."""
    sent = os.urandom(8 * 1024 * 1024)
    written = asyncio.Event()

    async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(sent)
        await writer.drain()
        written.set()
        writer.close()

    feed, writer = await _feed(await serve_raw(flood))
    await asyncio.sleep(0.5)
    assert not writer.transport.is_reading()
    assert not written.is_set()  # the sender is held back: the socket buffers are full
    chunks = await _read_all(feed)
    writer.close()
    assert b"".join(chunks) == sent
    assert written.is_set()


async def test_a_response_head_cut_anywhere_is_found_and_frames_behind_it_kept(
    runtime: CPythonRuntime, serve_raw: ServeRaw, ws_peer: PeerFactory
) -> None:
    """The 101 and a message after it, written a byte at a time: the blank line may fall
    across any two reads, and the message must still be the first one received."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = ws_peer(reader, writer)
        await peer.read_request()
        data = peer.engine.send(AcceptConnection(subprotocol=WS_SUBPROTOCOL))
        data += peer.engine.send(TextMessage(data="after the head"))
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(0.001)
        await reader.read(65536)  # until the client goes

    port = await serve_raw(trickle)
    ws = await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
    assert ws.subprotocol == WS_SUBPROTOCOL
    assert await asyncio.wait_for(ws.receive(), 5) == "after the head"
    await ws.close()


@pytest.mark.parametrize("spread", [1, 7])
async def test_a_response_head_over_the_limit_is_refused(
    runtime: CPythonRuntime, serve_raw: ServeRaw, spread: int
) -> None:
    """A head with no blank line within HEAD_LIMIT bytes, in one write or in several."""

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        head = b"HTTP/1.1 101 Switching Protocols\r\nX-Filler: " + b"a" * (HEAD_LIMIT + 10)
        step = len(head) // spread + 1
        for start in range(0, len(head), step):
            writer.write(head[start : start + step])
            await writer.drain()
        await reader.read(65536)

    port = await serve_raw(endless)
    with pytest.raises(ConnectionError, match="response head is too large"):
        await runtime.websocket(f"ws://127.0.0.1:{port}/", [WS_SUBPROTOCOL])
