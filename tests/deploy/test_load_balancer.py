"""Two gateways behind Debian's HAProxy (round robin, health checks, loopback only).

HTTP statements and WebSocket sessions go through it; one gateway killed
(SIGKILL) under load fails only what it had in flight, with typed driver
errors, while new statements go to the other; no key is ever committed twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest

import ppg_edge
from tests.deploy.proxies import HEALTH_INTERVAL_MS, LoadBalancer, running_haproxy
from tests.support.servers import Gateway

HTTP_CLIENTS = 8
SESSION_CLIENTS = 2
STATEMENT_SECONDS = 0.2
"""Each statement sleeps this long in PostgreSQL, so some are in flight at the kill."""
HANG_BOUND = 20.0


def through(balancer: LoadBalancer, gateway: Gateway) -> ppg_edge.Database:
    url = (
        f"postgres://{gateway.user}:{gateway.password}@127.0.0.1:{balancer.port}/{gateway.database}"
    )
    return ppg_edge.connect(url, endpoint=balancer.url)


def statement_lines(gateway: Gateway) -> int:
    return gateway.log_text().count("POST /v0/statement 200")


@pytest.fixture(scope="module")
def two(gateway_factory: Callable[..., Gateway]) -> list[Gateway]:
    return [gateway_factory(), gateway_factory()]


@pytest.fixture(scope="module")
def balancer(two: list[Gateway]) -> Iterator[LoadBalancer]:
    with running_haproxy([gw.port for gw in two]) as running:
        yield running


@pytest.fixture
def keys_table(gateway: Gateway) -> Iterator[str]:
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS lb_keys")
        conn.execute("CREATE TABLE lb_keys (k text NOT NULL)")  # no unique index: we count
        yield "lb_keys"
        conn.execute("DROP TABLE lb_keys")


async def test_http_and_websocket_through_the_load_balancer(
    balancer: LoadBalancer, two: list[Gateway]
) -> None:
    before = [statement_lines(gw) for gw in two]
    async with through(balancer, two[0]) as db:
        for i in range(10):
            assert await db.query("SELECT $1::int AS i", i).collect() == [{"i": i}]
        for i in range(4):
            async with db.transaction() as tx:  # each a WebSocket session through HAProxy
                assert await tx.query("SELECT $1::int * 2 AS d", i).collect() == [{"d": 2 * i}]
    served = [statement_lines(gw) - seen for gw, seen in zip(two, before, strict=True)]
    assert sum(served) == 10 and min(served) >= 3, f"round robin over both gateways: {served}"
    deadline = time.monotonic() + 10
    while sum(gw.log_text().count("WS /v0/session") for gw in two) < 4:
        assert time.monotonic() < deadline, "every session is logged when it ends"
        await asyncio.sleep(0.1)
    assert all("WS /v0/session" in gw.log_text() for gw in two)


@dataclass
class Tally:
    """What each client saw, by key."""

    ok: list[str] = field(default_factory=list)
    failed: dict[str, BaseException] = field(default_factory=dict)
    hung: list[str] = field(default_factory=list)
    untyped: dict[str, BaseException] = field(default_factory=dict)

    async def run(self, key: str, statement: Any) -> None:
        try:
            await asyncio.wait_for(statement, HANG_BOUND)
        except ppg_edge.GenericError as exc:
            self.failed[key] = exc
        except TimeoutError:
            self.hung.append(key)
        except Exception as exc:
            self.untyped[key] = exc
        else:
            self.ok.append(key)


INSERT = "INSERT INTO lb_keys (k) SELECT $1 FROM pg_sleep($2)"


async def http_client(db: ppg_edge.Database, name: str, stop: asyncio.Event, tally: Tally) -> None:
    number = 0
    while not stop.is_set():
        key = f"{name}-{number}"
        number += 1
        await tally.run(key, db.exec(INSERT, key, STATEMENT_SECONDS))


async def session_client(
    db: ppg_edge.Database, name: str, stop: asyncio.Event, tally: Tally
) -> None:
    async def transaction(key: str) -> None:
        async with db.transaction() as tx:
            await tx.exec(INSERT, key, STATEMENT_SECONDS)
            await tx.exec(INSERT, key + "b", 0)

    number = 0
    while not stop.is_set():
        key = f"{name}-{number}"
        number += 1
        await tally.run(key, transaction(key))


async def test_a_gateway_killed_under_load(
    gateway_factory: Callable[..., Gateway], keys_table: str
) -> None:
    victim, survivor = gateway_factory(), gateway_factory()
    assert victim.process is not None
    with running_haproxy([victim.port, survivor.port]) as balancer:
        tally, stop = Tally(), asyncio.Event()
        databases = [through(balancer, survivor) for _ in range(HTTP_CLIENTS + SESSION_CLIENTS)]
        loops = [
            http_client(db, f"h{i}", stop, tally) for i, db in enumerate(databases[:HTTP_CLIENTS])
        ] + [
            session_client(db, f"s{i}", stop, tally)
            for i, db in enumerate(databases[HTTP_CLIENTS:])
        ]
        running = asyncio.gather(*loops)
        await asyncio.sleep(1.5)
        ok_before_kill = len(tally.ok)
        os.kill(victim.process.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        await asyncio.sleep(2 * HEALTH_INTERVAL_MS / 1000 + 1.5)
        stop.set()
        await asyncio.wait_for(running, HANG_BOUND + 5)
        after = Tally()
        async with through(balancer, survivor) as db:
            for i in range(10):
                await after.run(f"after-{i}", db.exec(INSERT, f"after-{i}", 0))
        for db in databases:
            await db.aclose()
    elapsed = time.monotonic() - killed_at
    assert victim.process.poll() == -signal.SIGKILL
    assert not tally.hung and not after.hung, "no statement waits past the bound"
    assert not tally.untyped, f"untyped errors: {tally.untyped!r}"
    assert tally.failed, "the killed gateway had statements in flight: they must fail"
    assert len(after.ok) == 10, f"new statements go to the survivor: {after.failed!r}"
    assert ok_before_kill > 0 and len(tally.ok) > ok_before_kill
    with psycopg.connect(survivor.direct_dsn, autocommit=True) as conn:
        twice = conn.execute("SELECT k FROM lb_keys GROUP BY k HAVING count(*) > 1").fetchall()
        stored = {row[0] for row in conn.execute("SELECT k FROM lb_keys").fetchall()}
    assert twice == [], "no key committed twice"
    session_keys = {k + "b" for k in tally.ok if k.startswith("s")}
    assert {*tally.ok, *after.ok, *session_keys} <= stored, "every success is committed"
    failed_committed = [k for k in tally.failed if k in stored]
    kinds = sorted({type(exc).__name__ for exc in tally.failed.values()})
    print(
        f"\nkill under load: {len(tally.ok)} ok, {len(tally.failed)} failed ({', '.join(kinds)}),"
        f" {len(failed_committed)} of them committed anyway, {len(after.ok)}/10 after;"
        f" {elapsed:.1f} s from kill to the end"
    )
