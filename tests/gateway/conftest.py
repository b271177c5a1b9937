"""Raw-protocol fixtures for the gateway suite: an aiohttp client session and helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import psycopg
import pytest

from tests.support.raw import RawHttp


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp client session (not the driver)."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def http(client: aiohttp.ClientSession, gateway: Any) -> RawHttp:
    """Raw statement POSTs to the default gateway."""
    return RawHttp(client, gateway)


@pytest.fixture
async def direct(gateway: Any) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A psycopg connection straight to PostgreSQL as the gateway's role."""
    async with await psycopg.AsyncConnection.connect(gateway.direct_dsn, autocommit=True) as conn:
        yield conn
