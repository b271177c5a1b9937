"""Fixtures that drive the official JavaScript client (node) against the gateway.

Each case runs in its own short-lived node process (``js/run.mjs CASE``, arguments as JSON
on stdin, one JSON line on stdout), bounded by a timeout on both sides. Everything here is
async so the event loop stays free while node talks to the gateway, wherever it runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

INTEROP_DIR = Path(__file__).resolve().parent
RUNNER = INTEROP_DIR / "js" / "run.mjs"
NODE_TIMEOUT_S = 45.0

RunCase = Callable[..., Awaitable[dict[str, Any]]]


def _node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH; the interop suite needs Node.js 20 or newer")
    if not (INTEROP_DIR / "node_modules" / "@prisma" / "ppg").is_dir():
        pytest.fail(f"npm packages missing: run `npm ci` in {INTEROP_DIR.name}/ first")
    return node


async def _run_node(node: str, case: str, args: dict[str, Any], env: dict[str, str]) -> str:
    """Run one case; return its stdout, failing the test on a crash or a timeout."""
    proc = await asyncio.create_subprocess_exec(
        node,
        str(RUNNER),
        case,
        cwd=INTEROP_DIR,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(json.dumps(args).encode()), NODE_TIMEOUT_S
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"node case {case!r} did not finish within {NODE_TIMEOUT_S:.0f}s")
    if not out.strip():
        pytest.fail(f"node case {case!r} exited {proc.returncode} with no result:\n{err.decode()}")
    return out.decode()


@pytest.fixture
def run_case(gateway: Any) -> RunCase:
    """Return ``await run_case(name, **args)`` → the case's ``result`` (asserts it ran)."""
    node = _node_binary()
    env = {
        **os.environ,
        "PPG_INTEROP_CONNECTION_STRING": gateway.connection_string,
        "PPG_INTEROP_ENDPOINT": gateway.url,
        "PPG_INTEROP_TIMEOUT_MS": str(int((NODE_TIMEOUT_S - 5) * 1000)),
    }

    async def run(case: str, **args: Any) -> dict[str, Any]:
        out = await _run_node(node, case, args, env)
        try:
            outcome = json.loads(out.strip().splitlines()[-1])
        except ValueError:
            pytest.fail(f"node case {case!r} printed no JSON result:\n{out[-2000:]}")
        assert outcome["ok"], f"case {case!r} failed in node: {outcome['error']}"
        result: dict[str, Any] = outcome["result"]
        return result

    return run


@pytest.fixture
async def direct(gateway: Any) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A psycopg connection straight to PostgreSQL, as the gateway's user, autocommit."""
    async with await psycopg.AsyncConnection.connect(gateway.direct_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
async def table(direct: psycopg.AsyncConnection[Any]) -> AsyncIterator[str]:
    """A fresh table name, dropped after the test whether or not the test created it."""
    name = f"interop_{uuid.uuid4().hex[:12]}"
    yield name
    await direct.execute(f"DROP TABLE IF EXISTS {name}")
