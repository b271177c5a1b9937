"""The example Worker's routes, run in the Workers emulation against the real gateway.

Each test speaks plain HTTP to the emulator, which runs examples/cloudflare-worker
with the vendored ppg_edge and workers SDK, once per Pyodide build of package.json
(Python 3.13 and 3.14); every database round trip goes Worker -> fetch /
fetch-upgrade WebSocket -> gateway -> PostgreSQL.
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
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest

from tests.workers.conftest import PyodideBuild, backend_running
from tests.workers.worker_http import call, call_json

EXAMPLE_SRC = Path(__file__).resolve().parents[2] / "examples" / "cloudflare-worker" / "src"


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


@pytest.mark.python_at_least(3, 14)
def test_a_t_string_route_sends_its_values_as_parameters(worker: str) -> None:
    """Python 3.14 Workers: db.sql(t"... {email}") finds the user; SQL in the value stays text."""
    query = urlencode({"email": "grace@example.com"})
    status, body = call_json(worker, "GET", f"/users/by-email?{query}")
    assert (status, body) == (
        200,
        {"user": {"id": 2, "name": "Grace Hopper", "email": "grace@example.com"}},
    )
    injection = urlencode({"email": "nobody' OR '1'='1"})
    status, body = call_json(worker, "GET", f"/users/by-email?{injection}")
    assert (status, body) == (404, {"error": "no user with that email"})


@pytest.mark.python_below(3, 14)
def test_the_t_string_route_says_it_needs_python_314(worker: str, pyodide: PyodideBuild) -> None:
    status, body = call_json(worker, "GET", "/users/by-email?email=grace%40example.com")
    version = "{}.{}".format(*pyodide.python)
    assert (status, body) == (
        501,
        {"error": f"/users/by-email uses a t-string and needs Python 3.14 (this is {version})"},
    )


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


def test_a_connection_killed_under_a_request_is_a_503(worker: str, worker_database: Any) -> None:
    """PostgreSQL ends the backend mid-statement: the Worker answers 503, not a 4xx."""
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(call_json, worker, "GET", "/session?tag=doomed&hold=5")
        pid = backend_running(worker_database, "SELECT pg_sleep%")
        with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        status, body = answer.result()
    assert status == 503
    assert body["code"].startswith(("08", "57P01"))
    assert body["error"].startswith("the database connection was lost")


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


@pytest.mark.parametrize("module", ["entry.py", "pinned.py", "blocking.py"])
def test_the_example_keeps_no_io_objects_at_module_level(module: str) -> None:
    """Workers forbid reusing I/O across requests: no client is built outside a function.

    The Durable Object (pinned.py) keeps its session on the instance, never in a global.
    """
    source = (EXAMPLE_SRC / module).read_text()
    tree = ast.parse(source)
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    eager = [node for node in tree.body if not isinstance(node, functions | ast.ClassDef)]
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        eager += [node for node in cls.body if not isinstance(node, functions)]
    calls = {
        node.func.attr
        for statement in eager
        for node in ast.walk(statement)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & {"connect", "client", "new_session", "connect_sync"}
    assert "global " not in source
    opens = ("ppg_edge.connect(", "ppg_edge.client(", "ppg_edge.connect_sync(", "dbapi.connect(")
    assert any(call in source for call in opens)
