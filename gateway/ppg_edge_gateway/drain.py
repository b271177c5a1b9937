"""Drain on SIGTERM: stop accepting, let in-flight work finish, close sessions with 1012.

``drain`` runs once the signal arrives: ``/ready`` turns 503, the listener is
closed (new connections are refused), idle keep-alive connections are closed
and busy ones after their answer, and every HTTP statement in flight may finish
within ``--shutdown-grace``. A WebSocket session is closed with 1012 ("service
restart") as soon as it has no statement running: one mid-statement first gets
its answer. Statements it sent but the gateway had not started are not run (the
close tells the client so: nothing of them happened). At the end of the grace
whatever still runs is cancelled (sessions closed with 1012, their statement
cancelled in PostgreSQL; HTTP statements cut).

The executor of a session is suspended in exactly one place while it is not
busy: waiting for its next statement. Cancelling it there, before closing the
socket, is what guarantees no statement starts once the session is closing.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, web

from ppg_edge.core.protocol import SESSION_PATH

from .health import READINESS
from .state import GATEWAY, LOG, Gateway

if TYPE_CHECKING:
    from .ws_session import Session

POLL_SECONDS = 0.05
"""How often sessions are looked at for a moment without a running statement."""
DRAIN_REASON = "gateway shutting down"
LATE_REASON = "gateway shutting down: shutdown grace over"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLEANUP_MARGIN = 0.5
"""Seconds past the grace before aiohttp cancels HTTP statements (sessions close first)."""

SETTLE_SECONDS = 2.5
"""How long the last cleanups (cancelling statements in PostgreSQL) may take at exit."""

_sessions: weakref.WeakSet[Session] = weakref.WeakSet()


class InFlight:
    """HTTP requests being handled (WebSocket sessions are drained on their own)."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if not self.count:
            self._idle.set()

    async def wait_idle(self, deadline: float) -> None:
        """Until no request is in flight, or ``deadline`` (loop time)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout_at(deadline):
                await self._idle.wait()


IN_FLIGHT = web.AppKey("in_flight", InFlight)


@web.middleware
async def count_in_flight(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count the HTTP requests in flight so that a drain can wait for them."""
    if request.path == SESSION_PATH:
        return await handler(request)
    in_flight = request.app[IN_FLIGHT]
    in_flight.enter()
    try:
        return await handler(request)
    finally:
        in_flight.leave()


def track(session: Session) -> None:
    """Register a session so that a drain can close it at the right moment."""
    _sessions.add(session)


def _stop_if_idle(session: Session, *, force: bool) -> asyncio.Task[None] | None:
    """Close ``session`` with 1012 when no statement runs (or ``force``): the closing task."""
    if session.busy and not force:
        return None
    executor = session._executor
    if executor is not None:
        executor.cancel()  # not busy: it waits for work, and no statement starts from here on
    reason = LATE_REASON if session.busy else DRAIN_REASON
    return asyncio.create_task(session.close(WSCloseCode.SERVICE_RESTART, reason))


async def drain_sessions(gateway: Gateway, deadline: float) -> None:
    """Close every session of ``gateway`` with 1012, each once it is idle or at ``deadline``."""
    loop = asyncio.get_running_loop()
    closing: dict[Session, asyncio.Task[None]] = {}
    while live := [s for s in _sessions if s.gateway is gateway and not s.ws.closed]:
        force = loop.time() >= deadline
        for session in live:
            if session not in closing and (task := _stop_if_idle(session, force=force)):
                closing[session] = task
        await asyncio.sleep(POLL_SECONDS)
    if closing:  # each waits for the client's close frame: not past the margin
        await asyncio.wait(closing.values(), timeout=CLEANUP_MARGIN)


async def drain(runner: web.AppRunner, listener: asyncio.AbstractServer, grace: float) -> None:
    """Refuse new connections, then give in-flight work ``grace`` seconds to finish."""
    app, server = runner.app, runner.server
    assert server is not None
    app[READINESS].draining = True
    listener.close()
    LOG.info("draining: new connections refused, %g s for in-flight work", grace)
    server.pre_shutdown()
    deadline = asyncio.get_running_loop().time() + grace
    await asyncio.gather(
        drain_sessions(app[GATEWAY], deadline),
        app[IN_FLIGHT].wait_idle(deadline + CLEANUP_MARGIN),
    )
    await server.shutdown(CLEANUP_MARGIN)  # cancels what is left
    LOG.info("drained")


async def settle() -> None:
    """Let the last cleanups finish (a cancelled statement's cancel request to PostgreSQL).

    They run shielded from the cancellation of their request; ``asyncio.run``
    would cancel them at exit and leave the statement running in PostgreSQL.
    """
    others = asyncio.all_tasks() - {asyncio.current_task()}
    if others:
        await asyncio.wait(others, timeout=SETTLE_SECONDS)
