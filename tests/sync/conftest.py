"""Fixtures of the synchronous face: a blocking `db` (connect_sync), a low-level `cl`
(client_sync), a psycopg connection straight to PostgreSQL, and unique tables."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

import psycopg
import pytest

import ppg_edge
from tests.driver.latency_proxy import LatencyProxy

DELAY = 0.1
"""One-way latency of `slow_url`: every round trip costs 2 * DELAY."""

_counter = itertools.count()
T = TypeVar("T")

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


class BackgroundLoop:
    """An event loop in a thread of the test, for the async tests' helper servers (the
    latency and hang-up proxies); the sync driver under test has no loop and no thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    @contextlib.contextmanager
    def entered(self, manager: AbstractAsyncContextManager[T]) -> Iterator[T]:
        """`async with manager` on the loop, around the `with` block."""
        value = self.run(manager.__aenter__())
        try:
            yield value
        finally:
            self.run(manager.__aexit__(None, None, None))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def background() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop()
    try:
        yield loop
    finally:
        loop.stop()


@pytest.fixture
def slow_url(gateway: Any, background: BackgroundLoop) -> Iterator[str]:
    """The gateway behind the async tests' LatencyProxy (DELAY each way)."""
    proxy = LatencyProxy("127.0.0.1", gateway.port, DELAY)
    background.run(proxy.start())
    try:
        yield proxy.url
    finally:
        background.run(proxy.stop())
