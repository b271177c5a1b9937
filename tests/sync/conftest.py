"""Fixtures of the synchronous face: a blocking `db` (connect_sync), a low-level `cl`
(client_sync), a psycopg connection straight to PostgreSQL, and unique tables."""

from __future__ import annotations

import asyncio
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge
from tests.driver.latency_proxy import LatencyProxy

DELAY = 0.1
"""One-way latency of `slow_url`: every round trip costs 2 * DELAY."""

_counter = itertools.count()

TableFactory = Callable[[str], str]


@pytest.fixture
def db(gateway: Any) -> Iterator[ppg_edge.SyncDatabase]:
    """The sync high-level client, pointed at the test gateway."""
    with ppg_edge.connect_sync(gateway.connection_string, endpoint=gateway.url) as database:
        yield database


@pytest.fixture
def cl(gateway: Any) -> Iterator[ppg_edge.SyncClient]:
    """The sync low-level client with the default parsers and serializers."""
    with ppg_edge.client_sync(gateway.connection_string, endpoint=gateway.url) as client:
        yield client


@pytest.fixture
def direct(gateway: Any) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection to the gateway's database, bypassing the driver."""
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def make_table(direct: psycopg.Connection[Any]) -> Iterator[TableFactory]:
    """Create tables with unique names (`columns` is the SQL column list); drop them after."""
    created: list[str] = []

    def create(columns: str) -> str:
        name = f"sync_{os.getpid()}_{next(_counter)}"
        direct.execute(f"CREATE TABLE {name} ({columns})")
        created.append(name)
        return name

    yield create
    for name in created:
        direct.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
def slow_url(gateway: Any) -> Iterator[str]:
    """The gateway behind the async tests' LatencyProxy (100 ms each way), run on an event
    loop in a thread of the test: the sync driver under test has no loop and no thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    proxy = LatencyProxy("127.0.0.1", gateway.port, DELAY)
    asyncio.run_coroutine_threadsafe(proxy.start(), loop).result(10)
    try:
        yield proxy.url
    finally:
        asyncio.run_coroutine_threadsafe(proxy.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
