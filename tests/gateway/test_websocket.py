"""GET /v0/session at the raw WebSocket level: PROTOCOL.md section 4 and issue points 4, 6, 8."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg
import pytest

from ppg_edge.core.protocol import (
    CLOSE_GOING_AWAY,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    DESCRIPTOR_URN,
    ERROR_URN,
    EXEC_DESCRIPTION,
    SESSION_PATH,
    TEXT_PARAM_URN,
    WS_SUBPROTOCOL,
)
from tests.support.raw import (
    answer_rows,
    expect_close,
    open_session,
    read_answer,
    send_statement,
)

LIMIT = 1024 * 1024
GOOD_ORIGIN = "http://good.example"


@pytest.fixture(scope="module")
def limited(gateway_factory: Callable[..., Any]) -> Any:
    """Small messages, a short statement timeout and an origin allow-list."""
    return gateway_factory(max_body_size=LIMIT, statement_timeout=0.5, allow_origin=[GOOD_ORIGIN])


async def assert_session_works(client: aiohttp.ClientSession, gateway: Any) -> None:
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", "SELECT 'session ok'")
    assert answer_rows(await read_answer(ws)) == [["session ok"]]
    await ws.close()


async def test_subprotocol_is_selected_and_query_answers_in_pairs(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway)
    assert ws.protocol == WS_SUBPROTOCOL
    await send_statement(ws, "query", r"SELECT 1 AS a, '\xff'::bytea AS b, NULL AS c")
    pairs = await read_answer(ws)
    assert pairs == [
        (
            DESCRIPTION_URN,
            {
                "columns": [
                    {"name": "a", "typeOid": 23},
                    {"name": "b", "typeOid": 17},
                    {"name": "c", "typeOid": 25},
                ]
            },
        ),
        (DATAROW_URN, {"values": ["1", base64.b64encode(b"\xff").decode(), None]}),
        (COMPLETE_URN, {"complete": True}),
    ]
    await send_statement(ws, "exec", "SET search_path = public")
    assert await read_answer(ws) == [
        (DESCRIPTION_URN, EXEC_DESCRIPTION),
        (DATAROW_URN, {"values": ["0"]}),
        (COMPLETE_URN, {"complete": True}),
    ]
    await ws.close()


async def test_session_state_spans_statements(client: aiohttp.ClientSession, gateway: Any) -> None:
    ws = await open_session(client, gateway)
    await send_statement(ws, "exec", "SET application_name = 'ws-state'")
    await send_statement(
        ws, "query", "SELECT current_setting('application_name'), current_setting('TimeZone')"
    )
    await read_answer(ws)
    assert answer_rows(await read_answer(ws)) == [["ws-state", "UTC"]]
    await ws.close()


async def test_db_parameter_over_websocket(client: aiohttp.ClientSession, gateway: Any) -> None:
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS ppg_ws_other")
        conn.execute("CREATE DATABASE ppg_ws_other")
    ws = await open_session(client, gateway, db="ppg_ws_other")
    await send_statement(ws, "query", "SELECT current_database()")
    assert answer_rows(await read_answer(ws)) == [["ppg_ws_other"]]
    await ws.close()


async def test_pipelined_burst_answers_fifo(client: aiohttp.ClientSession, gateway: Any) -> None:
    ws = await open_session(client, gateway)
    for i in range(20):
        sleep = "pg_sleep(0.01)" if i % 3 == 0 else "NULL"
        await send_statement(ws, "query", f"SELECT $1::int AS i, {sleep}", [str(i)])
    rows = [answer_rows(await read_answer(ws)) for _ in range(20)]
    assert [r[0][0] for r in rows] == [str(i) for i in range(20)]
    await ws.close()


async def test_pipelining_costs_one_round_trip(client: aiohttp.ClientSession, gateway: Any) -> None:
    """The gateway reads ahead: 20 statements sent in one burst all run without client waits."""
    ws = await open_session(client, gateway)
    messages = []
    for i in range(20):
        messages += [DESCRIPTOR_URN, json.dumps({"query": f"SELECT {i}, clock_timestamp()"})]
    started = time.monotonic()
    for message in messages:
        await ws.send_str(message)
    answers = [await read_answer(ws) for _ in range(20)]
    assert [answer_rows(a)[0][0] for a in answers] == [str(i) for i in range(20)]
    assert time.monotonic() - started < 5
    await ws.close()


async def test_failed_statement_does_not_cancel_later_ones(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", "SELECT 1/0")
    await send_statement(ws, "query", "SELECT 'after error'")
    await send_statement(ws, "exec", "BEGIN")
    await send_statement(ws, "query", "SELECT * FROM no_such_table_ws")
    await send_statement(ws, "query", "SELECT 'inside failed transaction'")
    await send_statement(ws, "exec", "ROLLBACK")
    await send_statement(ws, "query", "SELECT 'after rollback'")
    first = await read_answer(ws)
    assert first[-1][0] == ERROR_URN and first[-1][1]["error"]["code"] == "22012"
    assert answer_rows(await read_answer(ws)) == [["after error"]]
    assert answer_rows(await read_answer(ws)) == [["0"]]
    assert (await read_answer(ws))[-1][1]["error"]["code"] == "42P01"
    aborted = await read_answer(ws)
    assert aborted[-1][1]["error"]["code"] == "25P02"
    assert aborted[-1][1]["error"]["severity"] == "ERROR"
    assert answer_rows(await read_answer(ws)) == [["0"]]
    assert answer_rows(await read_answer(ws)) == [["after rollback"]]
    await ws.close()


async def test_error_after_rows_over_websocket(client: aiohttp.ClientSession, gateway: Any) -> None:
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", "SELECT 1 / (600 - g) FROM generate_series(1, 600) g")
    pairs = await read_answer(ws)
    assert pairs[0][0] == DESCRIPTION_URN
    assert len(answer_rows(pairs)) >= 256
    assert pairs[-1][0] == ERROR_URN and pairs[-1][1]["error"]["code"] == "22012"
    await send_statement(ws, "query", "SELECT 'next'")
    assert answer_rows(await read_answer(ws)) == [["next"]]
    await ws.close()


@pytest.mark.parametrize("size", [10, 2000, 3 * 1024 * 1024])
async def test_extended_parameters_over_websocket(
    client: aiohttp.ClientSession, gateway: Any, size: int
) -> None:
    ws = await open_session(client, gateway)
    blob = os.urandom(size)
    text = "é" * (size // 2)
    await send_statement(
        ws,
        "query",
        "SELECT md5($1::bytea), length($2::text), $3::text",
        [blob, text, "inline"],
        extended=True,
    )
    assert answer_rows(await read_answer(ws, 30)) == [
        [hashlib.md5(blob).hexdigest(), str(len(text)), "inline"]
    ]
    await ws.close()


async def test_script_over_websocket(client: aiohttp.ClientSession, gateway: Any) -> None:
    ws = await open_session(client, gateway)
    await send_statement(
        ws, "exec", "CREATE TEMP TABLE ws_s(a int); INSERT INTO ws_s VALUES (1), (2)"
    )
    assert answer_rows(await read_answer(ws)) == [["2"]]
    await send_statement(ws, "query", "INSERT INTO ws_s VALUES (3); SELECT 1/0")
    assert (await read_answer(ws))[-1][1]["error"]["code"] == "22012"
    await send_statement(ws, "query", "SELECT count(*) FROM ws_s")
    assert answer_rows(await read_answer(ws)) == [["2"]]
    await ws.close()


@pytest.mark.parametrize("how", ["close frame", "abort"])
async def test_close_mid_transaction_rolls_back_and_frees_locks(
    client: aiohttp.ClientSession, gateway: Any, how: str
) -> None:
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute(
            "DROP TABLE IF EXISTS ws_locks; CREATE TABLE ws_locks (id int PRIMARY KEY, v text)"
        )
        conn.execute("INSERT INTO ws_locks VALUES (1, 'original')")
    ws = await open_session(client, gateway)
    await send_statement(ws, "exec", "BEGIN")
    await send_statement(ws, "exec", "UPDATE ws_locks SET v = 'uncommitted' WHERE id = 1")
    await send_statement(ws, "query", "SELECT v FROM ws_locks WHERE id = 1 FOR UPDATE")
    await read_answer(ws)
    assert answer_rows(await read_answer(ws)) == [["1"]]
    assert answer_rows(await read_answer(ws)) == [["uncommitted"]]
    if how == "abort":
        transport = ws._response.connection.transport  # type: ignore[union-attr]
        assert transport is not None
        transport.abort()
    else:
        await ws.close()
    await asyncio.sleep(0.2)
    async with await psycopg.AsyncConnection.connect(gateway.direct_dsn) as other:
        await other.execute("SET lock_timeout = '2s'")
        cur = await other.execute("SELECT v FROM ws_locks WHERE id = 1 FOR UPDATE")
        assert await cur.fetchone() == ("original",)


async def test_wrong_password_closes_1008_and_fails_waiting_statements(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway, password="wrong-password")
    await send_statement(ws, "query", "SELECT 1")
    code, reason = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION
    assert "password authentication failed" in reason
    assert "wrong-password" not in reason
    await assert_session_works(client, gateway)


async def test_unknown_database_closes_1008(client: aiohttp.ClientSession, gateway: Any) -> None:
    ws = await open_session(client, gateway, db="no_such_db_ws")
    code, reason = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION and "does not exist" in reason


PROTOCOL_VIOLATIONS: dict[str, tuple[list[str | bytes], str]] = {
    "auth not JSON": (["not json"], "auth message"),
    "auth without password": ([json.dumps({"username": "x"})], "auth message"),
    "auth as binary": ([b"{}"], "auth message"),
    "descriptor JSON broken": (["AUTH", DESCRIPTOR_URN, "{oops"], "JSON"),
    "unknown URN": (["AUTH", "urn:prisma:query:what"], "unknown message"),
    "server URN from client": (["AUTH", COMPLETE_URN], "server-only"),
    "descriptor without URN": (["AUTH", json.dumps({"query": "SELECT 1"})], "expected"),
    "param before descriptor": (["AUTH", TEXT_PARAM_URN, "x"], "expected"),
    "binary where text expected": (["AUTH", b"\x00\x01"], "binary message"),
    "wrong param URN": (
        [
            "AUTH",
            DESCRIPTOR_URN,
            json.dumps({"query": "SELECT $1", "parameters": [{"type": "binary", "byteSize": 1}]}),
            TEXT_PARAM_URN,
        ],
        "urn:prisma:query:param:binary",
    ),
    "text value for binary param": (
        [
            "AUTH",
            DESCRIPTOR_URN,
            json.dumps({"query": "SELECT $1", "parameters": [{"type": "binary", "byteSize": 1}]}),
            "urn:prisma:query:param:binary",
            "x",
        ],
        "binary message",
    ),
    "byteSize mismatch": (
        [
            "AUTH",
            DESCRIPTOR_URN,
            json.dumps({"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 3}]}),
            TEXT_PARAM_URN,
            "abcd",
        ],
        "byteSize is 3",
    ),
}


@pytest.mark.parametrize("case", sorted(PROTOCOL_VIOLATIONS))
async def test_protocol_violation_closes_1002_with_reason(
    client: aiohttp.ClientSession, gateway: Any, case: str
) -> None:
    messages, fragment = PROTOCOL_VIOLATIONS[case]
    ws = await open_session(client, gateway, auth=False)
    for message in messages:
        if message == "AUTH":
            message = json.dumps({"username": gateway.user, "password": gateway.password})
        if isinstance(message, bytes):
            await ws.send_bytes(message)
        else:
            await ws.send_str(message)
    code, reason = await expect_close(ws)
    assert code == CLOSE_PROTOCOL_ERROR
    assert fragment in reason
    await assert_session_works(client, gateway)


async def test_statements_before_a_violation_are_answered(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", "SELECT 'answered'")
    assert answer_rows(await read_answer(ws)) == [["answered"]]
    await ws.send_str("garbage")
    code, _ = await expect_close(ws)
    assert code == CLOSE_PROTOCOL_ERROR


async def test_message_over_limit_closes_1009(client: aiohttp.ClientSession, limited: Any) -> None:
    ws = await open_session(client, limited)
    size = LIMIT + 1
    await ws.send_str(DESCRIPTOR_URN)
    await ws.send_str(
        json.dumps({"query": "SELECT $1", "parameters": [{"type": "binary", "byteSize": size}]})
    )
    await ws.send_str("urn:prisma:query:param:binary")
    await ws.send_bytes(b"\x00" * size)
    code, _ = await expect_close(ws)
    assert code == CLOSE_MESSAGE_TOO_BIG
    await assert_session_works(client, limited)


async def test_statement_declaring_more_than_the_limit_closes_1009(
    client: aiohttp.ClientSession, limited: Any
) -> None:
    ws = await open_session(client, limited)
    half = LIMIT // 2 + 1
    params = [{"type": "binary", "byteSize": half}, {"type": "binary", "byteSize": half}]
    await ws.send_str(DESCRIPTOR_URN)
    await ws.send_str(json.dumps({"query": "SELECT $1, $2", "parameters": params}))
    code, reason = await expect_close(ws)
    assert code == CLOSE_MESSAGE_TOO_BIG
    assert f"statement declares {2 * half} parameter bytes" in reason
    await assert_session_works(client, limited)


async def test_message_at_limit_is_accepted(client: aiohttp.ClientSession, limited: Any) -> None:
    ws = await open_session(client, limited)
    blob = b"\x07" * (LIMIT - 1024)
    await send_statement(ws, "query", "SELECT octet_length($1::bytea)", [blob], extended=True)
    assert answer_rows(await read_answer(ws)) == [[str(len(blob))]]
    await ws.close()


async def test_statement_timeout_is_57014_and_session_goes_on(
    client: aiohttp.ClientSession, limited: Any
) -> None:
    ws = await open_session(client, limited)
    await send_statement(ws, "query", "SELECT pg_sleep(3)")
    await send_statement(ws, "query", "SELECT 'after timeout'")
    started = time.monotonic()
    error = (await read_answer(ws))[-1][1]["error"]
    assert error["code"] == "57014" and "statement timeout" in error["message"]
    assert time.monotonic() - started < 2.5
    assert answer_rows(await read_answer(ws)) == [["after timeout"]]
    await ws.close()


async def test_statement_timeout_over_http(client: aiohttp.ClientSession, limited: Any) -> None:
    from tests.support.raw import RawHttp

    answer = await RawHttp(client, limited).query("SELECT pg_sleep(3)")
    assert answer.error is not None and answer.error["code"] == "57014"


async def test_refused_origin_gets_403(client: aiohttp.ClientSession, limited: Any) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await open_session(client, limited, headers={"Origin": "http://evil.example"})
    assert caught.value.status == 403
    ws = await open_session(client, limited, headers={"Origin": GOOD_ORIGIN})
    await send_statement(ws, "query", "SELECT 'good origin'")
    assert answer_rows(await read_answer(ws)) == [["good origin"]]
    await ws.close()
    await assert_session_works(client, limited)


async def test_idle_session_is_closed_with_reason(
    client: aiohttp.ClientSession, gateway_factory: Callable[..., Any]
) -> None:
    idle = gateway_factory(idle_timeout=1)
    ws = await open_session(client, idle)
    await send_statement(ws, "query", "SELECT pg_sleep(1.5), 'busy is not idle'")
    assert answer_rows(await read_answer(ws))[0][1] == "busy is not idle"
    started = time.monotonic()
    code, reason = await expect_close(ws, timeout=5)
    assert code == CLOSE_GOING_AWAY and "idle" in reason
    assert 0.5 < time.monotonic() - started < 3
    await assert_session_works(client, idle)


async def test_session_limit_rejects_with_a_clear_code(
    client: aiohttp.ClientSession, gateway_factory: Callable[..., Any]
) -> None:
    few = gateway_factory(max_sessions=2)
    first = await open_session(client, few)
    second = await open_session(client, few)
    for ws in (first, second):
        await send_statement(ws, "query", "SELECT 1")
        assert answer_rows(await read_answer(ws)) == [["1"]]
    third = await open_session(client, few)
    code, reason = await expect_close(third)
    assert code == aiohttp.WSCloseCode.TRY_AGAIN_LATER and "too many sessions" in reason
    await first.close()
    await asyncio.sleep(0.2)
    await assert_session_works(client, few)
    await second.close()


async def test_log_has_one_line_per_session_and_no_password(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    await assert_session_works(client, gateway)
    ws = await open_session(client, gateway, password="secret-bad-password")
    await expect_close(ws)
    await asyncio.sleep(0.2)
    log = gateway.log_text()
    assert "WS " + SESSION_PATH in log and "close=1008" in log
    assert gateway.password not in log and "secret-bad-password" not in log
    assert "Traceback" not in log


async def test_terminated_backend_ends_the_session_with_1011(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", "SELECT pg_backend_pid()")
    pid = answer_rows(await read_answer(ws))[0][0]
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [int(pid)])
    await asyncio.sleep(0.1)
    await send_statement(ws, "query", "SELECT 1")
    error = (await read_answer(ws))[-1][1]["error"]
    assert error["code"] in ("57P01", "08006") and error["severity"] in ("FATAL", "ERROR")
    code, reason = await expect_close(ws)
    assert code == 1011 and "lost" in reason
    await assert_session_works(client, gateway)


async def test_many_clients_at_once_each_get_their_own_answers(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    from tests.support.raw import RawHttp

    http = RawHttp(client, gateway)

    async def over_http(i: int) -> str:
        answer = await http.query("SELECT $1::text, pg_sleep(0.01)", [f"h{i}"])
        return str(answer.rows[0][0])

    async def over_ws(i: int) -> list[str]:
        ws = await open_session(client, gateway)
        await send_statement(ws, "exec", "BEGIN")
        for j in range(10):
            await send_statement(ws, "query", "SELECT $1::text", [f"w{i}-{j}"])
        await send_statement(ws, "exec", "COMMIT")
        answers = [await read_answer(ws) for _ in range(12)]
        await ws.close()
        return [answer_rows(a)[0][0] for a in answers[1:-1]]

    results = await asyncio.gather(
        *(over_http(i) for i in range(40)), *(over_ws(i) for i in range(8))
    )
    assert results[:40] == [f"h{i}" for i in range(40)]
    assert results[40:] == [[f"w{i}-{j}" for j in range(10)] for i in range(8)]


async def test_burst_reaches_a_distant_postgres_as_one_pipeline(
    client: aiohttp.ClientSession, postgres: Any, gateway_factory: Callable[..., Any]
) -> None:
    """With 50 ms each way to PostgreSQL, 20 statements one by one would need 2 s."""
    from tests.support.latency import delay_proxy

    async with delay_proxy(postgres.host, postgres.port, 0.05) as port:
        far = gateway_factory(upstream=f"postgres://127.0.0.1:{port}")
        ws = await open_session(client, far)
        await send_statement(ws, "query", "SELECT 'warm'")
        assert answer_rows(await read_answer(ws, 30)) == [["warm"]]
        started = time.monotonic()
        for i in range(20):
            await send_statement(ws, "query", "SELECT $1::int", [str(i)])
        answers = [await read_answer(ws, 30) for _ in range(20)]
        elapsed = time.monotonic() - started
        assert [answer_rows(a)[0][0] for a in answers] == [str(i) for i in range(20)]
        assert elapsed < 1.0, f"{elapsed:.2f} s: statements were not pipelined to PostgreSQL"
        await ws.close()


async def test_mixed_burst_keeps_order_and_per_statement_semantics(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway)
    burst: list[tuple[str, str, list[Any] | None]] = [
        ("exec", "CREATE TEMP TABLE burst(a int PRIMARY KEY)", None),
        ("exec", "INSERT INTO burst VALUES ($1), ($2)", ["1", "2"]),
        ("exec", "INSERT INTO burst VALUES ($1)", ["1"]),
        ("query", "SELECT count(*) FROM burst", None),
        ("exec", "INSERT INTO burst VALUES (3); INSERT INTO burst VALUES (4)", None),
        ("query", "SELECT $1::text", ["bad\x00text"]),
        ("exec", "BEGIN", None),
        ("query", "SELECT 1/0", None),
        ("query", "SELECT 'aborted'", None),
        ("exec", "ROLLBACK", None),
        ("query", "SELECT array_agg(a ORDER BY a) FROM burst", None),
    ]
    for kind, sql, params in burst:
        await send_statement(ws, kind, sql, params)
    answers = [await read_answer(ws) for _ in burst]
    outcome = [
        a[-1][1]["error"]["code"] if a[-1][0] == ERROR_URN else answer_rows(a)[0][0]
        for a in answers
    ]
    assert outcome == [
        "0",
        "2",
        "23505",
        "2",
        "1",
        "22021",
        "0",
        "22012",
        "25P02",
        "0",
        "{1,2,3,4}",
    ]
    await ws.close()


async def test_burst_of_commands_that_refuse_transaction_blocks(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    ws = await open_session(client, gateway)
    burst = ["SELECT 1", "VACUUM", "CREATE DATABASE ppg_burst_db", "DROP DATABASE ppg_burst_db"]
    for sql in burst:
        await send_statement(ws, "exec", sql)
    answers = [await read_answer(ws) for _ in burst]
    assert [a[-1][0] for a in answers] == [COMPLETE_URN] * len(burst), answers
    await ws.close()
