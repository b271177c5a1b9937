"""Failed logins are told apart: bad login 401/1008, busy PostgreSQL 503/1013, other trouble 502."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest
from aiohttp import WSCloseCode

from ppg_edge.core.protocol import CLOSE_POLICY_VIOLATION
from ppg_edge_gateway.embedded import free_port
from ppg_edge_gateway.errors import AuthenticationFailed, UpstreamUnavailable
from ppg_edge_gateway.upstream import Credentials, Upstream, connect
from tests.support.raw import RawHttp, basic_auth, expect_close, open_session, send_statement

FULL_ROLE = "ppg_full_role"


@pytest.fixture
async def full_role(postgres: Any, gateway: Any) -> AsyncIterator[tuple[str, str]]:
    """A role at its connection limit (CONNECTION LIMIT 0): every login is refused as busy."""
    password = secrets.token_urlsafe(12)
    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn, autocommit=True) as su:
        await su.execute(f"DROP ROLE IF EXISTS {FULL_ROLE}")
        await su.execute(f"CREATE ROLE {FULL_ROLE} LOGIN CONNECTION LIMIT 0 PASSWORD '{password}'")
        await su.execute(f'GRANT CONNECT ON DATABASE "{gateway.database}" TO {FULL_ROLE}')
        yield FULL_ROLE, password
        await su.execute(f'REVOKE CONNECT ON DATABASE "{gateway.database}" FROM {FULL_ROLE}')
        await su.execute(f"DROP ROLE {FULL_ROLE}")


async def test_role_at_its_connection_limit_is_503_not_401(
    http: RawHttp, full_role: tuple[str, str]
) -> None:
    answer = await http.query("SELECT 1", auth=basic_auth(*full_role))
    assert answer.status == 503, answer.text
    assert "too many connections" in answer.text and "try again later" in answer.text
    assert full_role[1] not in answer.text


async def test_role_at_its_connection_limit_closes_1013(
    client: aiohttp.ClientSession, gateway: Any, full_role: tuple[str, str]
) -> None:
    ws = await open_session(client, gateway, user=full_role[0], password=full_role[1])
    await send_statement(ws, "query", "SELECT 1")
    code, reason = await expect_close(ws)
    assert code == WSCloseCode.TRY_AGAIN_LATER and "too many connections" in reason


async def test_wrong_password_stays_401_and_1008(
    http: RawHttp, client: aiohttp.ClientSession, gateway: Any
) -> None:
    answer = await http.query("SELECT 1", auth=basic_auth(gateway.user, "not-it"))
    assert answer.status == 401 and "password authentication failed" in answer.text
    ws = await open_session(client, gateway, password="not-it")
    code, reason = await expect_close(ws)
    assert code == CLOSE_POLICY_VIOLATION and "not-it" not in reason


async def test_rejected_setting_is_an_upstream_error_not_bad_credentials(
    postgres: Any, gateway: Any, caplog: pytest.LogCaptureFixture
) -> None:
    upstream = Upstream(postgres.host, postgres.port, statement_timeout_ms=-1)
    with pytest.raises(UpstreamUnavailable) as caught:
        await connect(upstream, Credentials(gateway.user, gateway.password, gateway.database))
    message = str(caught.value)
    assert caught.value.status == 502 and "refused the connection" in message
    # The client gets a generic reason; the operator's log has PostgreSQL's.
    assert "statement_timeout" not in message and str(postgres.port) not in message
    assert "statement_timeout" in caplog.text and gateway.password not in caplog.text


async def test_unknown_role_and_database_are_authentication_failures(
    postgres: Any, gateway: Any
) -> None:
    upstream = Upstream(postgres.host, postgres.port)
    for credentials in (
        Credentials("no_such_role_here", "x", gateway.database),
        Credentials(gateway.user, gateway.password, "no_such_database_here"),
    ):
        with pytest.raises(AuthenticationFailed):
            await connect(upstream, credentials)


async def test_unreachable_postgres_is_502(gateway: Any) -> None:
    upstream = Upstream("127.0.0.1", free_port(), connect_timeout=2)
    with pytest.raises(UpstreamUnavailable) as caught:
        await connect(upstream, Credentials(gateway.user, gateway.password, gateway.database))
    assert caught.value.status == 502 and "cannot reach PostgreSQL" in str(caught.value)
    assert str(upstream.port) not in str(caught.value)
