"""Every example of the @prisma/ppg README's low-level API, translated to ppg_edge."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import BINARY, DatabaseError, ValueParser, ValueSerializer

pytestmark = pytest.mark.asyncio

INT4, TEXT_OID, UUID_OID = 23, 25, 2950


async def _seed(direct: psycopg.AsyncConnection[Any], users: str) -> None:
    await direct.execute(
        f"INSERT INTO {users} (name, email) VALUES ('Ann', 'ann@example.com'), ('Ben', NULL)"
    )


async def test_simple_query_columns_and_row_values(
    cl: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    result = await cl.query(f"SELECT * FROM {users} WHERE id = $1", 1)
    assert [(c.name, c.oid) for c in result.columns] == [
        ("id", INT4),
        ("name", TEXT_OID),
        ("email", TEXT_OID),
    ]
    rows = await result.rows.collect()
    assert [row.values for row in rows] == [[1, "Ann", "ann@example.com"]]


async def test_exec_for_write_operations(
    cl: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    affected = await cl.exec(
        f"INSERT INTO {users} (name, email) VALUES ($1, $2), ($3, $4)",
        "Alice",
        "alice@example.com",
        "Al",
        None,
    )
    assert affected == 2
    cur = await direct.execute(f"SELECT name, email FROM {users} ORDER BY id")
    assert await cur.fetchall() == [("Alice", "alice@example.com"), ("Al", None)]


async def test_async_iteration_of_rows(cl: Any) -> None:
    result = await cl.query("SELECT g, g * 2 AS twice FROM generate_series(1, 50) g")
    seen = [row.values async for row in result.rows]
    assert seen == [[g, 2 * g] for g in range(1, 51)]


async def test_session_query_and_close(cl: Any) -> None:
    session = await cl.new_session()
    assert session.active
    result = await session.query("SELECT 1")
    rows = await result.rows.collect()
    assert [row.values for row in rows] == [[1]]
    await session.close()
    assert not session.active


async def test_session_as_context_manager_closes(cl: Any) -> None:
    async with await cl.new_session() as session:
        result = await session.query("SELECT 'in scope' AS s")
        assert [row.values for row in await result.rows.collect()] == [["in scope"]]
        assert session.active
    assert not session.active


async def test_session_keeps_state_between_statements(cl: Any) -> None:
    async with await cl.new_session() as session:
        await session.exec("SET application_name = 'ppg_edge_driver_test'")
        result = await session.query("SELECT current_setting('application_name')")
        assert [row.values for row in await result.rows.collect()] == [["ppg_edge_driver_test"]]


async def test_manual_transaction_with_session_commits(
    cl: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    session = await cl.new_session()
    await session.query("BEGIN")
    try:
        await session.query(f"INSERT INTO {users} (name) VALUES ($1)", "Alice")
        result = await session.query(f"SELECT name FROM {users} WHERE name = $1", "Alice")
        assert [row.values for row in await result.rows.collect()] == [["Alice"]]
        cur = await direct.execute(f"SELECT count(*) FROM {users}")
        assert await cur.fetchone() == (0,)
        await session.query("COMMIT")
    finally:
        await session.close()
    cur = await direct.execute(f"SELECT name FROM {users}")
    assert await cur.fetchall() == [("Alice",)]


async def test_manual_transaction_with_session_rolls_back(
    cl: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    session = await cl.new_session()
    await session.query("BEGIN")
    try:
        await session.query(f"INSERT INTO {users} (name) VALUES ($1)", "Alice")
        with pytest.raises(DatabaseError) as caught:
            result = await session.query(f"SELECT nope FROM {users}")
            await result.rows.collect()
        assert caught.value.code == "42703"
        await session.query("ROLLBACK")
        result = await session.query("SELECT 'still usable'")
        assert [row.values for row in await result.rows.collect()] == [["still usable"]]
    finally:
        await session.close()
    cur = await direct.execute(f"SELECT count(*) FROM {users}")
    assert await cur.fetchone() == (0,)


async def test_concurrent_queries_in_session(cl: Any) -> None:
    session = await cl.new_session()
    try:
        res1, res2, res3 = await asyncio.gather(
            session.query("SELECT 1"), session.query("SELECT 2"), session.query("SELECT 3")
        )
        rows = [await res.rows.collect() for res in (res1, res2, res3)]
    finally:
        await session.close()
    assert [[row.values for row in r] for r in rows] == [[[1]], [[2]], [[3]]]


async def test_column_metadata(cl: Any, users: str) -> None:
    result = await cl.query(f"SELECT id, name FROM {users}")
    assert [(col.name, col.oid) for col in result.columns] == [("id", INT4), ("name", TEXT_OID)]
    assert await result.rows.collect() == []


async def test_row_values(cl: Any, users: str, direct: psycopg.AsyncConnection[Any]) -> None:
    await _seed(direct, users)
    result = await cl.query(f"SELECT id, name FROM {users} ORDER BY id")
    pairs = [tuple(row.values) for row in await result.rows.collect()]
    assert pairs == [(1, "Ann"), (2, "Ben")]


async def test_custom_parser_added_to_defaults(gateway: Any) -> None:
    uuid_parser = ValueParser(UUID_OID, lambda value: value.upper())
    config = ppg_edge.default_client_config(
        gateway.connection_string, endpoint=gateway.url, parsers=[uuid_parser]
    )
    client = ppg_edge.client(config)
    try:
        value = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
        result = await client.query("SELECT $1::uuid AS id, 7::int4 AS n, NULL::uuid AS z", value)
        rows = await result.rows.collect()
    finally:
        await client.aclose()
    assert rows[0].values == [value.upper(), 7, None]


async def test_custom_parser_replacing_defaults(gateway: Any) -> None:
    uuid_parser = ValueParser(UUID_OID, lambda value: value.upper())
    config = ppg_edge.ClientConfig(
        gateway.connection_string, parsers=[uuid_parser], endpoint=gateway.url
    )
    client = ppg_edge.client(config)
    try:
        result = await client.query("SELECT gen_random_uuid() AS id, 7::int4 AS n")
        rows = await result.rows.collect()
    finally:
        await client.aclose()
    generated, n = rows[0].values
    assert generated == generated.upper()
    assert uuid.UUID(generated)
    assert n == "7"


@dataclass
class Point:
    x: int
    y: int


async def test_custom_serializer_before_defaults(
    gateway: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    locations = await make_table("point point")
    point_serializer = ValueSerializer(
        lambda value: isinstance(value, Point), lambda value: f"({value.x},{value.y})"
    )
    config = ppg_edge.default_client_config(
        gateway.connection_string, endpoint=gateway.url, serializers=[point_serializer]
    )
    client = ppg_edge.client(config)
    try:
        await client.query(f"INSERT INTO {locations} (point) VALUES ($1)", Point(10, 20))
    finally:
        await client.aclose()
    cur = await direct.execute(f"SELECT point[0], point[1] FROM {locations}")
    assert await cur.fetchall() == [(10.0, 20.0)]


async def test_custom_serializer_per_session_overrides_default(gateway: Any, cl: Any) -> None:
    shout = ValueSerializer(lambda value: isinstance(value, str), lambda value: value.upper())
    async with await cl.new_session(serializers=[shout]) as session:
        result = await session.query("SELECT $1::text AS s", "quiet")
        assert [row.values for row in await result.rows.collect()] == [["QUIET"]]
    result = await cl.query("SELECT $1::text AS s", "quiet")
    assert [row.values for row in await result.rows.collect()] == [["quiet"]]


async def test_binary_parameter_from_byte_array(
    cl: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    files = await make_table("data bytea")
    param = ppg_edge.byte_array_parameter(bytes([1, 2, 3, 4]), BINARY)
    await cl.query(f"INSERT INTO {files} (data) VALUES ($1)", param)
    cur = await direct.execute(f"SELECT data FROM {files}")
    assert await cur.fetchall() == [(b"\x01\x02\x03\x04",)]


async def test_binary_parameter_from_bounded_stream(
    cl: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    files = await make_table("data bytea")
    payload = bytes(range(256)) * 4

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 100):
            yield payload[start : start + 100]

    param = ppg_edge.bounded_byte_stream_parameter(chunks(), BINARY, 1024)
    await cl.query(f"INSERT INTO {files} (data) VALUES ($1)", param)
    cur = await direct.execute(f"SELECT data FROM {files}")
    assert await cur.fetchall() == [(payload,)]


async def test_error_handling_database_error(db: Any) -> None:
    with pytest.raises(ppg_edge.GenericError) as caught:
        await db.sql("SELECT * FROM invalid_table").collect()
    error = caught.value
    assert isinstance(error, DatabaseError)
    assert error.code == "42P01"
    assert error.details["severity"] == "ERROR"
    assert error.details["position"] == "15"
    assert "invalid_table" in str(error)


async def test_error_details_carry_constraint_and_detail(
    db: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table("id int")
    await direct.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_uq UNIQUE (id)")
    await db.exec(f"INSERT INTO {table} (id) VALUES ($1)", 1)
    with pytest.raises(DatabaseError) as caught:
        await db.exec(f"INSERT INTO {table} (id) VALUES ($1)", 1)
    assert caught.value.code == "23505"
    assert caught.value.details["constraint"] == f"{table}_uq"
    assert caught.value.details["table"] == table
    assert "(id)=(1)" in caught.value.details["detail"]
