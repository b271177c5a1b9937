"""Request lifecycle edges: clients leaving mid-statement, idle sessions mid-statement."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg
import pytest

from ppg_edge.core.protocol import CLOSE_GOING_AWAY, DESCRIPTOR_URN, TEXT_PARAM_URN
from tests.support.raw import (
    RawHttp,
    answer_rows,
    expect_close,
    multipart_body,
    open_session,
    read_answer,
    statement_parts,
)
from tests.support.servers import Gateway


@pytest.fixture(scope="module")
def quiet_gateway(gateway_factory: Callable[..., Any]) -> Any:
    """A gateway of its own, so its log holds only this module's requests."""
    return gateway_factory()


async def wait_for_log(gateway: Gateway, text: str, seconds: float = 10) -> str:
    """The gateway's log once it contains ``text`` (or as it is after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while text not in (log := gateway.log_text()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return log


async def test_request_abandoned_by_its_client_is_logged_and_cancelled(
    quiet_gateway: Any,
) -> None:
    body = multipart_body(statement_parts("query", "SELECT pg_sleep(30)"))
    async with aiohttp.ClientSession() as client:
        http = RawHttp(client, quiet_gateway)
        task = asyncio.create_task(http.post(body))
        await asyncio.sleep(0.5)
        task.cancel()
    log = await wait_for_log(quiet_gateway, "POST /v0/statement 499")
    lines = [line for line in log.splitlines() if "POST /v0/statement 499" in line]
    assert len(lines) == 1 and "client went away" in lines[0]
    assert quiet_gateway.password not in log
    async with await psycopg.AsyncConnection.connect(quiet_gateway.direct_dsn) as conn:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'"
            )
            row = await cur.fetchone()
            if row == (0,):
                break
            await asyncio.sleep(0.1)
        assert row == (0,)


async def test_idle_timeout_never_closes_a_half_received_statement(
    gateway_factory: Callable[..., Any],
) -> None:
    idle = gateway_factory(idle_timeout=1)
    async with aiohttp.ClientSession() as client:
        ws = await open_session(client, idle)
        await ws.send_str(DESCRIPTOR_URN)
        descriptor = {"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 4}]}
        await ws.send_str(json.dumps(descriptor))
        await ws.send_str(TEXT_PARAM_URN)
        await asyncio.sleep(2.0)
        await ws.send_str("late")
        assert answer_rows(await read_answer(ws)) == [["late"]]
        code, reason = await expect_close(ws, timeout=5)
        assert code == CLOSE_GOING_AWAY and "idle" in reason
