"""A probe Worker: reports, from inside the emulated Worker, what the adapter does.

Each route answers JSON about one property the example's routes cannot show
directly: which runtime ppg_edge picked, a large parameter sent as a streamed
request body, binary WebSocket messages, and a refused WebSocket upgrade.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import pyodide
import workers
from workers import Response, WorkerEntrypoint

import ppg_edge
from ppg_edge.runtime import default_runtime
from ppg_edge.runtime.cloudflare import CloudflareRuntime

LARGE_TEXT = "ppg-edge " * 40_000
BINARY_BLOB = bytes(range(256)) * 16


def answer(payload: Any) -> Response:
    return Response(json.dumps(payload), headers={"content-type": "application/json"})


class Default(WorkerEntrypoint):
    async def fetch(self, request: Any) -> Response:
        path = urlsplit(str(request.url)).path
        if path == "/runtime":
            return answer(
                {
                    "runtime": type(default_runtime()).__name__,
                    "python": list(sys.version_info[:2]),
                    "pyodide": pyodide.__version__,
                    "platform": sys.platform,
                    "sdk": workers.__file__,
                }
            )
        db = ppg_edge.connect(str(self.env.DATABASE_URL), endpoint=str(self.env.PPG_ENDPOINT))
        async with db:
            if path == "/large-parameter":
                rows = await db.sql(
                    "SELECT length({t}) AS n, md5({t}) AS hash", t=LARGE_TEXT
                ).collect()
                return answer(rows[0] | {"expected": hashlib.md5(LARGE_TEXT.encode()).hexdigest()})
            if path == "/timeout":
                started = time.monotonic()
                try:
                    await db.query("SELECT pg_sleep(5)", timeout=0.3).collect()
                except ppg_edge.QueryTimeoutError as exc:
                    return answer(
                        {"error": type(exc).__name__, "seconds": time.monotonic() - started}
                    )
                return answer({"error": None})
            if path == "/binary-session":
                async with db.transaction() as tx:
                    rows = await tx.sql(
                        "SELECT length({b}::bytea) AS n, md5({b}::bytea) AS hash", b=BINARY_BLOB
                    ).collect()
                return answer(rows[0] | {"expected": hashlib.md5(BINARY_BLOB).hexdigest()})
        if path == "/session-burst":
            async with db.transaction() as tx:  # a session: 40 statements pipelined
                sql = "SELECT {n}::int AS n, pg_backend_pid() AS pid"
                answers = await asyncio.gather(*(tx.sql(sql, n=n).collect() for n in range(40)))
            return answer(
                {
                    "values": [rows[0]["n"] for rows in answers],
                    "pids": len({rows[0]["pid"] for rows in answers}),
                }
            )
        if path == "/refused-upgrade":
            target = str(self.env.PPG_ENDPOINT).replace("http", "ws", 1) + "/nowhere"
            try:
                await CloudflareRuntime().websocket(target, ["prisma-postgres-1.0"])
            except ConnectionError as exc:
                return answer({"error": str(exc), "status": getattr(exc, "status", None)})
            return answer({"error": None})
        return Response("no such probe", status=404)
