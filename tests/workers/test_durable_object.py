"""The example's Durable Object keeps one ppg_edge session open across requests.

`GET /pinned?object=O&tag=T` goes Worker -> Durable Object O, which records a
visit in a session-scoped temp table on the WebSocket session it keeps. Each
test uses an object name of its own, so it starts with a fresh instance (the
emulator keeps instances for its whole life, as one live object per id).
"""

from __future__ import annotations

import re
import secrets
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import psycopg

from tests.support.servers import Gateway
from tests.workers.conftest import EXAMPLE, SESSION_IDLE_TIMEOUT, durable_object_bindings
from tests.workers.worker_http import call_json

STATEMENTS_PER_VISIT = 2
"""pinned.py sends two statements per request (the INSERT and the backend pid)."""
IDLE_CLOSE_WAIT = SESSION_IDLE_TIMEOUT + 30.0


def visit(worker: str, name: str, tag: str) -> dict[str, Any]:
    status, body = call_json(worker, "GET", "/pinned?" + urlencode({"object": name, "tag": tag}))
    assert status == 200, body
    return dict(body)


def idle_closed_sessions(gateway: Gateway, statements: int) -> int:
    """Gateway log lines of WebSocket sessions ended by the idle timeout after N statements."""
    pattern = re.compile(rf"WS /v0/session .*statements={statements} .*\(idle timeout")
    return len(pattern.findall(gateway.log_text()))


def test_one_session_serves_sequential_and_concurrent_requests_until_it_idles_out(
    worker: str, worker_gateway: Gateway
) -> None:
    name = f"reuse-{secrets.token_hex(4)}"
    statements = 1 + 6 * STATEMENTS_PER_VISIT  # the temp table, then six visits
    ended_before = idle_closed_sessions(worker_gateway, statements)

    answers = [visit(worker, name, f"step-{i}") for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        answers += list(pool.map(lambda i: visit(worker, name, f"burst-{i}"), range(3)))

    assert [answer["visit"] for answer in answers[:3]] == [1, 2, 3]
    assert sorted(answer["visit"] for answer in answers[3:]) == [4, 5, 6]
    assert len({answer["pid"] for answer in answers}) == 1  # one backend: one session
    assert {answer["sessions_opened"] for answer in answers} == {1}

    # The gateway ends the idle session and logs it: one session carried all six requests.
    deadline = time.monotonic() + IDLE_CLOSE_WAIT
    while time.monotonic() < deadline:
        if idle_closed_sessions(worker_gateway, statements) > ended_before:
            break
        time.sleep(0.2)
    assert idle_closed_sessions(worker_gateway, statements) == ended_before + 1

    # The object saw its socket close; the next request opens a new session (empty temp table).
    after = visit(worker, name, "after-idle")
    assert (after["visit"], after["sessions_opened"]) == (1, 2)


def test_a_session_whose_connection_died_is_replaced_on_the_next_request(
    worker: str, worker_database: Any
) -> None:
    name = f"killed-{secrets.token_hex(4)}"
    first = visit(worker, name, "before")
    assert (first["visit"], first["sessions_opened"]) == (1, 1)
    with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
        # With a timeout, pg_terminate_backend returns once the backend has exited.
        row = conn.execute("SELECT pg_terminate_backend(%s, 10000)", (first["pid"],)).fetchone()
        assert row == (True,)

    status, body = call_json(worker, "GET", "/pinned?" + urlencode({"object": name}))
    assert status == 503
    assert body["error"].startswith("the database session was lost")
    assert worker_database.password not in body["error"]

    again = visit(worker, name, "after")
    assert (again["visit"], again["sessions_opened"]) == (1, 2)
    assert again["pid"] != first["pid"]


def test_objects_are_separate_instances_with_separate_sessions(worker: str) -> None:
    left = visit(worker, f"left-{secrets.token_hex(4)}", "a")
    right = visit(worker, f"right-{secrets.token_hex(4)}", "b")
    assert (left["visit"], right["visit"]) == (1, 1)
    assert left["pid"] != right["pid"]


def test_wrangler_binds_the_durable_object_and_creates_its_class() -> None:
    """The emulator binds what wrangler.toml binds; each bound class has a migration."""
    config = tomllib.loads((EXAMPLE / "wrangler.toml").read_text())
    bindings = durable_object_bindings(EXAMPLE / "wrangler.toml")
    created = {name for step in config["migrations"] for name in step.get("new_sqlite_classes", [])}
    assert bindings == {"PINNED": "PinnedSession"}
    assert set(bindings.values()) <= created
