"""Memory the gateway may hold per client is bounded in bytes, not only in counts."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.support.metrics import admin_address, scrape_until, value
from tests.support.raw import (
    RawHttp,
    answer_rows,
    multipart_body,
    open_session,
    read_answer,
    send_statement,
    statement_parts,
)

LIMIT = 1024 * 1024
BUFFERED = LIMIT + LIMIT // 2
VALUE_SIZE = 600_000
BURST = 10


@pytest.fixture(scope="module")
def small_bodies(gateway_factory: Callable[..., Any]) -> Any:
    """1 MiB messages, bodies and read-ahead; 1.5 MiB of request bodies held at once."""
    return gateway_factory(max_body_size=LIMIT, max_buffered_bytes=BUFFERED)


async def session_log_values(gateway: Any, field: str) -> list[int]:
    """The ``field=N`` values of every WebSocket session line logged so far."""
    deadline = time.monotonic() + 5
    while True:
        values = [int(v) for v in re.findall(rf"^.*WS .* {field}=(\d+) ", gateway.log_text(), re.M)]
        if values or time.monotonic() > deadline:
            return values
        await asyncio.sleep(0.05)


async def test_websocket_read_ahead_is_bounded_in_bytes(
    client: aiohttp.ClientSession, small_bodies: Any
) -> None:
    ws = await open_session(client, small_bodies)
    await send_statement(ws, "query", "SELECT pg_sleep(0.5)")
    for index in range(BURST):
        value = str(index) * VALUE_SIZE
        await send_statement(ws, "query", "SELECT length($1)", [value], extended=True)
    await read_answer(ws)
    for _ in range(BURST):
        assert answer_rows(await read_answer(ws)) == [[str(VALUE_SIZE)]]
    await ws.close()
    peaks = await session_log_values(small_bodies, "readahead")
    assert peaks and max(peaks) <= LIMIT
    assert max(peaks) >= VALUE_SIZE


async def test_small_statements_still_pipeline_past_the_byte_bound(
    client: aiohttp.ClientSession, small_bodies: Any
) -> None:
    ws = await open_session(client, small_bodies)
    await send_statement(ws, "query", "SELECT pg_sleep(0.3)")
    for index in range(200):
        await send_statement(ws, "query", "SELECT $1::int", [str(index)])
    await read_answer(ws)
    for index in range(200):
        assert answer_rows(await read_answer(ws)) == [[str(index)]]
    await ws.close()


def length_body(size: int) -> bytes:
    """A statement body asking for the length of one extended text parameter."""
    return multipart_body(statement_parts("query", "SELECT length($1)", ["x" * size], True))


async def test_bodies_buffered_at_once_are_bounded_in_bytes(
    client: aiohttp.ClientSession, gateway_factory: Callable[..., Any]
) -> None:
    listen, admin = admin_address()
    gateway = gateway_factory(max_body_size=LIMIT, max_buffered_bytes=BUFFERED, admin_listen=listen)
    http = RawHttp(client, gateway)
    big = length_body(1_000_000)
    release = asyncio.Event()

    async def slow_upload() -> AsyncIterator[bytes]:
        yield big[:950_000]
        await release.wait()
        yield big[950_000:]

    # Nearly all of the first 950 kB are reserved as they are read; the rest waits for ``release``.
    announced = {"Content-Length": str(len(big))}
    stalled = asyncio.create_task(http.post(slow_upload(), headers=announced))
    reserved = await scrape_until(admin, lambda s: value(s, "buffered_body_bytes") >= 900_000)
    assert value(reserved, "buffered_body_bytes") >= 900_000
    refused = await http.post(length_body(700_000))
    assert refused.status == 503 and "try again later" in refused.text
    small = await http.post(length_body(10))
    assert small.status == 200 and small.rows == [["10"]]
    release.set()
    assert (await stalled).rows == [["1000000"]]
    # The bytes are given back just after the stalled answer went out.
    released = await scrape_until(admin, lambda s: value(s, "buffered_body_bytes") == 0)
    assert value(released, "buffered_body_bytes") == 0
    again = await http.post(length_body(700_000))
    assert again.status == 200 and again.rows == [["700000"]]
