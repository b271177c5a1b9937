"""A pooled login is trusted for ``--login-lifetime`` seconds, however often it is reused.

So ``ALTER ROLE … PASSWORD`` and ``NOLOGIN`` take effect over HTTP within that
bound even for a client that never stops sending statements on the old login.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest
from psycopg import sql

from ppg_edge_gateway.config import DEFAULT_LOGIN_LIFETIME, parse_config
from tests.support.raw import RawHttp, basic_auth

LIFETIME = 2.0
GIVE_UP_AFTER = LIFETIME + 15.0
"""Generous: before the fix the old login was never refused while in use."""
ROLE = "ppg_lifetime_role"


@pytest.fixture
async def role(postgres: Any, gateway: Any) -> AsyncIterator[tuple[str, str]]:
    """A role of its own (the shared test role keeps its password), allowed on the test db."""
    password = secrets.token_urlsafe(12)
    name = sql.Identifier(ROLE)
    database = sql.Identifier(gateway.database)
    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn, autocommit=True) as su:
        await su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(name))
        await su.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(password))
        )
        await su.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, name))
        yield ROLE, password
        await su.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(database, name))
        await su.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [ROLE]
        )
        await su.execute(sql.SQL("DROP ROLE {}").format(name))


async def alter_role(postgres: Any, change: str, *args: Any) -> None:
    async with await psycopg.AsyncConnection.connect(postgres.superuser_dsn, autocommit=True) as su:
        await su.execute(sql.SQL(f"ALTER ROLE {{}} {change}").format(sql.Identifier(ROLE), *args))


async def seconds_until_refused(http: RawHttp, auth: str) -> tuple[float, str]:
    """Keep using a login until the gateway refuses it; (seconds it took, the refusal)."""
    started = time.monotonic()
    while time.monotonic() - started < GIVE_UP_AFTER:
        answer = await http.query("SELECT 1", auth=auth)
        if answer.status != 200:
            assert answer.status == 401, answer.text
            return time.monotonic() - started, answer.text
        assert answer.rows == [["1"]]
    raise AssertionError(f"still logged in {GIVE_UP_AFTER:g} s after the change")


async def test_changed_password_is_refused_within_the_login_lifetime(
    postgres: Any, client: aiohttp.ClientSession, gateway_factory: Any, role: tuple[str, str]
) -> None:
    gw = gateway_factory(login_lifetime=LIFETIME)
    http = RawHttp(client, gw)
    user, old = role
    assert (await http.query("SELECT 1", auth=basic_auth(user, old))).status == 200
    new = secrets.token_urlsafe(12)
    await alter_role(postgres, "PASSWORD {}", sql.Literal(new))
    took, refusal = await seconds_until_refused(http, basic_auth(user, old))
    assert "password authentication failed" in refusal
    assert took <= LIFETIME + 5.0, took
    answer = await http.query("SELECT current_user", auth=basic_auth(user, new))
    assert answer.status == 200 and answer.rows == [[user]]


async def test_nologin_role_is_refused_within_the_login_lifetime(
    postgres: Any, client: aiohttp.ClientSession, gateway_factory: Any, role: tuple[str, str]
) -> None:
    gw = gateway_factory(login_lifetime=LIFETIME)
    http = RawHttp(client, gw)
    auth = basic_auth(*role)
    assert (await http.query("SELECT 1", auth=auth)).status == 200
    await alter_role(postgres, "NOLOGIN")
    took, refusal = await seconds_until_refused(http, auth)
    assert "is not permitted to log in" in refusal
    assert took <= LIFETIME + 5.0, took


def test_login_lifetime_flag_and_default() -> None:
    upstream = ["--upstream", "postgres://db"]
    assert parse_config(upstream).login_lifetime == DEFAULT_LOGIN_LIFETIME <= 60
    assert parse_config([*upstream, "--login-lifetime", "2.5"]).login_lifetime == 2.5
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(SystemExit):
            parse_config([*upstream, "--login-lifetime", bad])
