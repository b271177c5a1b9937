"""Binary parameters really travel as binary (inline and extended, HTTP and
WebSocket), large parameters and results pass in both transports, and a
100,000-row result streams completely."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import BINARY, TEXT

pytestmark = pytest.mark.asyncio

# Not valid UTF-8 anywhere: a text parameter could not carry these bytes.
NOT_UTF8_SMALL = b"\xff\xfe\x00\x80\xc3\x28" * 10
NOT_UTF8_LARGE = bytes(range(256)) * 40 + b"\xff"
MIB = 1 << 20


@pytest.fixture(params=["http", "websocket"])
async def run_exec(request: pytest.FixtureRequest, cl: Any) -> AsyncIterator[Any]:
    """`exec(sql, *params)` over one transport or the other."""
    if request.param == "http":
        yield cl.exec
        return
    async with await cl.new_session() as session:
        yield session.exec


@pytest.fixture(params=["http", "websocket"])
async def run_query(request: pytest.FixtureRequest, cl: Any) -> AsyncIterator[Any]:
    """`query(sql, *params)` -> list of row values, over one transport or the other."""

    async def over(target: Any, sql: str, *params: Any) -> list[list[Any]]:
        result = await target.query(sql, *params)
        return [row.values for row in await result.rows.collect()]

    if request.param == "http":
        yield lambda sql, *params: over(cl, sql, *params)
        return
    async with await cl.new_session() as session:
        yield lambda sql, *params: over(session, sql, *params)


async def _stored(direct: psycopg.AsyncConnection[Any], table: str) -> list[Any]:
    cur = await direct.execute(f"SELECT data FROM {table} ORDER BY id")
    return [data for (data,) in await cur.fetchall()]


def _chunks_of(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _achunks_of(data: bytes, size: int) -> AsyncIterator[bytes]:
    for chunk in _chunks_of(data, size):
        yield chunk


PARAM_MAKERS: dict[str, Callable[[bytes], Any]] = {
    "bytes": lambda data: data,
    "bytearray": bytearray,
    "memoryview": memoryview,
    "byte_array_parameter": lambda data: ppg_edge.byte_array_parameter(data, BINARY),
    "sync_stream": lambda data: ppg_edge.bounded_byte_stream_parameter(
        _chunks_of(data, 333), BINARY, len(data)
    ),
    "async_stream": lambda data: ppg_edge.bounded_byte_stream_parameter(
        _achunks_of(data, 333), BINARY, len(data)
    ),
}


@pytest.mark.parametrize("maker", sorted(PARAM_MAKERS))
async def test_binary_parameters_inline_and_extended(
    maker: str, run_exec: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table("id int, data bytea")
    make = PARAM_MAKERS[maker]
    insert = f"INSERT INTO {table} (id, data) VALUES ($1, $2)"
    assert await run_exec(insert, 1, make(NOT_UTF8_SMALL)) == 1
    assert await run_exec(insert, 2, make(NOT_UTF8_LARGE)) == 1
    assert await _stored(direct, table) == [NOT_UTF8_SMALL, NOT_UTF8_LARGE]


@pytest.mark.parametrize("maker", sorted(PARAM_MAKERS))
async def test_binary_parameters_use_binary_format_not_hex_text(maker: str, run_query: Any) -> None:
    # A binary parameter in a text slot is text's binary form: the raw bytes. Sent as
    # `\x…` hex text instead, it would come back as the hex string.
    make = PARAM_MAKERS[maker]
    small, large = b"plain ascii", b"a" * 3000
    rows = await run_query(
        "SELECT $1::text AS s, $2::text = repeat('a', 3000) AS same", make(small), make(large)
    )
    assert rows == [["plain ascii", True]]


async def test_binary_parameter_read_back_by_driver(run_query: Any) -> None:
    for payload in (NOT_UTF8_SMALL, NOT_UTF8_LARGE):
        rows = await run_query("SELECT $1::bytea AS b, octet_length($1::bytea) AS n", payload)
        assert rows == [[payload, len(payload)]]


async def test_text_format_byte_array_parameter(
    run_exec: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table("id int, data text")
    small = "héllo ☃".encode()
    large = ("ünïcode ☃ " * 300).encode()
    insert = f"INSERT INTO {table} (id, data) VALUES ($1, $2)"
    await run_exec(insert, 1, ppg_edge.byte_array_parameter(small, TEXT))
    await run_exec(
        insert, 2, ppg_edge.bounded_byte_stream_parameter(_chunks_of(large, 7), TEXT, len(large))
    )  # 7-byte chunks split UTF-8 sequences
    assert await _stored(direct, table) == [small.decode(), large.decode()]


async def test_large_text_parameter(run_query: Any) -> None:
    text = "é☃x" * (MIB + 7)  # 6 MiB of UTF-8
    digest = hashlib.md5(text.encode()).hexdigest()
    rows = await run_query("SELECT length($1::text), md5($1::text)", text)
    assert rows == [[len(text), digest]]


async def test_large_binary_parameter(run_query: Any) -> None:
    payload = os.urandom(5 * MIB)
    digest = hashlib.md5(payload).hexdigest()
    rows = await run_query("SELECT octet_length($1::bytea), md5($1::bytea)", payload)
    assert rows == [[len(payload), digest]]
    stream = ppg_edge.bounded_byte_stream_parameter(
        _achunks_of(payload, 64 * 1024), BINARY, len(payload)
    )
    rows = await run_query("SELECT octet_length($1::bytea), md5($1::bytea)", stream)
    assert rows == [[len(payload), digest]]


async def test_large_results(run_query: Any) -> None:
    rows = await run_query(
        "SELECT repeat('é☃', 1000000) AS t, decode(repeat('00ff', 1000000), 'hex') AS b"
    )
    assert rows == [["é☃" * 1000000, b"\x00\xff" * 1000000]]


async def test_hundred_thousand_rows_stream_over_http(db: Any) -> None:
    count = total = 0
    async for row in db.query(
        "SELECT g, repeat('x', g % 50) AS pad FROM generate_series(1, 100000) g"
    ):
        count += 1
        total += row["g"]
        assert len(row["pad"]) == row["g"] % 50
    assert (count, total) == (100000, 100000 * 100001 // 2)


async def test_hundred_thousand_rows_stream_over_websocket(cl: Any) -> None:
    count = total = 0
    async with await cl.new_session() as session:
        result = await session.query("SELECT g FROM generate_series(1, 100000) g")
        async for row in result.rows:
            count += 1
            total += row.values[0]
        after = await session.query("SELECT 'after'")
        assert [row.values for row in await after.rows.collect()] == [["after"]]
    assert (count, total) == (100000, 100000 * 100001 // 2)
