"""Connections to the upstream PostgreSQL: logins, session settings, HTTP pools.

Credentials come from each request and go straight to PostgreSQL; the gateway
keeps no password. Pools are keyed by (user, database, HMAC of the password
under a per-process random key), so a different password never reuses a
connection that another password opened: it makes a fresh login attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from ppg_edge.core.protocol import SESSION_SETTINGS

from .errors import AuthenticationFailed, UpstreamUnavailable

Connection = psycopg.AsyncConnection[Any]
# libpq gives no SQLSTATE for a failed login (psycopg's ``sqlstate`` is None), so the
# server's English message text is the fallback; SQLSTATE wins whenever present.
_AUTH_SQLSTATES = ("28000", "28P01", "3D000", "42501")
_BUSY_SQLSTATES = ("53300", "57P03")
_AUTH_MARKERS = (
    "authentication failed",
    "no password supplied",
    "pg_hba.conf",
    "permission denied for database",
)
_BUSY_MARKERS = (
    "too many connections",
    "remaining connection slots",
    "too many clients",
    "starting up",
    "shutting down",
    "in recovery",
    "not yet accepting connections",
)


@dataclass(frozen=True)
class Credentials:
    """Who a request or session logs in as; the password never shows in a repr."""

    user: str
    password: str = field(repr=False)
    database: str | None = None


@dataclass(frozen=True)
class Upstream:
    """Where PostgreSQL is and what every session runs with; from the gateway's config only."""

    host: str
    port: int
    statement_timeout_ms: int = 0
    sslmode: str = "prefer"
    connect_timeout: int = 10

    def options(self) -> str:
        """libpq ``options``: settings become session defaults, so DISCARD ALL keeps them."""
        settings = {k: v for k, v in SESSION_SETTINGS.items() if k != "client_encoding"}
        if self.statement_timeout_ms:
            settings["statement_timeout"] = str(self.statement_timeout_ms)
        return " ".join(f"-c {name}={value}" for name, value in settings.items())


def _server_message(exc: psycopg.OperationalError) -> str:
    """The server's own words from a failed login, without libpq's address preamble."""
    text = str(exc).strip()
    if "FATAL:" in text:
        text = text.rsplit("FATAL:", 1)[1]
    return " ".join(text.split())


async def connect(upstream: Upstream, credentials: Credentials) -> Connection:
    """Log in; bad credentials raise AuthenticationFailed, trouble UpstreamUnavailable."""
    kwargs: dict[str, Any] = {
        "host": upstream.host,
        "port": upstream.port,
        "user": credentials.user,
        "password": credentials.password,
        "client_encoding": SESSION_SETTINGS["client_encoding"],
        "options": upstream.options(),
        "application_name": "ppg_edge gateway",
        "connect_timeout": upstream.connect_timeout,
        "sslmode": upstream.sslmode,
    }
    if credentials.database:
        kwargs["dbname"] = credentials.database
    try:
        # No automatic prepared statements: DISCARD ALL would drop them under psycopg.
        return await psycopg.AsyncConnection.connect(
            autocommit=True, prepare_threshold=None, **kwargs
        )
    except psycopg.OperationalError as exc:
        raise login_failure(exc) from None


def _is_auth_failure(sqlstate: str | None, message: str) -> bool:
    """Bad password, unknown role or database, hba refusal: the login itself is wrong."""
    if sqlstate is not None:
        return sqlstate in _AUTH_SQLSTATES
    if any(marker in message for marker in _AUTH_MARKERS):
        return True
    named = message.startswith(("role ", "database "))
    return named and message.endswith(("does not exist", "is not permitted to log in"))


def login_failure(exc: psycopg.OperationalError) -> AuthenticationFailed | UpstreamUnavailable:
    """Classify a failed login: 401 for the login itself, 503 when busy, 502 otherwise."""
    message = _server_message(exc)
    sqlstate = exc.sqlstate
    if _is_auth_failure(sqlstate, message):
        return AuthenticationFailed(message)
    busy = sqlstate in _BUSY_SQLSTATES if sqlstate else any(m in message for m in _BUSY_MARKERS)
    if busy:
        return UpstreamUnavailable(f"PostgreSQL is busy, try again later: {message}", 503)
    if "FATAL:" in str(exc):
        return UpstreamUnavailable(f"PostgreSQL refused the connection: {message}")
    return UpstreamUnavailable(f"cannot reach PostgreSQL: {message}")


async def discard(conn: Connection) -> None:
    """Close a connection at once, cancelling a running statement first."""
    if conn.closed:
        return
    if conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
        with contextlib.suppress(psycopg.Error, TimeoutError):
            await asyncio.wait_for(conn.cancel_safe(), 2)
    await conn.close()


def still_alive(conn: Connection) -> bool:
    """Without a round trip: read what the server sent an idle connection (a FATAL, EOF)."""
    if conn.closed:
        return False
    try:
        # Twice: a terminated backend's last message comes first, the EOF second.
        conn.pgconn.consume_input()
        conn.pgconn.consume_input()
    except psycopg.OperationalError:
        return False
    return conn.pgconn.status == pq.ConnStatus.OK and not conn.pgconn.is_busy()


async def reset(conn: Connection) -> bool:
    """Roll back and DISCARD ALL so nothing leaks to the next request; False if unusable."""
    status = conn.pgconn.transaction_status
    if conn.closed or status in (pq.TransactionStatus.ACTIVE, pq.TransactionStatus.UNKNOWN):
        return False
    try:
        if status != pq.TransactionStatus.IDLE:
            await conn.execute("ROLLBACK")
        await conn.execute("DISCARD ALL")
    except psycopg.Error:
        return False
    return True


PoolKey = tuple[str, str | None, bytes]


class Pools:
    """Idle connections per (user, database, password HMAC), reset between requests.

    At most ``max_idle`` per key and ``max_idle_total`` in all (the oldest is
    closed first), so idle logins cannot pile up beside the active ones.
    """

    def __init__(
        self,
        upstream: Upstream,
        max_connections: int,
        max_idle: int = 8,
        idle_seconds: float = 60.0,
        wait_seconds: float = 30.0,
        max_idle_total: int = 16,
    ) -> None:
        self.upstream = upstream
        self.max_connections = max_connections
        self.wait_seconds = wait_seconds
        self.max_idle = max_idle
        self.max_idle_total = max_idle_total
        self.idle_seconds = idle_seconds
        self._secret = secrets.token_bytes(32)
        self._idle: dict[PoolKey, list[tuple[float, Connection]]] = {}
        self._slots = asyncio.Semaphore(max_connections)

    def _key(self, credentials: Credentials) -> PoolKey:
        digest = hmac.new(self._secret, credentials.password.encode(), hashlib.sha256).digest()
        return (credentials.user, credentials.database, digest)

    @asynccontextmanager
    async def connection(self, credentials: Credentials) -> AsyncIterator[Connection]:
        """A reset connection for one request; returned to the pool when clean."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_seconds)
        except TimeoutError:
            message = f"too many concurrent statements (limit {self.max_connections})"
            raise UpstreamUnavailable(message, 503) from None
        try:
            key = self._key(credentials)
            conn = await self._take_idle(key) or await connect(self.upstream, credentials)
            try:
                yield conn
            except BaseException:
                await asyncio.shield(discard(conn))
                raise
            # Shielded: a client that closes once its answer is out cancels the handler,
            # yet the connection still gets its reset and goes back to the pool.
            await asyncio.shield(self._give_back(key, conn))
        finally:
            self._slots.release()

    async def _take_idle(self, key: PoolKey) -> Connection | None:
        idle = self._idle.get(key, [])
        deadline = time.monotonic() - self.idle_seconds
        while idle:
            since, conn = idle.pop()
            if since >= deadline and still_alive(conn):
                return conn
            await discard(conn)
        return None

    def idle_count(self) -> int:
        """How many idle connections all pools hold."""
        return sum(len(idle) for idle in self._idle.values())

    async def _give_back(self, key: PoolKey, conn: Connection) -> None:
        if len(self._idle.get(key, ())) >= self.max_idle or not await reset(conn):
            await discard(conn)
            return
        while 0 < self.idle_count() >= self.max_idle_total:
            await self._evict_oldest()
        self._idle.setdefault(key, []).append((time.monotonic(), conn))

    async def _evict_oldest(self) -> None:
        """Close the connection idle the longest, whatever its key (lists are oldest first)."""
        key = min((k for k, idle in self._idle.items() if idle), key=lambda k: self._idle[k][0][0])
        _, conn = self._idle[key].pop(0)
        if not self._idle[key]:
            del self._idle[key]
        await discard(conn)

    async def sweep(self) -> None:
        """Close idle connections past their idle time (called periodically)."""
        deadline = time.monotonic() - self.idle_seconds
        for key, idle in list(self._idle.items()):
            keep = [(since, conn) for since, conn in idle if since >= deadline and not conn.closed]
            expired = [conn for since, conn in idle if since < deadline or conn.closed]
            self._idle[key] = keep
            if not keep:
                del self._idle[key]
            for conn in expired:
                await discard(conn)

    async def close(self) -> None:
        """Close every idle connection (at shutdown)."""
        pools, self._idle = self._idle, {}
        for idle in pools.values():
            for _, conn in idle:
                await discard(conn)
