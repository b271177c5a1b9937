"""DB-API fixtures: connections of `ppg_edge.dbapi` to the test gateway (transactional
and autocommit), a psycopg connection straight to PostgreSQL to see what was committed,
and unique tables dropped after each test."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge.dbapi
from tests.sync.conftest import background, slow_url  # noqa: F401 - the latency proxy fixtures

_counter = itertools.count()

TableFactory = Callable[[str], str]


@pytest.fixture
def conn(gateway: Any) -> Iterator[ppg_edge.dbapi.Connection]:
    """A DB-API connection in PEP 249's default mode: statements in transactions."""
    connection = ppg_edge.dbapi.connect(gateway.connection_string, endpoint=gateway.url)
    try:
        yield connection
    finally:
        if not connection.closed:
            connection.close()


@pytest.fixture
def auto(gateway: Any) -> Iterator[ppg_edge.dbapi.Connection]:
    """A DB-API connection in autocommit mode: every statement over HTTP."""
    connection = ppg_edge.dbapi.connect(
        gateway.connection_string, endpoint=gateway.url, autocommit=True
    )
    try:
        yield connection
    finally:
        if not connection.closed:
            connection.close()


@pytest.fixture
def direct(gateway: Any) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection to the gateway's database, bypassing the driver."""
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as connection:
        yield connection


@pytest.fixture
def make_table(direct: psycopg.Connection[Any]) -> Iterator[TableFactory]:
    """Create tables with unique names (`columns` is the SQL column list); drop them after."""
    created: list[str] = []

    def create(columns: str) -> str:
        name = f"dbapi_{os.getpid()}_{next(_counter)}"
        direct.execute(f"CREATE TABLE {name} ({columns})")  # type: ignore[call-overload]
        created.append(name)
        return name

    yield create
    for name in created:
        direct.execute(f"DROP TABLE IF EXISTS {name}")  # type: ignore[call-overload]
