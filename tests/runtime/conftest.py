"""Real local servers for the CPython runtime tests: aiohttp apps, raw TCP, raw WebSocket.

Every server binds 127.0.0.1 on a free port and is stopped when its test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, Request

from ppg_edge.runtime.cpython import CPythonRuntime

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture
async def runtime() -> AsyncIterator[CPythonRuntime]:
    """A fresh runtime, closed after the test."""
    rt = CPythonRuntime(connect_timeout=5.0)
    yield rt
    await rt.aclose()


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[..., Awaitable[str]]]:
    """Start an aiohttp app on a free port; returns its base URL (http or https)."""
    runners: list[web.AppRunner] = []

    async def start(
        app: web.Application, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
    ) -> str:
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
        await site.start()
        port = runner.addresses[0][1]
        return f"{'https' if tls else 'http'}://{host}:{port}"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def serve_raw() -> AsyncIterator[Callable[[RawHandler], Awaitable[int]]]:
    """Start a raw asyncio TCP server running `handler` per connection; returns the port."""
    servers: list[asyncio.Server] = []
    tasks: set[asyncio.Task[None]] = set()

    async def start(handler: RawHandler) -> int:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await handler(reader, writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass  # the client hung up, or the test is over
            finally:
                writer.transport.abort()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0)
        servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    yield start
    for server in servers:
        server.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for server in servers:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


class RawWebSocketPeer:
    """The server end of a WebSocket driven by wsproto, for frames aiohttp will not send."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.engine = WSConnection(ConnectionType.SERVER)
        self.request: Request | None = None

    async def accept(self, subprotocol: str | None = None) -> None:
        """Read the upgrade request and accept it."""
        await self.read_request()
        self.send(AcceptConnection(subprotocol=subprotocol))
        await self.writer.drain()

    async def read_request(self) -> None:
        """Read until the upgrade request is in (`request`), answering nothing yet."""
        while self.request is None:
            self.engine.receive_data(await self.reader.read(65536) or None)
            for event in self.engine.events():
                if isinstance(event, Request):
                    self.request = event

    def send(self, event: Event) -> None:
        self.writer.write(self.engine.send(event))

    async def next_event(self) -> Event:
        """The next client event, reading as needed."""
        while True:
            for event in self.engine.events():
                return event
            data = await self.reader.read(65536)
            self.engine.receive_data(data or None)


def make_certificate(folder: Path, names: str) -> tuple[Path, Path]:
    """A throwaway self-signed certificate (and key) for the given subjectAltName list."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=ppg-edge-test",
            "-addext",
            f"subjectAltName={names}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for localhost / 127.0.0.1 and its key."""
    return make_certificate(tmp_path_factory.mktemp("tls"), "DNS:localhost,IP:127.0.0.1")


@pytest.fixture(scope="session")
def other_tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for a name that is not this host."""
    return make_certificate(tmp_path_factory.mktemp("tls-other"), "DNS:other.invalid")


@pytest.fixture
def ws_peer() -> type[RawWebSocketPeer]:
    """The raw server-side WebSocket peer class, for handlers given to `serve_raw`."""
    return RawWebSocketPeer
