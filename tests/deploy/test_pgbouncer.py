"""The gateway behind Debian's PgBouncer (SCRAM auth_file, two pool modes, one instance).

- ``ppg_tx``: transaction pooling, one server connection: HTTP statements (one
  statement, autocommit, reset after) are multiplexed onto it.
- ``ppg_session``: session pooling: a WebSocket session keeps its server
  connection, so its SET, temp tables and transactions hold across statements.
- ``ppg_bare``: transaction pooling without the session settings in the entry:
  PgBouncer drops the gateway's ``options``, and the gateway refuses the login.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge
from tests.deploy.proxies import PgBouncer, Pool, running_pgbouncer
from tests.support.servers import Gateway, Postgres

POOLS = {
    "ppg_tx": Pool("transaction", 1),
    "ppg_session": Pool("session", 4),
    "ppg_bare": Pool("transaction", 1, settings=False),
}
CONCURRENT = 20


@pytest.fixture(scope="module")
def bouncer(postgres: Postgres, gateway: Gateway) -> Iterator[PgBouncer]:
    with running_pgbouncer(postgres, gateway.user, gateway.database, POOLS) as running:
        yield running


@pytest.fixture(scope="module")
def pooled(gateway_factory: Callable[..., Gateway], bouncer: PgBouncer) -> Gateway:
    """A gateway whose upstream is PgBouncer."""
    return gateway_factory(upstream=bouncer.upstream)


def database(pooled: Gateway, name: str, password: str | None = None) -> ppg_edge.Database:
    secret = password or pooled.password
    url = f"postgres://{pooled.user}:{secret}@127.0.0.1:{pooled.port}/{name}"
    return ppg_edge.connect(url, endpoint=pooled.url, timeout=30)


@pytest.fixture
def table(gateway: Gateway) -> Iterator[str]:
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bounced")
        conn.execute("CREATE TABLE bounced (k text PRIMARY KEY, pid int)")
        yield "bounced"
        conn.execute("DROP TABLE bounced")


async def values(session: Any, sql: str) -> list[list[Any]]:
    """One session statement's rows, as lists of values."""
    return [row.values for row in await (await session.query(sql)).rows.collect()]


def direct_rows(gateway: Gateway, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


async def test_http_statements_through_transaction_pooling(pooled: Gateway, table: str) -> None:
    """20 concurrent HTTP statements on one server connection; settings and reset hold."""
    async with database(pooled, "ppg_tx") as db:
        inserts = [
            db.exec(f"INSERT INTO {table} VALUES ($1, pg_backend_pid())", f"k{i}")
            for i in range(CONCURRENT)
        ]
        assert await asyncio.gather(*inserts) == [1] * CONCURRENT
        rows = await db.query(
            "SELECT current_setting('TimeZone') AS tz, '2024-05-06 07:08:09+02'::timestamptz AS t,"
            " '1 day 2 hours'::interval AS i"
        ).collect()
        assert rows[0]["tz"] == "UTC"
        assert rows[0]["t"].isoformat() == "2024-05-06T05:08:09+00:00"
        assert str(rows[0]["i"]) == "1 day, 2:00:00"
        # A SET by one HTTP statement never reaches the next one (gateway DISCARD ALL, and
        # PgBouncer's server_reset_query_always for whatever lands on the connection).
        await db.exec("SET search_path = nowhere")
        assert await db.query("SELECT current_setting('search_path') AS p").collect() == [
            {"p": '"$user", public'}
        ]
    count, keys, pids = direct_rows(
        pooled, f"SELECT count(*), count(DISTINCT k), count(DISTINCT pid) FROM {table}"
    )[0]
    assert (count, keys) == (CONCURRENT, CONCURRENT)
    assert pids == 1, "transaction pooling with pool_size=1 serves every statement on one backend"


async def test_sessions_through_session_pooling(pooled: Gateway) -> None:
    """Session state holds across a session's statements and stays out of other sessions."""
    async with database(pooled, "ppg_session") as first, database(pooled, "ppg_session") as other:
        async with first.transaction() as tx:
            await tx.exec("SET LOCAL ppg.tag = 'in-tx'")
            assert await tx.query("SELECT current_setting('ppg.tag') AS v").collect() == [
                {"v": "in-tx"}
            ]
        client = ppg_edge.client(
            f"postgres://{pooled.user}:{pooled.password}@127.0.0.1:{pooled.port}/ppg_session",
            endpoint=pooled.url,
        )
        async with client:
            session = await client.new_session()
            async with session:
                await session.exec("SET ppg.tag = 'mine'")
                await session.exec("CREATE TEMP TABLE scratch AS SELECT 7 AS v")
                outsider = await other.query(
                    "SELECT current_setting('ppg.tag', true) AS v"
                ).collect()
                assert outsider[0]["v"] in (None, "")
                assert await values(session, "SELECT current_setting('ppg.tag')") == [["mine"]]
                assert await values(session, "SELECT v FROM scratch") == [[7]]


async def test_sessions_lose_their_state_under_transaction_pooling(pooled: Gateway) -> None:
    """Why sessions need session pooling: each statement is its own server transaction."""
    client = ppg_edge.client(
        f"postgres://{pooled.user}:{pooled.password}@127.0.0.1:{pooled.port}/ppg_tx",
        endpoint=pooled.url,
    )
    async with client:
        session = await client.new_session()
        async with session:
            await session.exec("SET ppg.tag = 'mine'")
            await session.exec("CREATE TEMP TABLE scratch AS SELECT 7 AS v")
            tag = await values(session, "SELECT current_setting('ppg.tag', true)")
            assert tag in ([[None]], [[""]]), "the SET was reset by PgBouncer"
            with pytest.raises(ppg_edge.DatabaseError) as lost:
                await values(session, "SELECT v FROM scratch")
            assert lost.value.code == "42P01"  # the temp table went with the server session


async def test_a_wrong_password_through_pgbouncer_is_401(pooled: Gateway) -> None:
    async with database(pooled, "ppg_tx", password="not-the-password") as db:
        with pytest.raises(ppg_edge.HttpResponseError) as refused:
            await db.query("SELECT 1").collect()
    assert refused.value.status == 401
    assert pooled.password not in pooled.log_text()


async def test_a_pool_that_drops_the_session_settings_is_refused(pooled: Gateway) -> None:
    """Without timezone=/datestyle= in the entry, the server's own TimeZone would answer."""
    async with database(pooled, "ppg_bare") as db:
        with pytest.raises(ppg_edge.HttpResponseError, match="ignored the gateway's session") as no:
            await db.query("SELECT now()").collect()
    assert no.value.status == 502
    assert "'ppg_bare': TimeZone is" in pooled.log_text()
    assert "not 'UTC'; a pooler dropped the `options` startup parameter" in pooled.log_text()
