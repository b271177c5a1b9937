"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed one-way latency.

Round trips are what pipelining saves, and on a loopback connection they cost
nothing; this proxy makes each one cost `2 * delay` so tests and benchmarks can
count them from elapsed time. Bytes keep their order and are never throttled:
only latency is added, like a long but fat network path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from ppg_edge._closing import AsyncClosing

_CHUNK = 1 << 16


@dataclass
class ProxyStats:
    """What went through the proxy: connections accepted and bytes each way."""

    connections: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass
class LatencyProxy(AsyncClosing):
    """Forward 127.0.0.1:<port> to `target_host:target_port`, adding `delay` seconds each way.

    Use as `async with LatencyProxy("127.0.0.1", gateway.port, 0.05) as proxy:` and
    point the client at `proxy.url`.
    """

    target_host: str
    target_port: int
    delay: float
    stats: ProxyStats = field(default_factory=ProxyStats)
    _server: asyncio.Server | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, init=False, repr=False)

    @property
    def port(self) -> int:
        """The local port clients connect to."""
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The proxy as an http:// endpoint for the driver."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def rtt(self) -> float:
        """One round trip through the proxy, in seconds."""
        return 2 * self.delay

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def stop(self) -> None:
        """Stop listening and drop every open connection."""
        if self._server is not None:
            self._server.close()
        # Closing the sockets ends every pipe; cancelling a stream handler task
        # instead makes asyncio log a spurious error on Python 3.11.
        for writer in list(self._writers):
            writer.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> LatencyProxy:
        await self.start()
        return self

    aclose = stop
    """`async with` (from AsyncClosing) stops the proxy on the way out."""

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats.connections += 1
        self._writers.add(client_w)
        try:
            upstream_r, upstream_w = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_w.close()
            self._writers.discard(client_w)
            self._tasks.discard(task)
            return
        self._writers.add(upstream_w)
        try:
            await asyncio.gather(
                self._pipe(client_r, upstream_w, self._count_up),
                self._pipe(upstream_r, client_w, self._count_down),
                return_exceptions=True,
            )
        finally:
            for writer in (client_w, upstream_w):
                writer.close()
                self._writers.discard(writer)
            self._tasks.discard(task)

    def _count_up(self, n: int) -> None:
        self.stats.bytes_up += n

    def _count_down(self, n: int) -> None:
        self.stats.bytes_down += n

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        count: Callable[[int], None],
    ) -> None:
        """Copy one direction, each chunk delivered `delay` seconds after it was read."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(deliver())
        try:
            while True:
                try:
                    data = await reader.read(_CHUNK)
                except ConnectionError:
                    data = b""
                count(len(data))
                queue.put_nowait((loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        except (ConnectionError, OSError):
            pass
        finally:
            sender.cancel()
