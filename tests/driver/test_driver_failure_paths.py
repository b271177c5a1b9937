"""Failure paths where ppg_edge must beat the official client: truncated answers,
late error frames, bad credentials on HTTP and WebSocket, and no leaked password."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

import ppg_edge
from ppg_edge import DatabaseError, HttpResponseError, ProtocolError, WebSocketError
from ppg_edge.runtime.base import WebSocket, WebSocketRejected
from ppg_edge.runtime.cpython import CPythonRuntime
from tests.driver.broken_server import broken_server

pytestmark = pytest.mark.asyncio

WRONG_PASSWORD = "Wr0ng-Pa55word-Zq9"
CLOSE_POLICY_VIOLATION = 1008
ALLOWED = "http://app.example"


def _frames(*objects: object) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


COLUMNS = {"columns": [{"name": "n", "typeOid": 23}]}
TRUNCATED_BODIES = {
    "no-final-frame": _frames(COLUMNS, {"values": ["1"]}, {"values": ["2"]}),
    "columns-only": _frames(COLUMNS),
    "empty": b"",
    "cut-mid-line": _frames(COLUMNS, {"values": ["1"]}) + b'{"values": ["2',
}


def _bad_connection_string(gateway: Any) -> str:
    return f"postgres://{gateway.user}:{WRONG_PASSWORD}@127.0.0.1:5432/{gateway.database}"


@pytest.mark.parametrize("shape", sorted(TRUNCATED_BODIES))
async def test_truncated_http_response_raises_protocol_error(shape: str, gateway: Any) -> None:
    async with broken_server(TRUNCATED_BODIES[shape]) as server:
        db = ppg_edge.connect(gateway.connection_string, endpoint=server.url)
        try:
            with pytest.raises(ProtocolError):
                await asyncio.wait_for(db.query("SELECT n FROM t").collect(), 10)
            with pytest.raises(ProtocolError):
                await asyncio.wait_for(db.exec("DELETE FROM t"), 10)
        finally:
            await db.aclose()
        assert server.requests == 2


async def test_truncated_response_raises_in_low_level_iteration(gateway: Any) -> None:
    body = TRUNCATED_BODIES["no-final-frame"]
    async with broken_server(body) as server:
        client = ppg_edge.client(gateway.connection_string, endpoint=server.url)
        try:
            result = await client.query("SELECT n FROM t")
            seen: list[Any] = []
            with pytest.raises(ProtocolError):
                async for row in result.rows:
                    seen.append(row.values)
        finally:
            await client.aclose()
    assert seen == [[1], [2]]


async def test_dropped_connection_raises_not_short_result(gateway: Any) -> None:
    async with broken_server(TRUNCATED_BODIES["no-final-frame"], drop=True) as server:
        db = ppg_edge.connect(gateway.connection_string, endpoint=server.url)
        try:
            with pytest.raises(ProtocolError):
                await asyncio.wait_for(db.query("SELECT n FROM t").collect(), 10)
        finally:
            await db.aclose()


LATE_ERROR_SQL = "SELECT 10 / (5 - g) AS q FROM generate_series(1, 8) g"


async def test_error_frame_after_rows_is_never_lost_on_session(cl: Any) -> None:
    async with await cl.new_session() as session:
        first = asyncio.ensure_future(session.query(LATE_ERROR_SQL))
        follower = asyncio.ensure_future(session.query("SELECT 'after' AS s"))
        await asyncio.sleep(0.5)  # every frame is in before anyone reads a row
        seen: list[Any] = []
        with pytest.raises(DatabaseError) as caught:
            async with asyncio.timeout(10):
                result = await first
                async for row in result.rows:
                    seen.append(row.values[0])
        assert caught.value.code == "22012"
        assert seen == [10 // 4, 10 // 3, 10 // 2, 10]
        after = await asyncio.wait_for(follower, 10)
        assert [row.values for row in await after.rows.collect()] == [["after"]]


async def test_error_frame_read_late_over_http(db: Any) -> None:
    rows = db.query(LATE_ERROR_SQL)
    await asyncio.sleep(0.5)
    with pytest.raises(DatabaseError) as caught:
        await asyncio.wait_for(rows.collect(), 10)
    assert caught.value.code == "22012"


async def test_error_in_pipelined_statement_does_not_hang_the_next(cl: Any) -> None:
    async with await cl.new_session() as session:
        failing = session.query("SELECT * FROM no_such_table_for_pipeline")
        fine = session.query("SELECT 2 AS n")
        outcomes = await asyncio.wait_for(asyncio.gather(failing, fine, return_exceptions=True), 10)
        assert isinstance(outcomes[0], DatabaseError)
        assert outcomes[0].code == "42P01"
        answered = outcomes[1]
        assert not isinstance(answered, BaseException)
        assert [row.values for row in await answered.rows.collect()] == [[2]]


async def test_session_with_bad_credentials_raises_1008(gateway: Any) -> None:
    client = ppg_edge.client(_bad_connection_string(gateway), endpoint=gateway.url)

    async def open_and_query() -> None:
        session = await client.new_session()
        try:
            result = await session.query("SELECT 1")
            await result.rows.collect()
        finally:
            await session.close()

    try:
        with pytest.raises(WebSocketError) as caught:
            await asyncio.wait_for(open_and_query(), 10)
    finally:
        await client.aclose()
    assert caught.value.close_code == CLOSE_POLICY_VIOLATION
    assert WRONG_PASSWORD not in str(caught.value)
    assert WRONG_PASSWORD not in repr(caught.value)


async def test_transaction_with_bad_credentials_raises_1008(gateway: Any) -> None:
    db = ppg_edge.connect(_bad_connection_string(gateway), endpoint=gateway.url)
    try:
        with pytest.raises(WebSocketError) as caught:
            await asyncio.wait_for(db.batch(ppg_edge.Query("SELECT 1")), 10)
    finally:
        await db.aclose()
    assert caught.value.close_code == CLOSE_POLICY_VIOLATION


class _OriginRuntime(CPythonRuntime):
    """The real CPython runtime, sending a browser-like Origin on WebSocket handshakes."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        self._origin = origin

    async def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Sequence[tuple[str, str]] = ()
    ) -> WebSocket:
        return await super().websocket(url, subprotocols, [*headers, ("Origin", self._origin)])


@pytest.mark.parametrize(("origin", "refused"), [("http://evil.invalid", True), (ALLOWED, False)])
async def test_refused_upgrade_keeps_its_http_status(
    gateway_factory: Any, origin: str, refused: bool
) -> None:
    strict = gateway_factory(allow_origin=[ALLOWED])
    runtime = _OriginRuntime(origin)
    client = ppg_edge.client(strict.connection_string, endpoint=strict.url, runtime=runtime)
    try:
        if refused:
            with pytest.raises(WebSocketError) as caught:
                await asyncio.wait_for(client.new_session(), 10)
            assert caught.value.status == 403
            assert caught.value.close_code is None
            assert "HTTP 403" in str(caught.value)
            assert "origin not allowed" in str(caught.value)
            assert isinstance(caught.value.__cause__, WebSocketRejected)
        else:
            async with await client.new_session() as session:
                rows = await (await session.query("SELECT 1")).rows.collect()
            assert rows[0].values == [1]
    finally:
        await client.aclose()
        await runtime.aclose()


async def test_closed_session_error_has_no_http_status(gateway: Any) -> None:
    client = ppg_edge.client(_bad_connection_string(gateway), endpoint=gateway.url)
    try:
        with pytest.raises(WebSocketError) as caught:
            session = await client.new_session()
            async with session:
                await asyncio.wait_for(session.exec("SELECT 1"), 10)
    finally:
        await client.aclose()
    assert caught.value.close_code == CLOSE_POLICY_VIOLATION
    assert caught.value.status is None


async def test_http_with_bad_credentials_raises_401(gateway: Any) -> None:
    db = ppg_edge.connect(_bad_connection_string(gateway), endpoint=gateway.url)
    try:
        with pytest.raises(HttpResponseError) as caught:
            await asyncio.wait_for(db.query("SELECT 1").collect(), 10)
    finally:
        await db.aclose()
    assert caught.value.status == 401
    assert WRONG_PASSWORD not in str(caught.value)
    assert WRONG_PASSWORD not in repr(caught.value)


async def test_no_password_in_reprs_of_clients_and_configs(gateway: Any) -> None:
    secret = gateway.password
    config = ppg_edge.default_client_config(gateway.connection_string, endpoint=gateway.url)
    db = ppg_edge.connect(config)
    client = ppg_edge.client(config)
    try:
        session = await client.new_session()
        objects: list[object] = [config, db, client, session, db.sql, db.query("SELECT 1")]
        for obj in objects:
            assert secret not in repr(obj), type(obj)
            assert secret not in str(obj), type(obj)
        await session.close()
    finally:
        await db.aclose()
        await client.aclose()


async def test_no_password_in_validation_errors(gateway: Any) -> None:
    secret = gateway.password
    bad_strings = [
        f"mysql://{gateway.user}:{secret}@host/db",
        f"postgres://{gateway.user}:{secret}@:notaport/db",
        f"postgres://{gateway.user}:{secret}@[::1/db",
        f"postgres://:{secret}@host/db",
    ]
    for bad in bad_strings:
        with pytest.raises(ppg_edge.ValidationError) as caught:
            ppg_edge.connect(bad)
        assert secret not in str(caught.value), bad
        assert secret not in repr(caught.value), bad


async def test_every_pipelined_statement_fails_on_bad_credentials(gateway: Any) -> None:
    client = ppg_edge.client(_bad_connection_string(gateway), endpoint=gateway.url)
    try:
        try:
            session = await asyncio.wait_for(client.new_session(), 10)
        except WebSocketError as early:
            assert early.close_code == CLOSE_POLICY_VIOLATION
            return
        outcomes = await asyncio.wait_for(
            asyncio.gather(
                *(session.query(f"SELECT {i}") for i in range(5)), return_exceptions=True
            ),
            10,
        )
        await session.close()
    finally:
        await client.aclose()
    for outcome in outcomes:
        assert isinstance(outcome, WebSocketError), outcome
        assert outcome.close_code == CLOSE_POLICY_VIOLATION


async def test_statement_on_closed_session_raises(cl: Any) -> None:
    session = await cl.new_session()
    await session.close()
    assert not session.active
    with pytest.raises(ppg_edge.GenericError):
        await asyncio.wait_for(session.query("SELECT 1"), 10)


async def test_closing_session_with_unread_error_does_not_hang(cl: Any) -> None:
    session = await cl.new_session()
    unread = asyncio.ensure_future(session.query(LATE_ERROR_SQL))
    await asyncio.sleep(0.3)
    await asyncio.wait_for(session.close(), 5)
    assert not session.active
    with pytest.raises(ppg_edge.GenericError):
        result = await asyncio.wait_for(unread, 5)
        await asyncio.wait_for(result.rows.collect(), 5)


async def test_server_side_statement_timeout_is_a_database_error(gateway_factory: Any) -> None:
    limited = gateway_factory(statement_timeout=0.3)
    db = ppg_edge.connect(limited.connection_string, endpoint=limited.url)
    try:
        with pytest.raises(DatabaseError) as caught:
            await asyncio.wait_for(db.query("SELECT pg_sleep(3)").collect(), 10)
        assert caught.value.code == "57014"
        assert await db.query("SELECT 5 AS n").collect() == [{"n": 5}]
    finally:
        await db.aclose()
