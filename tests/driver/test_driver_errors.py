"""Errors end to end: a server error is raised as the class of its SQLSTATE on both
transports, an unreachable or dropped connection is one class on both, errors pickle
with their fields, and no password reaches a message."""

from __future__ import annotations

import asyncio
import pickle
import socket
from typing import Any

import pytest

import ppg_edge
import ppg_edge.errors as errors
from tests.driver.broken_server import broken_server
from tests.driver.latency_proxy import LatencyProxy

pytestmark = pytest.mark.asyncio

SECRET = "Sec-r3t-Pa55-Xy7"

SERVER_ERRORS = [
    ("SELECT 1/0", errors.DivisionByZero, errors.DataError, "22012"),
    ("SELECT 'x'::int", errors.InvalidTextRepresentation, errors.DataError, "22P02"),
    ("SELECT * FROM no_such_table_xyz", errors.UndefinedTable, errors.ProgrammingError, "42P01"),
    ("SELEC 1", errors.SqlSyntaxError, errors.ProgrammingError, "42601"),
    ("SELECT no_such_fn_xyz()", errors.UndefinedFunction, errors.ProgrammingError, "42883"),
]


async def _on_transport(cl: Any, transport: str, sql: str) -> None:
    if transport == "http":
        await (await cl.query(sql)).rows.collect()
        return
    session = await cl.new_session()
    try:
        await (await session.query(sql)).rows.collect()
    finally:
        await session.close()


@pytest.mark.parametrize("transport", ["http", "session"])
@pytest.mark.parametrize(("sql", "cls", "category", "code"), SERVER_ERRORS)
async def test_server_errors_come_as_their_sqlstate_class(
    cl: Any, transport: str, sql: str, cls: type, category: type, code: str
) -> None:
    with pytest.raises(category) as caught:
        await asyncio.wait_for(_on_transport(cl, transport, sql), 30)
    error = caught.value
    assert type(error) is cls
    assert isinstance(error, ppg_edge.DatabaseError) and isinstance(error, ppg_edge.GenericError)
    assert error.code == code and f"(SQLSTATE {code})" in str(error)
    assert error.severity == "ERROR"
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.details) == (cls, str(error), error.details)


async def test_constraint_violations_are_integrity_errors(db: Any, make_table: Any) -> None:
    table = await make_table("id int PRIMARY KEY")
    await db.exec(f"INSERT INTO {table} (id) VALUES (1)")
    with pytest.raises(errors.UniqueViolation) as unique:
        await db.exec(f"INSERT INTO {table} (id) VALUES (1)")
    with pytest.raises(errors.NotNullViolation) as not_null:
        await db.exec(f"INSERT INTO {table} (id) VALUES (NULL)")
    for caught in (unique, not_null):
        assert isinstance(caught.value, ppg_edge.IntegrityError)
    assert unique.value.details.get("constraint") == f"{table}_pkey"


def _closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_unreachable_server_is_one_class_on_both_transports(gateway: Any) -> None:
    url = f"postgres://{gateway.user}:{SECRET}@127.0.0.1:5432/{gateway.database}"
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    client = ppg_edge.client(url, endpoint=endpoint)
    try:
        with pytest.raises(ppg_edge.ConnectionFailedError) as over_http:
            await asyncio.wait_for(client.query("SELECT 1"), 30)
        with pytest.raises(ppg_edge.ConnectionFailedError) as over_session:
            await asyncio.wait_for(client.new_session(), 30)
    finally:
        await client.aclose()
    assert isinstance(over_session.value, ppg_edge.WebSocketError)
    for caught in (over_http, over_session):
        error = caught.value
        assert isinstance(error, ppg_edge.OperationalError)
        assert isinstance(error.__cause__, OSError)
        assert endpoint in str(error)
        assert SECRET not in str(error) and SECRET not in repr(error)
        assert SECRET not in str(pickle.loads(pickle.dumps(error)))


async def test_dropped_http_connection_is_a_connection_failure(gateway: Any) -> None:
    body = b'{"columns": [{"name": "n", "typeOid": 23}]}\n{"values": ["1"]}\n'
    async with broken_server(body, drop=True) as server:
        db = ppg_edge.connect(gateway.connection_string, endpoint=server.url)
        try:
            with pytest.raises(ppg_edge.ConnectionFailedError) as caught:
                await asyncio.wait_for(db.query("SELECT n FROM t").collect(), 30)
        finally:
            await db.aclose()
    assert isinstance(caught.value, ppg_edge.ProtocolError)
    assert "cut short" in str(caught.value)


@pytest.mark.parametrize("transport", ["http", "session"])
async def test_connection_dropped_mid_answer_is_one_class_on_both_transports(
    gateway: Any, transport: str
) -> None:
    """The network path dies while rows stream in: the proxy in front of the gateway
    closes every socket."""
    async with LatencyProxy("127.0.0.1", gateway.port, 0.0) as proxy:
        client = ppg_edge.client(gateway.connection_string, endpoint=proxy.url)
        session = await client.new_session() if transport == "session" else None
        try:
            runner = session or client
            sql = "SELECT g, repeat('x', 200) FROM generate_series(1, 2000000) g"
            result = await asyncio.wait_for(runner.query(sql), 30)
            seen = 0
            with pytest.raises(ppg_edge.ConnectionFailedError) as caught:
                async for _row in result.rows:
                    seen += 1
                    if seen == 10:
                        await proxy.stop()
        finally:
            if session is not None:
                await session.close()
            await client.aclose()
    assert 10 <= seen < 2_000_000
    expected = ppg_edge.WebSocketError if transport == "session" else ppg_edge.ProtocolError
    assert isinstance(caught.value, expected)
    assert isinstance(caught.value, ppg_edge.OperationalError)
