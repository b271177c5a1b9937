"""The synchronous face over HTTP, against the real gateway: the async driver tests'
round trips, types, streaming, timeouts and failures, with blocking calls."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
import time
import tracemalloc
import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import (
    ConnectTimeoutError,
    DatabaseError,
    GenericError,
    HttpResponseError,
    ProtocolError,
    QueryTimeoutError,
    ValueParser,
    ValueSerializer,
)
from tests.sync.conftest import TableFactory

SLEEP = "SELECT pg_sleep(5) AS slept"


def test_query_exec_and_templates(db: ppg_edge.SyncDatabase, make_table: TableFactory) -> None:
    table = make_table("id serial PRIMARY KEY, name text")
    assert db.exec(f"INSERT INTO {table} (name) VALUES ($1), ($2)", "ada", "bob") == 2
    update = f"UPDATE {table} SET name = {{}} WHERE name = {{}}"
    assert db.sql.exec(update, "ADA", "nobody") == 0
    rows = db.query(f"SELECT id, name FROM {table} ORDER BY id").collect()
    assert rows == [{"id": 1, "name": "ada"}, {"id": 2, "name": "bob"}]
    assert [row["name"] for row in db.query(f"SELECT name FROM {table} ORDER BY id")] == [
        "ada",
        "bob",
    ]
    assert db.sql("SELECT {} || {} AS s", "a", "b").collect() == [{"s": "ab"}]
    assert db.sql("SELECT {n}::int * 2 AS d", n=21).collect() == [{"d": 42}]


def test_low_level_client_rows_and_columns(cl: ppg_edge.SyncClient) -> None:
    result = cl.query("SELECT 1 AS a, 'x'::text AS b")
    assert isinstance(result, ppg_edge.SyncQueryResult)
    assert [column.name for column in result.columns] == ["a", "b"]
    with result.rows as rows:
        assert [row.values for row in rows] == [[1, "x"]]
    assert isinstance(result.rows.collect(), ppg_edge.Rows)
    assert cl.exec("SELECT 1") == 1


def test_types_round_trip(db: ppg_edge.SyncDatabase) -> None:
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    row = db.query(
        "SELECT $1::int8 AS i, $2::numeric AS n, $3::timestamptz AS t, $4::jsonb AS j, "
        "$5::bytea AS b, ARRAY[1, NULL, $6::int] AS a, $7::bool AS f, $8::text AS z, "
        "$9::uuid AS u, $10::date AS d",
        2**62,
        Decimal("12345.678901234567890"),
        when,
        {"k": [1, None, "v"]},
        b"\x00\xffbin",
        3,
        False,
        None,
        uuid.UUID(int=7),
        dt.date(1999, 12, 31),
    ).collect()[0]
    assert row == {
        "i": 2**62,
        "n": Decimal("12345.678901234567890"),
        "t": when,
        "j": {"k": [1, None, "v"]},
        "b": b"\x00\xffbin",
        "a": [1, None, 3],
        "f": False,
        "z": None,
        "u": uuid.UUID(int=7),
        "d": dt.date(1999, 12, 31),
    }


def test_large_parameters_and_stream_parameters(db: ppg_edge.SyncDatabase) -> None:
    big = b"\x01" * (3 * 1024 * 1024)
    assert db.query("SELECT length($1::bytea) AS n", big).collect() == [{"n": len(big)}]
    chunks = [b"ab" * 50_000] * 20
    stream = ppg_edge.bounded_byte_stream_parameter(iter(chunks), ppg_edge.BINARY, 2_000_000)
    assert db.query("SELECT length($1::bytea) AS n", stream).collect() == [{"n": 2_000_000}]


def test_short_stream_parameter_is_a_validation_error(db: ppg_edge.SyncDatabase) -> None:
    stream = ppg_edge.bounded_byte_stream_parameter([b"abc"], ppg_edge.BINARY, 10)
    with pytest.raises(ppg_edge.ValidationError, match="delivered 3 bytes"):
        db.query("SELECT length($1::bytea) AS n", stream).collect()
    assert db.query("SELECT 1 AS one").collect() == [{"one": 1}]


def test_async_stream_source_is_refused_clearly(db: ppg_edge.SyncDatabase) -> None:
    import asyncio

    async def source() -> Any:
        await asyncio.sleep(0)
        yield b"abc"

    stream = ppg_edge.bounded_byte_stream_parameter(source(), ppg_edge.BINARY, 3)
    with pytest.raises(ppg_edge.ValidationError, match="sync iterables"):
        db.query("SELECT length($1::bytea) AS n", stream).collect()


def test_parsers_and_serializers(gateway: Any) -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    parsers = [ValueParser(23, lambda text: f"int:{text}")]
    serializers = [
        ValueSerializer(lambda v: isinstance(v, Money), lambda v: f"{v.cents / 100:.2f}")
    ]
    with ppg_edge.connect_sync(
        gateway.connection_string,
        endpoint=gateway.url,
        parsers=parsers,
        serializers=serializers,
    ) as db:
        assert db.query("SELECT 5::int4 AS n, $1::numeric AS m", Money(1234)).collect() == [
            {"n": "int:5", "m": Decimal("12.34")}
        ]


def test_database_error_carries_sqlstate(db: ppg_edge.SyncDatabase) -> None:
    with pytest.raises(DatabaseError) as caught:
        db.query("SELECT 1 / 0").collect()
    assert caught.value.code == "22012"
    with pytest.raises(DatabaseError):
        db.exec("SELECT * FROM no_such_table_at_all")
    assert db.query("SELECT 2 AS two").collect() == [{"two": 2}]


def test_error_frame_after_rows_is_raised(db: ppg_edge.SyncDatabase) -> None:
    rows = db.query("SELECT 1 / (g - 3) AS x FROM generate_series(1, 5) g")
    with pytest.raises(DatabaseError) as caught:
        list(rows)
    assert caught.value.code == "22012"


def _pool(db: ppg_edge.SyncDatabase) -> Any:
    return db.client.runtime.pool  # type: ignore[attr-defined]


def test_keep_alive_reuses_one_connection(db: ppg_edge.SyncDatabase) -> None:
    for n in range(5):
        assert db.query("SELECT $1::int AS n", n).collect() == [{"n": n}]
    assert _pool(db).idle_count() == 1


def test_small_statements_do_not_wait_for_delayed_acks(db: ppg_edge.SyncDatabase) -> None:
    """Head and body in separate small writes wait out Nagle and the peer's delayed ACK
    (about 40 ms a statement); one write with TCP_NODELAY takes about 1 ms on loopback."""
    db.exec("SELECT 1")
    start = time.perf_counter()
    for n in range(50):
        assert db.query("SELECT $1::int AS n", n).collect() == [{"n": n}]
    assert time.perf_counter() - start < 1.5


def test_threads_may_share_a_database_over_http(db: ppg_edge.SyncDatabase) -> None:
    """Each statement takes a pooled connection of its own; the pool is locked."""
    failures: list[BaseException] = []

    def work(base: int) -> None:
        try:
            for n in range(base, base + 25):
                assert db.query("SELECT $1::int AS n", n).collect() == [{"n": n}]
        except BaseException as exc:
            failures.append(exc)

    workers = [threading.Thread(target=work, args=(100 * i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert not failures, failures
    assert 1 <= _pool(db).idle_count() <= 4


def test_streaming_runs_in_constant_memory(db: ppg_edge.SyncDatabase) -> None:
    sql = "SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 300000) g"
    tracemalloc.start()
    try:
        count = 0
        for _row in db.query(sql):
            count += 1
            if count == 1000:
                tracemalloc.reset_peak()
                base = tracemalloc.get_traced_memory()[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 300_000
    # 300k rows of ~110 bytes are ~40 MB as dicts; streaming holds a few batches only.
    assert peak - base < 8 * 1024 * 1024, peak - base


def _active(direct: psycopg.Connection[Any], marker: str) -> int:
    row = direct.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
        "AND query LIKE %s AND pid <> pg_backend_pid()",
        (f"%{marker}%",),
    ).fetchone()
    assert row is not None
    return int(row[0])


def _until_gone(direct: psycopg.Connection[Any], marker: str) -> None:
    for _ in range(100):
        if _active(direct, marker) == 0:
            return
        time.sleep(0.1)
    pytest.fail("the abandoned statement is still running on the server")


def test_break_releases_the_connection_and_the_server(
    db: ppg_edge.SyncDatabase, direct: psycopg.Connection[Any]
) -> None:
    marker = f"sync_break_{uuid.uuid4().hex}"
    seen = []
    with db.query(
        f"SELECT g, pg_sleep(0.01) /* {marker} */ FROM generate_series(1, 100000) g"
    ) as rows:
        for row in rows:
            seen.append(row["g"])
            if len(seen) == 10:
                break
    assert seen == list(range(1, 11))
    assert rows.closed
    assert _pool(db).idle_count() == 0  # a half-read response's connection is dropped
    _until_gone(direct, marker)
    assert db.query("SELECT 3 AS n").collect() == [{"n": 3}]
    assert _pool(db).idle_count() == 1


def test_a_plain_break_releases_the_server_too(
    db: ppg_edge.SyncDatabase, direct: psycopg.Connection[Any]
) -> None:
    """No `with`: on CPython the loop's iterator is freed at the break, and with it the
    response (refcounting closes the generators at once)."""
    marker = f"sync_plain_break_{uuid.uuid4().hex}"
    for row in db.query(
        f"SELECT g, pg_sleep(0.01) /* {marker} */ FROM generate_series(1, 100000) g"
    ):
        assert row["g"] == 1
        break
    _until_gone(direct, marker)
    assert db.query("SELECT 5 AS n").collect() == [{"n": 5}]


def _raises_timeout_quickly(call: Any, limit: float = 3.0) -> QueryTimeoutError:
    start = time.perf_counter()
    with pytest.raises(QueryTimeoutError) as caught:
        call()
    assert time.perf_counter() - start < limit
    assert isinstance(caught.value, TimeoutError)
    return caught.value


def test_client_wide_and_per_statement_timeouts(gateway: Any) -> None:
    with ppg_edge.connect_sync(gateway.connection_string, endpoint=gateway.url, timeout=0.5) as db:
        _raises_timeout_quickly(lambda: db.query(SLEEP).collect())
        _raises_timeout_quickly(lambda: db.exec(SLEEP))
        _raises_timeout_quickly(lambda: db.sql("SELECT pg_sleep({})", 5, timeout=0.4).collect())
        rows = db.query("SELECT pg_sleep(0.8), 'done' AS s", timeout=5).collect()
        assert rows[0]["s"] == "done"
        assert db.query("SELECT 1 AS one").collect() == [{"one": 1}]


def test_timeout_mid_stream(db: ppg_edge.SyncDatabase) -> None:
    rows = db.query("SELECT g, pg_sleep(0.2) FROM generate_series(1, 50) g", timeout=1.0)
    with pytest.raises(QueryTimeoutError):
        list(rows)
    assert rows.closed
    assert db.query("SELECT 4 AS n").collect() == [{"n": 4}]


def _listener() -> socket.socket:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    return server


def test_timeout_when_server_never_answers(gateway: Any) -> None:
    server = _listener()
    accepted: list[socket.socket] = []

    def accept() -> None:
        conn, _ = server.accept()
        accepted.append(conn)  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    try:
        with ppg_edge.connect_sync(
            gateway.connection_string, endpoint=f"http://127.0.0.1:{port}", timeout=0.5
        ) as db:
            _raises_timeout_quickly(lambda: db.query("SELECT 1").collect())
    finally:
        thread.join(5)
        for conn in accepted:
            conn.close()
        server.close()


def test_connect_timeout(gateway: Any) -> None:
    # A listener whose backlog is full leaves further connects unanswered (SYN dropped).
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        with ppg_edge.connect_sync(
            gateway.connection_string, endpoint=f"http://127.0.0.1:{port}", connect_timeout=0.5
        ) as db:
            start = time.perf_counter()
            with pytest.raises(ConnectTimeoutError):
                db.query("SELECT 1").collect()
            assert time.perf_counter() - start < 3
    finally:
        for filler in fillers:
            filler.close()
        server.close()


def test_bad_credentials_are_http_401(gateway: Any) -> None:
    url = gateway.connection_string.replace(gateway.password, "wrong-password-123")
    with (
        ppg_edge.connect_sync(url, endpoint=gateway.url) as db,
        pytest.raises(HttpResponseError) as caught,
    ):
        db.query("SELECT 1").collect()
    assert caught.value.status == 401
    assert "wrong-password-123" not in str(caught.value)


def test_gateway_down_is_a_generic_error(gateway: Any) -> None:
    server = _listener()
    port = server.getsockname()[1]
    server.close()  # nothing listens there any more
    with ppg_edge.connect_sync(
        gateway.connection_string, endpoint=f"http://127.0.0.1:{port}"
    ) as db:
        with pytest.raises(GenericError, match="failed"):
            db.query("SELECT 1").collect()
        with pytest.raises(GenericError, match="failed"):
            db.exec("SELECT 1")


def test_truncated_response_is_a_protocol_error(gateway: Any) -> None:
    server = _listener()
    port = server.getsockname()[1]

    def answer_half() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            body = b'{"columns":[{"name":"n","oid":23}]}\n'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                b"Content-Length: 1000\r\n\r\n" + body
            )

    thread = threading.Thread(target=answer_half, daemon=True)
    thread.start()
    try:
        with (
            ppg_edge.connect_sync(
                gateway.connection_string, endpoint=f"http://127.0.0.1:{port}", timeout=10
            ) as db,
            pytest.raises(ProtocolError),
        ):
            db.query("SELECT 1").collect()
    finally:
        thread.join(5)
        server.close()
