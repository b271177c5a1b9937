"""`BridgedRuntime`, the sync face on hosts whose I/O is async (Pyodide, Workers: JSPI's
`run_sync`), exercised here over the async CPython runtime with a test event loop standing
in for JSPI: statements, streams, sessions and timeouts through the bridge."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

import ppg_edge
from ppg_edge import Exec, Query, QueryTimeoutError
from ppg_edge._sync.bridged import NO_JSPI, BridgedRuntime, jspi_block
from ppg_edge.runtime.cpython import CPythonRuntime


@pytest.fixture
def bridged_db(gateway: Any) -> Iterator[ppg_edge.SyncDatabase]:
    loop = asyncio.new_event_loop()  # the stand-in for JSPI's suspension
    runtime = BridgedRuntime(CPythonRuntime(connect_timeout=10), loop.run_until_complete)
    try:
        with ppg_edge.connect_sync(
            gateway.connection_string, endpoint=gateway.url, runtime=runtime
        ) as db:
            yield db
        runtime.close()
    finally:
        loop.close()


def test_statements_streams_and_sessions_through_the_bridge(
    bridged_db: ppg_edge.SyncDatabase,
) -> None:
    db = bridged_db
    assert db.query("SELECT $1::int + 1 AS n", 41).collect() == [{"n": 42}]
    assert db.exec("SELECT 1") == 1
    seen = []
    for row in db.query("SELECT g FROM generate_series(1, 100000) g"):
        seen.append(row["g"])
        if len(seen) == 3:
            break
    assert seen == [1, 2, 3]
    assert sum(row["g"] for row in db.query("SELECT g FROM generate_series(1, 1000) g")) == 500500
    with db.transaction() as tx:
        tx.exec("CREATE TEMP TABLE t (v int)")
        tx.exec("INSERT INTO t VALUES (1), (2)")
        assert tx.query("SELECT sum(v)::int AS s FROM t").collect() == [{"s": 3}]
    assert db.batch(Query("SELECT 1 AS a"), Exec("SELECT 1")) == [[{"a": 1}], 1]


def test_timeouts_through_the_bridge(bridged_db: ppg_edge.SyncDatabase) -> None:
    db = bridged_db
    for call in (
        lambda: db.query("SELECT pg_sleep(5)", timeout=0.5).collect(),
        lambda: db.exec("SELECT pg_sleep(5)", timeout=0.5),
    ):
        start = time.perf_counter()
        with pytest.raises(QueryTimeoutError):
            call()
        assert time.perf_counter() - start < 3
    assert db.query("SELECT 2 AS n").collect() == [{"n": 2}]
    with db.client.new_session() as session:
        with pytest.raises(QueryTimeoutError):
            session.exec("SELECT pg_sleep(5)", timeout=0.5)
        assert [r.values for r in session.query("SELECT 3 AS n", timeout=10).rows] == [[3]]


def test_without_jspi_the_error_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    ffi = types.ModuleType("pyodide.ffi")
    ffi.can_run_sync = lambda: False  # type: ignore[attr-defined]
    ffi.run_sync = lambda awaitable: pytest.fail("run_sync without JSPI")  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyodide", types.ModuleType("pyodide"))
    monkeypatch.setitem(sys.modules, "pyodide.ffi", ffi)

    async def never() -> None:
        raise AssertionError("must not run")

    with pytest.raises(ppg_edge.GenericError, match="can_run_sync"):
        jspi_block(never())
    assert "Chromium >= 137" in NO_JSPI
