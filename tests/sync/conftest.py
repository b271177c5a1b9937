"""Fixtures of the synchronous face: a blocking `db` (connect_sync), a low-level `cl`
(client_sync), a psycopg connection straight to PostgreSQL, and unique tables."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge

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
