"""Deliberately broken protocol servers on 127.0.0.1 for failure-path tests.

`broken_server` answers every statement with a fixed NDJSON body, chosen to
break the protocol (a body that stops before `complete`, a line cut in half, a
dropped connection), so tests can prove the driver reports those as errors
instead of returning short results. `streaming_server` sends a body as a
generator produces it (an endless line, say). `raw_server` hands each TCP
connection to a test's handler with a server-side wsproto engine and nothing
done for it: a handler may never answer, answer out of turn, flood pings or
stop reading, which no well-behaved server library would let it do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Request,
    TextMessage,
)

from ppg_edge.core.protocol import NDJSON, STATEMENT_PATH, WS_SUBPROTOCOL


@dataclass
class BrokenServer:
    """Where the broken server listens, how many statements (or connections) it got,
    how many body bytes it sent, and the raw server's peers."""

    url: str
    requests: int = 0
    sent: int = 0
    peers: list[Any] = field(default_factory=list)


@asynccontextmanager
async def broken_server(body: bytes, *, drop: bool = False) -> AsyncIterator[BrokenServer]:
    """Serve `body` to every statement; with `drop`, cut the connection after it.

    `drop=False` ends the chunked body properly, so only the missing final
    frame tells the client the answer is incomplete.
    """
    server = BrokenServer(url="")

    async def statement(request: web.Request) -> web.StreamResponse:
        server.requests += 1
        await request.read()
        response = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body)
        await asyncio.sleep(0.05)
        if drop and request.transport is not None:
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post(STATEMENT_PATH, statement)
    async with _serving(app, server):
        yield server


ChunkSource = Callable[[], AsyncIterator[bytes]]


@asynccontextmanager
async def streaming_server(chunks: ChunkSource) -> AsyncIterator[BrokenServer]:
    """Answer every statement with the chunks `chunks()` yields, sent as they come.

    `server.sent` counts the body bytes the client accepted before it hung up,
    which is how a test sees that the client stopped reading early.
    """
    server = BrokenServer(url="")

    async def statement(request: web.Request) -> web.StreamResponse:
        server.requests += 1
        await request.read()
        response = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            async for chunk in chunks():
                await response.write(chunk)
                server.sent += len(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client hung up, as it should
        return response

    app = web.Application()
    app.router.add_post(STATEMENT_PATH, statement)
    async with _serving(app, server):
        yield server


@asynccontextmanager
async def _serving(app: web.Application, server: BrokenServer) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield
    finally:
        await runner.cleanup()


class RawPeer:
    """One connection to a raw server: its streams, and wsproto playing the server.

    Nothing is read or written unless the handler does it, so a handler can stop
    reading, flood, or answer out of turn exactly when the test needs it.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.ws = WSConnection(ConnectionType.SERVER)
        self._events: list[Event] = []
        self._parts: list[str | bytes] = []
        self.close_code: int | None = None

    async def accept(self) -> None:
        """Read the upgrade request and accept it with the protocol's subprotocol."""
        while True:
            for event in await self._next_events():
                if isinstance(event, Request):
                    self.writer.write(self.ws.send(AcceptConnection(subprotocol=WS_SUBPROTOCOL)))
                    await self.writer.drain()
                    return

    async def receive(self) -> str | bytes | None:
        """The next whole message from the client; None once it closed (see close_code)."""
        while True:
            while self._events:
                event = self._events.pop(0)
                if isinstance(event, TextMessage | BytesMessage):
                    self._parts.append(event.data)
                    if event.message_finished:
                        return self._joined()
                elif isinstance(event, CloseConnection):
                    self.close_code = event.code
                    return None
            events = await self._next_events()
            if events is None:
                return None
            self._events.extend(events)

    def _joined(self) -> str | bytes:
        parts, self._parts = self._parts, []
        if all(isinstance(part, str) for part in parts):
            return "".join(str(part) for part in parts)
        return b"".join(bytes(part) for part in parts if isinstance(part, bytes))

    async def statement(self) -> list[str | bytes]:
        """One whole statement: descriptor URN, descriptor, then two messages per parameter."""
        messages = [await self.receive(), await self.receive()]
        if not isinstance(messages[1], str):
            raise AssertionError(f"expected a descriptor, got {messages[1]!r}")
        for parameter in json.loads(messages[1]).get("parameters", []):
            if "value" not in parameter:  # an extended parameter: its URN, then its value
                messages += [await self.receive(), await self.receive()]
        return [m for m in messages if m is not None]

    def send(self, *messages: str) -> None:
        """Queue text messages for the client (drain to push them out)."""
        for message in messages:
            self.writer.write(self.ws.send(TextMessage(data=message)))

    def frame(self, urn: str, payload: object) -> None:
        """Queue one result frame: its URN, then its JSON."""
        self.send(urn, payload if isinstance(payload, str) else json.dumps(payload))

    async def _next_events(self) -> list[Event] | None:
        data = await self.reader.read(64 * 1024)
        if not data:
            return None
        self.ws.receive_data(data)
        return list(self.ws.events())


RawHandler = Callable[[RawPeer], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: RawHandler) -> AsyncIterator[BrokenServer]:
    """A bare TCP server on 127.0.0.1 running `handler` for each connection.

    The handler sees the connection before anything is read: it may accept a
    WebSocket (`peer.accept()`), or never answer at all. Handlers still running
    when the test ends are cancelled, and their connections dropped.
    """
    server = BrokenServer(url="")
    tasks: set[asyncio.Task[None]] = set()

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.requests += 1
        peer = RawPeer(reader, writer)
        server.peers.append(peer)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handler(peer)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            writer.transport.abort()

    listener = await asyncio.start_server(connected, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await listener.wait_closed()


async def never_answer(peer: RawPeer) -> None:
    """Accept the TCP connection, then say nothing (not even TLS or HTTP) until it closes."""
    while await peer.reader.read(64 * 1024):
        pass
