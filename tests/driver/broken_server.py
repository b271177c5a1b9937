"""A deliberately broken protocol server on 127.0.0.1 for failure-path tests.

It answers every statement with a fixed NDJSON body, chosen to break the
protocol (a body that stops before `complete`, a line cut in half, a dropped
connection), so tests can prove the driver reports those as errors instead of
returning short results.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from ppg_edge.core.protocol import NDJSON, STATEMENT_PATH


@dataclass
class BrokenServer:
    """Where the broken server listens and how many statements it was sent."""

    url: str
    requests: int = 0


@asynccontextmanager
async def broken_server(body: bytes, *, drop: bool = False) -> AsyncIterator[BrokenServer]:
    """Serve `body` to every statement; with `drop`, cut the connection after it.

    `drop=False` ends the chunked body properly, so only the missing final
    frame tells the client the answer is incomplete.
    """
    server = BrokenServer(url="")

    async def statement(request: web.Request) -> web.StreamResponse:
        server.requests += 1
        await request.read()
        response = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(body)
        await asyncio.sleep(0.05)
        if drop and request.transport is not None:
            request.transport.abort()
            return response
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post(STATEMENT_PATH, statement)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
