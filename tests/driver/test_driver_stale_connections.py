"""A kept-alive connection the server drops just as the next statement goes out.

A proxy in front of the real gateway hangs up on every connection the moment a
second request starts on it, before forwarding a byte of it: the race of a
server closing an idle keep-alive connection while the driver reuses it.
Statements whose body can be rebuilt are re-sent once on a fresh connection;
one with a stream parameter cannot be, so it fails cleanly instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge.core.errors import GenericError
from ppg_edge.core.parameters import BINARY


class HangUpProxy:
    """Forwards one request per connection to the gateway, then drops the connection."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.connections = 0
        self.hang_ups = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> HangUpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered = asyncio.Event()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        down = asyncio.ensure_future(self._pipe(up_reader, writer, answered))
        self._tasks.add(down)
        try:
            while data := await reader.read(65536):
                if answered.is_set():  # a second request on this connection
                    self.hang_ups += 1
                    break
                up_writer.write(data)
                await up_writer.drain()
        except OSError:
            pass
        finally:
            writer.transport.abort()
            up_writer.transport.abort()
            down.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await down

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, answered: asyncio.Event
    ) -> None:
        while data := await source.read(65536):
            answered.set()
            sink.write(data)
            await sink.drain()


@pytest.fixture
async def proxied(gateway: Any) -> AsyncIterator[tuple[HangUpProxy, Any]]:
    async with HangUpProxy(gateway.port) as proxy:
        client = ppg_edge.client(
            ppg_edge.default_client_config(gateway.connection_string, endpoint=proxy.url)
        )
        try:
            yield proxy, client
        finally:
            await client.aclose()


def _chunks(data: bytes) -> Iterator[bytes]:
    yield data[:3]
    yield data[3:]


async def test_statements_survive_a_dropped_keep_alive_connection(
    proxied: tuple[HangUpProxy, Any],
) -> None:
    proxy, client = proxied
    for n in range(1, 4):
        result = await client.query("SELECT $1::int AS n", n)
        assert [row.values for row in await result.rows.collect()] == [[n]]
    assert proxy.hang_ups == 2
    assert proxy.connections == 3


async def test_a_resent_insert_runs_exactly_once(
    proxied: tuple[HangUpProxy, Any], make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    proxy, client = proxied
    table = await make_table("id int")
    for n in (1, 2, 3):
        assert await client.exec(f"INSERT INTO {table} VALUES ($1)", n) == 1
    assert proxy.hang_ups == 2
    rows = await (await direct.execute(f"SELECT id FROM {table} ORDER BY id")).fetchall()
    assert rows == [(1,), (2,), (3,)]


async def test_a_stream_parameter_is_never_resent(proxied: tuple[HangUpProxy, Any]) -> None:
    proxy, client = proxied
    assert await client.exec("SELECT 1") == 1
    stream = ppg_edge.bounded_byte_stream_parameter(_chunks(b"abcdef"), BINARY, 6)
    with pytest.raises(GenericError, match="failed"):
        await client.query("SELECT octet_length($1::bytea)", stream)
    assert proxy.hang_ups == 1
    assert proxy.connections == 1
