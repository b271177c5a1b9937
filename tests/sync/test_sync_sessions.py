"""The synchronous face's sessions, transactions and batches against the real gateway:
the async driver tests' pipelining, atomicity, round trips, timeouts and failures."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import DatabaseError, Exec, Query, QueryTimeoutError, WebSocketError
from tests.sync.conftest import DELAY, TableFactory

RTT = 2 * DELAY
CLOSE_POLICY_VIOLATION = 1008
WRONG_PASSWORD = "wrong-password-4242"
SLEEP = "SELECT pg_sleep(5) AS slept"


def test_session_query_exec_and_pipelining(cl: ppg_edge.SyncClient) -> None:
    with cl.new_session() as session:
        assert isinstance(session, ppg_edge.SyncSession)
        result = session.query("SELECT g, g * 2 AS d FROM generate_series(1, 3) g")
        assert [column.name for column in result.columns] == ["g", "d"]
        assert [row.values for row in result.rows] == [[1, 2], [2, 4], [3, 6]]
        assert session.exec("SELECT 1") == 1
        pending = [
            session.submit(session.prepare("query", "SELECT $1::int AS n", (n,))) for n in range(5)
        ]
        answers = [session.query_result(p, session.deadline(None)) for p in pending]
        assert [a.rows.collect()[0].values for a in answers] == [[n] for n in range(5)]
        assert session.active


def test_session_break_keeps_the_session_consistent(cl: ppg_edge.SyncClient) -> None:
    with cl.new_session() as session:
        result = session.query("SELECT g FROM generate_series(1, 20000) g")
        seen = []
        for row in result.rows:
            seen.append(row.values[0])
            if len(seen) == 5:
                break
        result.rows.close()
        assert seen == [1, 2, 3, 4, 5]
        assert [r.values for r in session.query("SELECT 'next' AS s").rows] == [["next"]]
        assert session.active


def test_transaction_commits(
    db: ppg_edge.SyncDatabase, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    with db.transaction() as tx:
        assert isinstance(tx, ppg_edge.SyncTransaction)
        assert tx.exec(f"INSERT INTO {table} VALUES ($1), ($2)", 1, 2) == 2
        assert tx.query(f"SELECT sum(n) AS s FROM {table}").collect() == [{"s": 3}]
        assert tx.sql(f"SELECT count(*) AS c FROM {table}").collect() == [{"c": 2}]
    assert direct.execute(f"SELECT count(*) FROM {table}").fetchone() == (2,)
    assert db.transaction(lambda t: t.exec(f"INSERT INTO {table} VALUES (3)")) == 1
    assert direct.execute(f"SELECT count(*) FROM {table}").fetchone() == (3,)


def test_transaction_rolls_back_on_an_exception(
    db: ppg_edge.SyncDatabase, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    with pytest.raises(RuntimeError, match="boom"), db.transaction() as tx:
        tx.exec(f"INSERT INTO {table} VALUES (1)")
        raise RuntimeError("boom")
    assert direct.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_failed_transaction_never_reports_a_commit(
    db: ppg_edge.SyncDatabase, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    with pytest.raises(DatabaseError) as caught, db.transaction() as tx:
        tx.exec(f"INSERT INTO {table} VALUES (1)")
        with contextlib.suppress(DatabaseError):  # swallowed: COMMIT must still refuse
            tx.exec("SELECT 1 / 0")
    assert caught.value.code == "25P02"
    assert direct.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_batch_returns_results_in_order(
    db: ppg_edge.SyncDatabase, make_table: TableFactory
) -> None:
    table = make_table("n int")
    results = db.batch(
        Exec(f"INSERT INTO {table} VALUES ($1), ($2)", 1, 2),
        Query(f"SELECT n FROM {table} ORDER BY n"),
        Exec(f"DELETE FROM {table} WHERE n = $1", 1),
    )
    assert results == [2, [{"n": 1}, {"n": 2}], 1]
    builder = db.batch().query("SELECT 1 AS a").exec(f"INSERT INTO {table} VALUES (9)")
    assert isinstance(builder, ppg_edge.SyncBatchBuilder)
    assert builder.run() == [[{"a": 1}], 1]


def test_batch_is_atomic(
    db: ppg_edge.SyncDatabase, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    with pytest.raises(DatabaseError):
        db.batch(Exec(f"INSERT INTO {table} VALUES (1)"), Exec("SELECT 1 / 0"))
    assert direct.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def _best_of(make: Any, runs: int = 3) -> float:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        make()
        timings.append(time.perf_counter() - start)
    return min(timings)


def test_batch_costs_one_round_trip(gateway: Any, slow_url: str) -> None:
    with ppg_edge.connect_sync(gateway.connection_string, endpoint=slow_url) as db:
        db.exec("SELECT 1")  # warm: DNS, pools
        statements = [Query("SELECT $1::int AS n", n) for n in range(10)]
        elapsed = _best_of(lambda: db.batch(*statements))
        # Opening the session (TCP + upgrade: 2 RTT) plus one RTT for all ten statements;
        # sequential statements would cost 10 more.
        assert elapsed < 3 * RTT + 0.5 * RTT + 0.25, elapsed


def test_transaction_pipelines_begin_with_the_first_statement(gateway: Any, slow_url: str) -> None:
    with ppg_edge.connect_sync(gateway.connection_string, endpoint=slow_url) as db:
        db.exec("SELECT 1")

        def one_statement() -> None:
            with db.transaction() as tx:
                tx.exec("SELECT 1")

        elapsed = _best_of(one_statement)
        # Open (2 RTT), BEGIN+statement (1 RTT), probe+COMMIT (1 RTT).
        assert elapsed < 4 * RTT + 0.5 * RTT + 0.25, elapsed


def _raises_timeout_quickly(call: Any, limit: float = 3.0) -> None:
    start = time.perf_counter()
    with pytest.raises(QueryTimeoutError):
        call()
    assert time.perf_counter() - start < limit


def test_session_statement_timeout_leaves_the_session_usable(cl: ppg_edge.SyncClient) -> None:
    with cl.new_session() as session:
        _raises_timeout_quickly(lambda: session.query(SLEEP, timeout=0.5))
        assert session.active
        assert [r.values for r in session.query("SELECT 7 AS n", timeout=10).rows] == [[7]]


def test_session_wide_timeout(cl: ppg_edge.SyncClient) -> None:
    with cl.new_session(timeout=0.5) as session:
        _raises_timeout_quickly(lambda: session.exec(SLEEP))


def test_timeout_inside_a_transaction_rolls_back(
    db: ppg_edge.SyncDatabase, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")

    def work() -> None:
        with db.transaction() as tx:
            tx.exec(f"INSERT INTO {table} (n) VALUES ($1)", 1)
            tx.query(SLEEP, timeout=0.5).collect()

    _raises_timeout_quickly(work)
    assert direct.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)


def test_session_rows_stream_from_a_large_result(cl: ppg_edge.SyncClient) -> None:
    with cl.new_session() as session:
        result = session.query("SELECT g, md5(g::text) AS h FROM generate_series(1, 100000) g")
        total = 0
        for row in result.rows:
            total += row.values[0]
        assert total == 100000 * 100001 // 2


def _bad(gateway: Any) -> str:
    return f"postgres://{gateway.user}:{WRONG_PASSWORD}@127.0.0.1:5432/{gateway.database}"


def test_session_with_bad_credentials_raises_1008(gateway: Any) -> None:
    client = ppg_edge.client_sync(_bad(gateway), endpoint=gateway.url, timeout=10)
    with client, pytest.raises(WebSocketError) as caught, client.new_session() as session:
        session.query("SELECT 1").rows.collect()
    assert caught.value.close_code == CLOSE_POLICY_VIOLATION
    assert WRONG_PASSWORD not in str(caught.value)
    assert WRONG_PASSWORD not in repr(caught.value)


def test_batch_with_bad_credentials_raises_1008(gateway: Any) -> None:
    db = ppg_edge.connect_sync(_bad(gateway), endpoint=gateway.url, timeout=10)
    with db, pytest.raises(WebSocketError) as caught:
        db.batch(Query("SELECT 1"))
    assert caught.value.close_code == CLOSE_POLICY_VIOLATION


def test_session_to_a_gateway_that_is_down(gateway: Any) -> None:
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    url = f"http://127.0.0.1:{port}"
    with ppg_edge.connect_sync(gateway.connection_string, endpoint=url) as db:
        refused = "cannot open a session"
        with pytest.raises(WebSocketError, match=refused):
            db.batch(Query("SELECT 1"))
        with pytest.raises(WebSocketError, match=refused), db.transaction():
            pass


def test_unique_markers_do_not_leak_between_sessions(db: ppg_edge.SyncDatabase) -> None:
    marker = uuid.uuid4().hex
    with db.transaction() as tx:
        tx.exec(f"SET LOCAL application_name = '{marker}'")
        assert tx.query("SELECT current_setting('application_name') AS a").collect() == [
            {"a": marker}
        ]
    assert db.batch(Query("SELECT current_setting('application_name') AS a"))[0] != [{"a": marker}]


def test_a_close_while_idle_is_seen_before_the_next_statement(
    gateway_factory: Any,
) -> None:
    short = gateway_factory(idle_timeout=1)
    with ppg_edge.client_sync(short.connection_string, endpoint=short.url) as client:
        session = client.new_session()
        assert session.exec("SELECT 1") == 1
        deadline = time.monotonic() + 10
        while session.active and time.monotonic() < deadline:
            time.sleep(0.1)  # nothing reads the socket: `active` looks at what arrived
        assert not session.active
        with pytest.raises(WebSocketError) as closed:
            session.exec("SELECT 1")
        assert closed.value.close_code == 1001
        session.close()
