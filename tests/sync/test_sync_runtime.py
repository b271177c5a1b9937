"""The sync face's CPython runtime at the byte level: early answers during an upload, and
the gateway's body limit seen as its HTTP status, not as a broken connection."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ppg_edge
from ppg_edge._sync.cpython_http import SyncCPythonRuntime
from tests.sync.conftest import BackgroundLoop

MiB = 1 << 20


def test_an_early_answer_during_an_upload_is_returned(background: BackgroundLoop) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n"
            b"Connection: close\r\n\r\ntoo big!"
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()

    server = background.run(asyncio.start_server(refuse, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    closed: list[bool] = []

    def endless() -> Iterator[bytes]:
        try:
            for _ in range(200):
                yield b"\x00" * MiB
        finally:
            closed.append(True)

    runtime = SyncCPythonRuntime(connect_timeout=5)
    try:
        response = runtime.request("POST", f"http://127.0.0.1:{port}/", [], endless())
        assert response.status == 413
        assert b"".join(response.body()) == b"too big!"
        response.close()
        assert closed == [True]  # the unfinished upload's source was closed
    finally:
        runtime.close()
        server.close()


def test_the_gateway_body_limit_is_its_413(gateway_factory: Callable[..., Any]) -> None:
    small = gateway_factory(max_body_size=1 * MiB)
    with ppg_edge.connect_sync(small.connection_string, endpoint=small.url, timeout=30) as db:
        with pytest.raises(ppg_edge.HttpResponseError) as caught:
            db.query("SELECT length($1::bytea) AS n", b"\x01" * (8 * MiB)).collect()
        assert caught.value.status == 413
        assert db.query("SELECT 1 AS one").collect() == [{"one": 1}]
