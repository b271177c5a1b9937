"""Fixtures for the SQLAlchemy dialect and pandas tests: engines on the test gateway.

``suite/`` holds SQLAlchemy's own compliance suite, which needs SQLAlchemy's pytest
plugin and a database URL at start-up: it is not collected here, and
``test_compliance_suite.py`` runs it in a pytest of its own against the gateway.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.dialects import registry
from sqlalchemy.engine import URL
from sqlalchemy.exc import NoSuchModuleError

collect_ignore = ["suite"]

DIALECT_NAME = "postgresql.ppg_edge"
"""The entry point name in pyproject.toml (group ``sqlalchemy.dialects``)."""

_counter = itertools.count()


def ensure_dialect_registered() -> None:
    """Register the dialect by hand only when the installed metadata lacks its entry point.

    An editable install made before the entry point was added has none; `make setup`
    reinstalls on any pyproject.toml change, and then the entry point is what finds it.
    """
    try:
        registry.load(DIALECT_NAME)
    except NoSuchModuleError:
        registry.register(DIALECT_NAME, "ppg_edge.dialect", "PPGEdgeDialect")


ensure_dialect_registered()


def gateway_url(gateway: Any, **query: str) -> URL:
    """``postgresql+ppg_edge://`` for the test gateway's role and database."""
    return URL.create(
        "postgresql+ppg_edge",
        username=gateway.user,
        password=gateway.password,
        host="127.0.0.1",
        database=gateway.database,
        query=query,
    )


@pytest.fixture(scope="session")
def engine(gateway: Any) -> Iterator[Engine]:
    """An engine on the gateway, its endpoint given through ``connect_args``."""
    engine = create_engine(gateway_url(gateway), connect_args={"endpoint": gateway.url})
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def direct(gateway: Any) -> Iterator[psycopg.Connection[Any]]:
    """psycopg straight to PostgreSQL, to check what went through the dialect."""
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def table_name(direct: psycopg.Connection[Any]) -> Iterator[Callable[[], str]]:
    """Unique table names, each dropped after the test."""
    names: list[str] = []

    def make() -> str:
        name = f"sqla_{os.getpid()}_{next(_counter)}"
        names.append(name)
        return name

    yield make
    for name in names:
        direct.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')
