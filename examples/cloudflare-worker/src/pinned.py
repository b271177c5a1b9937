"""A Durable Object that keeps one ppg_edge session open across requests.

A plain Worker opens its database client inside each request and closes it
before the request ends: workerd ties every I/O object (a fetch response, a
WebSocket) to the request that created it and refuses to use it from another
request. A Durable Object is different: all requests to one object share its
I/O context, and its instance (with its attributes) lives on between them
until the runtime evicts it. So it is the place for a long-lived socket: the
first request opens a WebSocket session and later ones reuse it, with no
handshake and no authentication round trip, and statements from concurrent
requests are pipelined on it.

The session is one database connection, so session state (temp tables, SET)
carries over from request to request; `GET ?tag=T` shows it: each visit goes
into a session-scoped temp table, and the answer reports the visit number,
the backend pid and how many sessions this object has opened.

A session can end between requests (the server's idle timeout, a network
drop, a restart): the object notices the socket closed and opens a new
session on the next request. When the connection dies under a request, that
request gets a 503 and the dead session is dropped, so the next request opens
a new one. Nothing is retried: a statement that met a dead connection may or
may not have run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from replies import Problem, connection_lost, error_response, json_response
from workers import DurableObject, Response

import ppg_edge

STATEMENT_TIMEOUT = 10.0
"""Seconds a statement (and opening the session) may take: a socket that died
silently fails a request in bounded time instead of hanging it."""

MAX_TAG_CHARS = 64
VISITS_TABLE = "CREATE TEMP TABLE pinned_visits (visit serial PRIMARY KEY, tag text NOT NULL)"
RECORD_VISIT = "INSERT INTO pinned_visits (tag) VALUES ($1) RETURNING visit"
BACKEND_PID = "SELECT pg_backend_pid() AS pid"


async def first_row(answer: Awaitable[ppg_edge.QueryResult]) -> dict[str, Any]:
    """The first row of a query's answer as a dict."""
    result = await answer
    names = [column.name for column in result.columns]
    rows = await result.rows.collect()
    return dict(zip(names, rows[0].values, strict=True))


class PinnedSession(DurableObject):
    """One database session per object, opened on demand and reused while it lives."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._client: ppg_edge.Client | None = None
        self._session: ppg_edge.Session | None = None
        self._opening = asyncio.Lock()
        self.sessions_opened = 0

    async def fetch(self, request: Any) -> Response:
        params = parse_qs(urlsplit(str(request.url)).query)
        tag = params.get("tag", ["anonymous"])[-1][:MAX_TAG_CHARS]
        try:
            session = await self._live_session()
            try:
                visit = await self._visit(session, tag)
            except Exception as exc:
                if await self._drop_if_lost(session, exc):
                    return json_response({"error": f"the database session was lost: {exc}"}, 503)
                raise
        except Exception as exc:
            return error_response(exc)
        return json_response(visit | {"sessions_opened": self.sessions_opened})

    async def _visit(self, session: ppg_edge.Session, tag: str) -> dict[str, Any]:
        """Two statements sent at once (pipelined); the session answers them in order."""
        visit, backend = await asyncio.gather(
            first_row(session.query(RECORD_VISIT, tag)),
            first_row(session.query(BACKEND_PID)),
        )
        return visit | backend

    async def _live_session(self) -> ppg_edge.Session:
        """The open session, or a new one if there is none or it has closed."""
        async with self._opening:  # concurrent first requests open one session, not several
            session = self._session
            if session is None or not session.active:
                self._session = None
                if session is not None:
                    await session.close()
                self._session = await self._open()
            return self._session

    async def _open(self) -> ppg_edge.Session:
        session = await self._database().new_session()
        try:
            await session.exec(VISITS_TABLE)
        except BaseException:
            await session.close()
            raise
        self.sessions_opened += 1
        return session

    def _database(self) -> ppg_edge.Client:
        if self._client is None:
            url = getattr(self.env, "DATABASE_URL", None)
            if not url:
                raise Problem(500, "the DATABASE_URL secret is not set")
            endpoint = getattr(self.env, "PPG_ENDPOINT", None) or None
            self._client = ppg_edge.client(
                str(url), endpoint=endpoint and str(endpoint), timeout=STATEMENT_TIMEOUT
            )
        return self._client

    async def _drop_if_lost(self, session: ppg_edge.Session, exc: BaseException) -> bool:
        """Forget a session whose connection is gone, so the next request opens another.

        The error is the first sign (a DatabaseError of class 08 comes before the
        socket's close frame), so it counts as much as the closed socket does.
        """
        if session.active and not connection_lost(exc):
            return False
        if self._session is session:
            self._session = None
        await session.close()
        return True
