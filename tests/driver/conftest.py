"""Driver-level fixtures: a connected high-level `db`, a low-level `cl`, a psycopg
connection straight to PostgreSQL for checking what the driver wrote, and unique
table names dropped after each test."""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

import ppg_edge

_counter = itertools.count()

TableFactory = Callable[[str], Awaitable[str]]


@pytest.fixture
async def db(gateway: Any) -> AsyncIterator[Any]:
    """The high-level client of `ppg_edge.connect`, pointed at the test gateway."""
    database = ppg_edge.connect(gateway.connection_string, endpoint=gateway.url)
    try:
        yield database
    finally:
        await database.aclose()


@pytest.fixture
async def cl(gateway: Any) -> AsyncIterator[Any]:
    """The low-level client with the default parsers and serializers."""
    client = ppg_edge.client(
        ppg_edge.default_client_config(gateway.connection_string, endpoint=gateway.url)
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def direct(gateway: Any) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A psycopg connection to the gateway's database, bypassing the driver."""
    conn = await psycopg.AsyncConnection.connect(gateway.direct_dsn, autocommit=True)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def make_table(direct: psycopg.AsyncConnection[Any]) -> AsyncIterator[TableFactory]:
    """Create tables with unique names (`columns` is the SQL column list); drop them after."""
    created: list[str] = []

    async def create(columns: str) -> str:
        name = f"drv_{os.getpid()}_{next(_counter)}"
        await direct.execute(f"CREATE TABLE {name} ({columns})")
        created.append(name)
        return name

    yield create
    for name in created:
        await direct.execute(f"DROP TABLE IF EXISTS {name}")


@pytest.fixture
async def users(make_table: TableFactory) -> str:
    """The README's `users` table, empty, under a unique name."""
    return await make_table("id serial PRIMARY KEY, name text, email text")
