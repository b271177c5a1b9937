"""The example's blocking routes: the synchronous face in a Worker, through JSPI's run_sync.

`/sync/users` (ppg_edge.dbapi over HTTP) and `/sync/transfer` (connect_sync, a
transaction on a WebSocket session) are plain functions called from the async
fetch handler. Each answer carries `pyodide.ffi.can_run_sync()` as the Worker
saw it; without JSPI the sync face would have raised its GenericError instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.workers.conftest import WorkerDatabase, backend_running
from tests.workers.worker_http import call_json

FIRST_USERS = [
    {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"},
    {"id": 3, "name": "Edsger Dijkstra", "email": "edsger@example.com"},
]
HOLD = 5.0
"""The longest server-side pause the route allows: a blocked request outlasts the test's checks."""


def test_sync_users_runs_the_dbapi_through_run_sync(worker: str) -> None:
    status, body = call_json(worker, "GET", "/sync/users?limit=3")
    assert (status, body) == (200, {"users": FIRST_USERS, "can_run_sync": True})


def test_a_statement_timeout_on_the_sync_route_is_a_504(
    worker: str, worker_database: WorkerDatabase
) -> None:
    started = time.monotonic()
    status, body = call_json(worker, "GET", f"/sync/users?hold={HOLD}&timeout=0.5")
    assert (status, body) == (
        504,
        {"error": "the statement did not finish within its 0.5 s timeout"},
    )
    # The timeout abandoned the request, and the database stopped the pause with it:
    # without that, pg_sleep would still run until HOLD seconds after the start.
    assert not _sleeping_backends(worker_database, until=started + HOLD - 1.0)
    assert call_json(worker, "GET", "/sync/users?limit=1")[0] == 200  # the isolate goes on


def _sleeping_backends(worker_database: WorkerDatabase, until: float) -> int:
    """How many backends still run a pg_sleep at `until` (or 0 as soon as none does)."""
    while True:
        with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                " AND query LIKE 'SELECT pg_sleep%' AND pid <> pg_backend_pid()"
            ).fetchone()
        count = int(row[0]) if row else 0
        if count == 0 or time.monotonic() >= until:
            return count
        time.sleep(0.05)


def test_a_blocked_sync_request_leaves_the_isolate_serving_others(
    worker: str, worker_database: WorkerDatabase
) -> None:
    """run_sync suspends one request's stack, not the isolate: others run meanwhile."""
    with ThreadPoolExecutor(1) as pool:
        blocked = pool.submit(call_json, worker, "GET", f"/sync/users?hold={HOLD}&limit=1")
        backend_running(worker_database, "SELECT pg_sleep%")  # it is blocked in the database
        assert call_json(worker, "GET", "/sync/users?limit=2") == (
            200,
            {"users": FIRST_USERS[:2], "can_run_sync": True},
        )
        assert not blocked.done()
        assert blocked.result() == (200, {"users": FIRST_USERS[:1], "can_run_sync": True})


def test_sync_users_refuses_bad_parameters_with_400(worker: str) -> None:
    assert call_json(worker, "GET", "/sync/users?limit=0") == (
        400,
        {"error": "limit must be an integer from 1 to 100"},
    )
    assert call_json(worker, "GET", "/sync/users?timeout=0") == (
        400,
        {"error": "timeout must be more than 0 seconds"},
    )
    assert call_json(worker, "GET", "/sync/users?hold=nan") == (
        400,
        {"error": "hold must be between 0 and 5.0 seconds"},
    )
    assert call_json(worker, "POST", "/sync/users") == (405, {"error": "/sync/users takes GET"})


def test_sync_transfer_moves_money_in_one_session_transaction(
    worker: str, balances: Callable[[], dict[int, int]]
) -> None:
    status, body = call_json(worker, "POST", "/sync/transfer", {"from": 1, "to": 2, "amount": 30})
    assert (status, body) == (200, {"balances": {"1": 70, "2": 80}, "can_run_sync": True})
    assert balances() == {1: 70, 2: 80}


def test_sync_transfer_failures_roll_back(
    worker: str, balances: Callable[[], dict[int, int]]
) -> None:
    missing = call_json(worker, "POST", "/sync/transfer", {"from": 1, "to": 99, "amount": 10})
    assert missing == (404, {"error": "no account 99"})
    status, body = call_json(worker, "POST", "/sync/transfer", {"from": 2, "to": 1, "amount": 80})
    assert (status, body["code"]) == (409, "23514")
    assert "accounts_balance_check" in body["error"]
    assert balances() == {1: 100, 2: 50}
