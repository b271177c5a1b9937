"""``/live`` and ``/ready``: is the process serving, and can it reach PostgreSQL.

Readiness is libpq's ``PQping`` (``psycopg.pq.PGconn.ping``): a connection
attempt without a password that stops as soon as the server answers. A server
that asks for authentication is reachable (PostgreSQL logs nothing for a client
that leaves at the password prompt); one starting up, shutting down or in
recovery refuses, and an unreachable one does not answer. The answer is cached
for ``READY_CACHE_SECONDS`` and concurrent probes share one ping, so probes
cannot be used to hammer PostgreSQL. While the gateway drains, ``/ready``
answers 503 so a load balancer stops sending it new clients.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from aiohttp import web
from psycopg import pq
from psycopg.conninfo import make_conninfo

from .config import READY_CACHE_SECONDS, GatewayConfig
from .libpq_isolation import NEUTRAL_PARAMETERS, forget_libpq_environment

LIVE_PATH = "/live"
READY_PATH = "/ready"
HEALTH_PATHS = (LIVE_PATH, READY_PATH)
PING_USER = "ppg_edge_ready"
"""The user the ping names (it never logs in: no password is given)."""
PING_TIMEOUT_SECONDS = 2
_PING_REASONS = {
    pq.Ping.REJECT: "PostgreSQL refuses connections (starting up, shutting down or in recovery)",
    pq.Ping.NO_RESPONSE: "PostgreSQL does not answer",
    pq.Ping.NO_ATTEMPT: "the upstream address is not usable",
}


def ping_conninfo(config: GatewayConfig) -> str:
    """libpq parameters for the ping: the upstream's address and sslmode, no login of ours."""
    return make_conninfo(
        host=config.upstream_host,
        port=config.upstream_port,
        user=PING_USER,
        dbname=PING_USER,
        sslmode=config.upstream_sslmode,
        connect_timeout=PING_TIMEOUT_SECONDS,
        application_name="ppg_edge gateway readiness",
        **NEUTRAL_PARAMETERS,
    )


def ping(conninfo: str) -> str | None:
    """None when PostgreSQL answers, else why not (blocking: run it in a thread).

    The caller clears libpq's environment first, in the event loop's thread (as
    every login does), so no two threads edit ``os.environ`` at once.
    """
    result = pq.Ping(pq.PGconn.ping(conninfo.encode()))
    return _PING_REASONS.get(result)


@dataclass
class Readiness:
    """The cached outcome of the last ping and the draining flag."""

    conninfo: str
    cache_seconds: float = READY_CACHE_SECONDS
    draining: bool = False
    _checked: float = float("-inf")
    _problem: str | None = None
    _running: asyncio.Task[str | None] | None = field(default=None, repr=False)

    async def problem(self) -> str | None:
        """Why the gateway is not ready, or None; at most one ping per ``cache_seconds``."""
        if self.draining:
            return "draining: the gateway is shutting down"
        if time.monotonic() - self._checked < self.cache_seconds:
            return self._problem
        if self._running is None:
            forget_libpq_environment()
            self._running = asyncio.create_task(asyncio.to_thread(ping, self.conninfo))
        running = self._running
        try:
            problem = await asyncio.shield(running)
        finally:
            if self._running is running and running.done():
                self._running = None
        self._problem, self._checked = problem, time.monotonic()
        return problem


READINESS = web.AppKey("readiness", Readiness)


def _plain(status: int, text: str) -> web.Response:
    response = web.Response(status=status, text=text + "\n", content_type="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


async def live(request: web.Request) -> web.Response:
    """200 while the process serves requests (no dependency checked)."""
    return _plain(200, "ok")


async def ready(request: web.Request) -> web.Response:
    """200 when PostgreSQL answers and the gateway is not draining, else 503 with why."""
    problem = await request.app[READINESS].problem()
    if problem is not None:
        return _plain(503, f"not ready: {problem}")
    return _plain(200, "ready")


def add_health_routes(app: web.Application, readiness: Readiness) -> None:
    """Unauthenticated GET routes (HEAD too) for probes; they reveal only readiness."""
    app[READINESS] = readiness
    app.router.add_get(LIVE_PATH, live)
    app.router.add_get(READY_PATH, ready)
