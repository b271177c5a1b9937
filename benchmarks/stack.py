"""PostgreSQL plus the gateway for the benchmark scripts, via the test suite's servers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from tests.support.servers import running_gateway, running_postgres


@dataclass
class Stack:
    """What a benchmark needs to reach the gateway and, directly, the database."""

    connection_string: str
    endpoint: str
    gateway_port: int
    direct_dsn: str

    async def execute(self, sql: str) -> None:
        """Run setup SQL straight on PostgreSQL."""
        conn = await psycopg.AsyncConnection.connect(self.direct_dsn, autocommit=True)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


@asynccontextmanager
async def running_stack(**gateway_options: Any) -> AsyncIterator[Stack]:
    """Start a private PostgreSQL and one gateway (CLI options as keywords); stop both."""
    with running_postgres() as postgres, running_gateway(postgres, **gateway_options) as gateway:
        yield Stack(gateway.connection_string, gateway.url, gateway.port, gateway.direct_dsn)
