"""Credentials are checked before anything reaches libpq, and failures answer with a reason.

A NUL would cut libpq's connection string short (dropping the password and every
setting after it), names over 63 bytes would be truncated by PostgreSQL, deep
JSON must not end a session silently, and a 502 never names the upstream.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from ppg_edge.core.protocol import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_SERVER_ERROR,
    DESCRIPTOR_URN,
    STATEMENT_PATH,
    multipart_content_type,
)
from ppg_edge_gateway.credentials import MAX_NAME_BYTES, MAX_PASSWORD_BYTES
from ppg_edge_gateway.embedded import free_port
from tests.support.raw import (
    BOUNDARY,
    RawHttp,
    answer_rows,
    basic_auth,
    descriptor_part,
    expect_close,
    multipart_body,
    open_session,
    read_answer,
    send_statement,
    statement_parts,
)

DEEP = "[" * 60_000
"""Far past the JSON decoder's recursion limit, yet inside the auth message's 64 KiB cap."""
SELECT_LOGIN = "SELECT current_user, current_database()"


async def post_without_db(
    client: aiohttp.ClientSession, gateway: Any, auth: str, sql: str = SELECT_LOGIN
) -> tuple[int, str]:
    """POST a query with no ``db`` parameter at all; returns (status, body text)."""
    body = multipart_body(statement_parts("query", sql))
    headers = {"Content-Type": multipart_content_type(BOUNDARY), "Authorization": auth}
    async with client.post(gateway.url + STATEMENT_PATH, data=body, headers=headers) as answer:
        return answer.status, await answer.text()


@pytest.mark.parametrize(
    ("user", "password", "db", "field"),
    [
        ("{user}\x00", "WRONG", None, "user name"),
        ("{user}", "{password}\x00ignored", None, "password"),
        ("{user}", "{password}", "ppg\x00test", "database name"),
        ("{user}", "{password}", "ppg test\x00", "database name"),
    ],
    ids=["user", "password", "db", "quoted-db"],
)
async def test_nul_in_credentials_is_400_over_http(
    http: RawHttp, gateway: Any, user: str, password: str, db: str | None, field: str
) -> None:
    user = user.format(user=gateway.user)
    password = password.format(password=gateway.password)
    answer = await http.query(SELECT_LOGIN, auth=basic_auth(user, password), db=db)
    assert answer.status == 400, answer.text
    assert f"the {field} must not contain NUL characters" in answer.text
    assert gateway.password not in answer.text


@pytest.mark.parametrize(
    ("user", "password", "db", "reason"),
    [
        ("{user}\x00", "WRONG", None, "user name must not contain NUL"),
        ("{user}", "{password}\x00ignored", None, "password must not contain NUL"),
        ("{user}", "{password}", "ppg\x00test", "database name must not contain NUL"),
        ("{user}", "{password}", "ppg test\x00", "database name must not contain NUL"),
        ("{user}\udc80", "{password}", None, "user name is not valid Unicode"),
        ("{user}", "{password}\ud800", None, "password is not valid Unicode"),
    ],
    ids=["user", "password", "db", "quoted-db", "surrogate-user", "surrogate-password"],
)
async def test_uncarriable_credentials_close_1008_over_websocket(
    client: aiohttp.ClientSession,
    gateway: Any,
    user: str,
    password: str,
    db: str | None,
    reason: str,
) -> None:
    user = user.format(user=gateway.user)
    password = password.format(password=gateway.password)
    ws = await open_session(client, gateway, user=user, password=password, db=db)
    code, text = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION and reason in text, (code, text)
    assert gateway.password not in text


async def test_empty_user_or_password_is_refused_before_libpq(
    http: RawHttp, client: aiohttp.ClientSession, gateway: Any
) -> None:
    answer = await http.query(SELECT_LOGIN, auth=basic_auth(gateway.user, ""))
    assert answer.status == 401 and "empty password" in answer.text, answer.text
    ws = await open_session(client, gateway, password="")
    assert await expect_close(ws) == (
        CLOSE_POLICY_VIOLATION,
        "authentication failed: empty password (the gateway never supplies one)",
    )
    # libpq would log in as the gateway's OS user (or PGUSER) for an empty user name.
    ws = await open_session(client, gateway, auth=False)
    await ws.send_str(json.dumps({"username": "", "password": gateway.password}))
    assert await expect_close(ws) == (
        CLOSE_POLICY_VIOLATION,
        "authentication failed: empty user name",
    )


async def test_names_longer_than_postgres_allows_are_401_not_502(
    client: aiohttp.ClientSession, http: RawHttp, gateway: Any
) -> None:
    long_user = "u" * 5000
    status, text = await post_without_db(client, gateway, basic_auth(long_user, "x"))
    assert status == 401, text
    assert f"user name longer than {MAX_NAME_BYTES} bytes" in text
    answer = await http.query(SELECT_LOGIN, db="d" * (MAX_NAME_BYTES + 1))
    assert answer.status == 401 and "database name longer than" in answer.text
    # Bytes count, not characters: 32 two-byte characters are 64 bytes.
    answer = await http.query(SELECT_LOGIN, auth=basic_auth("é" * 32, "x"))
    assert answer.status == 401 and "user name longer than" in answer.text
    # At the limit the login reaches PostgreSQL, which refuses the unknown role itself.
    answer = await http.query(SELECT_LOGIN, auth=basic_auth("u" * MAX_NAME_BYTES, "x"))
    assert answer.status == 401 and "password authentication failed" in answer.text
    ws = await open_session(client, gateway, user=long_user, password="x")
    code, reason = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION and "longer than" in reason


async def test_password_beyond_the_bound_is_refused_before_the_scram_exchange(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    # Over the password bound but inside the auth message's own cap (a larger message is
    # closed 1009 before it is buffered: test_transport_hardening).
    ws = await open_session(client, gateway, password="p" * (MAX_PASSWORD_BYTES + 1))
    code, reason = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION
    assert f"password longer than {MAX_PASSWORD_BYTES} bytes" in reason
    # At the bound the login reaches PostgreSQL, which refuses the wrong password itself.
    ws = await open_session(client, gateway, password="p" * MAX_PASSWORD_BYTES)
    code, reason = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION and "password authentication failed" in reason


async def test_odd_but_valid_credentials_still_log_in(
    postgres: Any, client: aiohttp.ClientSession, gateway: Any
) -> None:
    """Quotes, backslashes, spaces and '=' are carried, not refused: only NUL is."""
    user, password = "odd user='x' \\ é", "p = 'q' \\ \" ;"
    postgres.create_role_and_database(user, password, "odd db = 'y'")
    http = RawHttp(client, gateway)
    answer = await http.query(SELECT_LOGIN, auth=basic_auth(user, password), db="odd db = 'y'")
    assert answer.status == 200, answer.text
    assert answer.rows == [[user, "odd db = 'y'"]]
    ws = await open_session(client, gateway, user=user, password=password, db="odd db = 'y'")
    await send_statement(ws, "query", SELECT_LOGIN)
    assert answer_rows(await read_answer(ws)) == [[user, "odd db = 'y'"]]
    await ws.close()


async def test_deeply_nested_auth_message_closes_1002_with_a_reason(
    client: aiohttp.ClientSession, gateway: Any
) -> None:
    for message in (DEEP, json.dumps({"username": "x"})[:-1] + ', "password": ' + DEEP + "}"):
        ws = await open_session(client, gateway, auth=False)
        await ws.send_str(message)
        code, reason = await expect_close(ws)
        assert code == CLOSE_PROTOCOL_ERROR, (code, reason)
        assert "nested too deeply" in reason or "not valid JSON" in reason


async def test_deeply_nested_descriptor_is_400_and_1002(
    http: RawHttp, client: aiohttp.ClientSession, gateway: Any
) -> None:
    answer = await http.post(multipart_body([descriptor_part(DEEP)]))
    assert answer.status == 400 and "descriptor is nested too deeply" in answer.text
    ws = await open_session(client, gateway)
    await ws.send_str(DESCRIPTOR_URN)
    await ws.send_str(DEEP)
    code, reason = await expect_close(ws)
    assert code == CLOSE_PROTOCOL_ERROR and "descriptor is nested too deeply" in reason
    assert (await http.query("SELECT 1")).rows == [["1"]]


async def test_unreachable_upstream_is_not_named_to_clients(
    client: aiohttp.ClientSession, gateway_factory: Any
) -> None:
    port = free_port()
    gw = gateway_factory(upstream=f"postgres://127.0.0.1:{port}")
    answer = await RawHttp(client, gw).query("SELECT 1")
    assert answer.status == 502, answer.text
    assert "cannot reach PostgreSQL" in answer.text
    assert str(port) not in answer.text and "127.0.0.1" not in answer.text
    ws = await open_session(client, gw)
    code, reason = await expect_close(ws)
    assert code == CLOSE_SERVER_ERROR and "cannot reach PostgreSQL" in reason
    assert str(port) not in reason and "127.0.0.1" not in reason
    log = gw.log_text()
    assert f"port {port} failed" in log and gw.password not in log
