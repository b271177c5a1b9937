"""The example Worker's routes, run in the Workers emulation against the real gateway.

Each test speaks plain HTTP to the emulator, which runs examples/cloudflare-worker
in Pyodide 0.28 with the vendored ppg_edge and workers SDK; every database
round trip goes Worker -> fetch / fetch-upgrade WebSocket -> gateway -> PostgreSQL.
"""

from __future__ import annotations

import ast
import hashlib
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.workers.worker_http import call, call_json

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "examples" / "cloudflare-worker" / "src"


@pytest.fixture
def balances(worker_database: Any) -> Any:
    """Reset both accounts to 100 and 50; return a reader of the stored balances."""
    with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
        conn.execute("UPDATE accounts SET balance = CASE id WHEN 1 THEN 100 ELSE 50 END")

    def read() -> dict[int, int]:
        with psycopg.connect(worker_database.direct_dsn) as conn:
            rows = conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
        return dict(rows)

    return read


def test_users_answers_json_from_a_parameterised_query(worker: str) -> None:
    status, body = call_json(worker, "GET", "/users?limit=3")
    assert status == 200
    assert body == {
        "users": [
            {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
            {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"},
            {"id": 3, "name": "Edsger Dijkstra", "email": "edsger@example.com"},
        ]
    }


def test_users_rejects_a_bad_limit_with_400(worker: str) -> None:
    status, body = call_json(worker, "GET", "/users?limit=zero")
    assert (status, body) == (400, {"error": "limit must be an integer from 1 to 100"})


def test_numbers_streams_a_large_result_as_ndjson(worker: str) -> None:
    count = 20_000
    status, headers, data = call(worker, "GET", f"/numbers?count={count}")
    assert status == 200
    assert headers["content-type"] == "application/x-ndjson"
    assert headers.get("transfer-encoding") == "chunked"
    lines = data.decode().splitlines()
    assert len(lines) == count
    rows = [json.loads(line) for line in lines]
    assert [row["n"] for row in rows] == list(range(1, count + 1))
    for row in (rows[0], rows[4_999], rows[-1]):
        assert row["hash"] == hashlib.md5(str(row["n"]).encode()).hexdigest()


def test_transfer_moves_money_in_one_transaction(worker: str, balances: Any) -> None:
    status, body = call_json(worker, "POST", "/transfer", {"from": 1, "to": 2, "amount": 30})
    assert (status, body) == (200, {"balances": {"1": 70, "2": 80}})
    assert balances() == {1: 70, 2: 80}


def test_transfer_overdraft_is_409_and_rolls_back(worker: str, balances: Any) -> None:
    status, body = call_json(worker, "POST", "/transfer", {"from": 2, "to": 1, "amount": 80})
    assert status == 409
    assert body["code"] == "23514"
    assert "accounts_balance_check" in body["error"]
    assert balances() == {1: 100, 2: 50}


def test_transfer_to_a_missing_account_is_404_and_rolls_back(worker: str, balances: Any) -> None:
    status, body = call_json(worker, "POST", "/transfer", {"from": 1, "to": 99, "amount": 10})
    assert (status, body) == (404, {"error": "no account 99"})
    assert balances() == {1: 100, 2: 50}


def test_transfer_rejects_malformed_json_with_400(worker: str) -> None:
    status, body = call_json(worker, "POST", "/transfer", {"from": 1})
    assert (status, body) == (400, {"error": 'expected JSON {"from": ID, "to": ID, "amount": N}'})


def test_unknown_route_and_wrong_method(worker: str) -> None:
    assert call_json(worker, "GET", "/nope") == (404, {"error": "no route /nope"})
    assert call_json(worker, "GET", "/transfer") == (405, {"error": "/transfer takes POST"})


def test_concurrent_requests_get_separate_sessions(worker: str) -> None:
    """Both requests hold a transaction at once; each sees only its own temp table row."""
    with ThreadPoolExecutor(2) as pool:
        futures = [
            pool.submit(call_json, worker, "GET", f"/session?tag={tag}&hold=0.5")
            for tag in ("alpha", "beta")
        ]
        (status_a, alpha), (status_b, beta) = (f.result() for f in futures)
    assert (status_a, status_b) == (200, 200)
    assert alpha["markers"] == "alpha"
    assert beta["markers"] == "beta"
    assert alpha["pid"] != beta["pid"]
    assert alpha["txid"] != beta["txid"]


def test_wrong_password_over_http_is_a_clear_502(
    worker_with_wrong_password: str, worker_database: Any
) -> None:
    status, _headers, data = call(worker_with_wrong_password, "GET", "/users")
    body = json.loads(data)
    assert status == 502
    assert body["upstream_status"] == 401
    assert body["error"].startswith("the database refused the request")
    assert worker_database.password not in data.decode()


def test_wrong_password_over_websocket_is_a_clear_502(
    worker_with_wrong_password: str, worker_database: Any
) -> None:
    status, _headers, data = call(
        worker_with_wrong_password, "POST", "/transfer", {"from": 1, "to": 2, "amount": 1}
    )
    body = json.loads(data)
    assert status == 502
    assert body["close_code"] == 1008
    assert body["error"].startswith("the database session failed")
    assert worker_database.password not in data.decode()


def test_a_client_that_leaves_mid_stream_stops_the_query(worker: str, worker_database: Any) -> None:
    """Workers cancel the body stream; the example then closes its result and database."""
    address = urlsplit(worker)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(b"GET /numbers?count=1000000 HTTP/1.1\r\nHost: worker\r\n\r\n")
        received = b""
        while len(received) < 256 * 1024:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        assert received.startswith(b"HTTP/1.1 200")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _running_numbers_queries(worker_database) > 0:
        time.sleep(0.1)
    assert _running_numbers_queries(worker_database) == 0
    assert call_json(worker, "GET", "/users?limit=1")[0] == 200


def _running_numbers_queries(worker_database: Any) -> int:
    with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE query LIKE '%generate_series%' AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_example_keeps_no_io_objects_at_module_level() -> None:
    """Workers forbid reusing I/O across requests: no client is built outside a function."""
    source = (EXAMPLE_SRC / "entry.py").read_text()
    module = ast.parse(source)
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    eager = [node for node in module.body if not isinstance(node, functions | ast.ClassDef)]
    for cls in (node for node in module.body if isinstance(node, ast.ClassDef)):
        eager += [node for node in cls.body if not isinstance(node, functions)]
    calls = {
        node.func.attr
        for statement in eager
        for node in ast.walk(statement)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"connect", "client", "new_session"}
    assert "global " not in source
    assert "ppg_edge.connect(" in source
