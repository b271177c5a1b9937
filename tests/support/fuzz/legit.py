"""A legitimate client that keeps using the gateway while the fuzz runs, checking every answer.

Each round: an HTTP echo of a fresh value, an INSERT read back over HTTP, and
on one long-lived WebSocket session a pipelined transaction (BEGIN, INSERT,
SELECT, COMMIT). Any wrong, missing or late answer is a failure: fuzz traffic
must never cost a real client its service.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.raw import RawHttp, answer_rows, open_session, read_answer, send_statement

ROUND_TIMEOUT = 30.0
"""Seconds one round may take on a loaded machine before it counts as a failure."""
PAUSE = 0.05
TABLE = "fuzz_legit"


@dataclass
class LegitReport:
    """Rounds completed and failures seen."""

    rounds: int = 0
    failures: list[str] = field(default_factory=list)


async def prepare(http: RawHttp) -> None:
    """A fresh table for the legit client's rows."""
    answer = await http.exec(f"DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (token text)")
    assert answer.status == 200 and answer.error is None, answer.text


def _expect(what: str, got: Any, wanted: Any) -> None:
    if got != wanted:
        raise AssertionError(f"{what}: got {got!r}, wanted {wanted!r}")


async def http_round(http: RawHttp, token: str) -> None:
    """Echo a value, insert it, read it back."""
    echo = await http.query("SELECT $1::text", [token])
    _expect("HTTP echo", (echo.status, echo.rows), (200, [[token]]))
    insert = await http.exec(f"INSERT INTO {TABLE} VALUES ($1)", [token], extended=True)
    _expect("HTTP insert", (insert.status, insert.rows), (200, [["1"]]))
    count = await http.query(f"SELECT count(*)::text FROM {TABLE} WHERE token = $1", [token])
    _expect("HTTP read back", (count.status, count.rows), (200, [["1"]]))


async def ws_round(ws: aiohttp.ClientWebSocketResponse, token: str) -> None:
    """A pipelined transaction on the long-lived session."""
    value = f"ws_{token}"
    await send_statement(ws, "exec", "BEGIN")
    await send_statement(ws, "exec", f"INSERT INTO {TABLE} VALUES ($1)", [value])
    await send_statement(ws, "query", f"SELECT token FROM {TABLE} WHERE token = $1", [value])
    await send_statement(ws, "exec", "COMMIT")
    answers = [answer_rows(await read_answer(ws, ROUND_TIMEOUT)) for _ in range(4)]
    _expect("WS transaction", answers, [[["0"]], [["1"]], [[value]], [["0"]]])


async def _reopen(
    client: aiohttp.ClientSession, gateway: Any, old: aiohttp.ClientWebSocketResponse | None
) -> aiohttp.ClientWebSocketResponse | None:
    if old is not None:
        await old.close()
    try:
        return await asyncio.wait_for(open_session(client, gateway), ROUND_TIMEOUT)
    except (aiohttp.ClientError, TimeoutError):
        return None


async def run_legit_client(gateway: Any, stop: asyncio.Event, report: LegitReport) -> None:
    """Rounds until ``stop`` is set; a broken WebSocket session is reopened and counted."""
    async with aiohttp.ClientSession() as client:
        http = RawHttp(client, gateway)
        ws = await _reopen(client, gateway, None)
        for number in itertools.count():
            if stop.is_set():
                break
            token = f"legit{number}"
            try:
                if ws is None:
                    raise ConnectionError("could not open a WebSocket session")
                async with asyncio.timeout(ROUND_TIMEOUT):
                    await http_round(http, token)
                    await ws_round(ws, token)
                report.rounds += 1
            except Exception as exc:
                report.failures.append(f"round {number}: {type(exc).__name__}: {exc}"[:300])
                ws = await _reopen(client, gateway, ws)
            await asyncio.sleep(PAUSE)
        if ws is not None:
            await ws.close()
