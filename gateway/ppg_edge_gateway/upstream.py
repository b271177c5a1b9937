"""Connections to the upstream PostgreSQL: logins, session settings, HTTP pools.

Credentials come from each request and go straight to PostgreSQL; the gateway
keeps no password and lends none of its own (libpq_isolation). Pools are keyed
by (user, database, HMAC of the password under a per-process random key), so a
different password never reuses a connection that another password opened: it
makes a fresh login attempt. A pooled login is trusted for ``login_lifetime``
seconds from the login, however often it is reused, so a changed password or
``NOLOGIN`` takes effect within that bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

from ppg_edge.core.protocol import SESSION_SETTINGS

from . import metrics
from .config import DEFAULT_LOGIN_LIFETIME
from .credentials import check_credentials
from .errors import AuthenticationFailed, UpstreamUnavailable
from .libpq_isolation import NEUTRAL_PARAMETERS, forget_libpq_environment

LOG = logging.getLogger(__name__)
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
    "requires a valid client certificate",
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
_LIBPQ_PREAMBLE = re.compile(
    r'connection to server (?:at "[^"]*"(?: \([^)]*\))?, port \d+|on socket "[^"]*") failed: '
)
"""How libpq names the address it failed to log in to; clients never see the upstream's address."""
CANCEL_SECONDS = 2.0
"""How long a libpq cancel request may take to reach PostgreSQL before it is given up."""
REFUSED = "PostgreSQL refused the connection (details in the gateway log)"
REPORTED_SETTINGS = ("TimeZone", "DateStyle", "IntervalStyle")
"""Session settings PostgreSQL reports at login (GUC_REPORT): checked against what was asked."""
SETTINGS_IGNORED = "PostgreSQL ignored the gateway's session settings (details in the gateway log)"
UNREACHABLE = "cannot reach PostgreSQL (details in the gateway log)"


@dataclass(frozen=True)
class Credentials:
    """Who a request or session logs in as; the password never shows in a repr.

    Checked when made: one that libpq could not carry as sent, or that leaves
    libpq something to fill in, never exists.
    """

    user: str
    password: str = field(repr=False)
    database: str | None = None

    def __post_init__(self) -> None:
        check_credentials(self.user, self.password, self.database)


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


def _server_message(exc: psycopg.Error) -> str:
    """The server's own words from a failed login, without libpq's address preamble."""
    text = str(exc).strip()
    if "FATAL:" in text:
        text = text.rsplit("FATAL:", 1)[1]
    return " ".join(_LIBPQ_PREAMBLE.sub("", text).split())


def login_parameters(upstream: Upstream, credentials: Credentials) -> dict[str, Any]:
    """Everything libpq needs for a login, given explicitly so it looks nothing up itself."""
    return {
        **NEUTRAL_PARAMETERS,
        "host": upstream.host,
        "port": upstream.port,
        "user": credentials.user,
        "password": credentials.password,
        # PostgreSQL's own default, stated so that PGDATABASE or a service cannot choose.
        "dbname": credentials.database or credentials.user,
        "client_encoding": SESSION_SETTINGS["client_encoding"],
        "options": upstream.options(),
        "application_name": "ppg_edge gateway",
        "connect_timeout": upstream.connect_timeout,
        "sslmode": upstream.sslmode,
    }


async def connect(upstream: Upstream, credentials: Credentials) -> Connection:
    """Log in; bad credentials raise AuthenticationFailed, trouble UpstreamUnavailable."""
    forget_libpq_environment()
    try:
        # No automatic prepared statements: DISCARD ALL would drop them under psycopg.
        conn = await psycopg.AsyncConnection.connect(
            autocommit=True, prepare_threshold=None, **login_parameters(upstream, credentials)
        )
    except psycopg.Error as exc:
        raise login_failure(exc, credentials) from None
    if ignored := settings_ignored(conn):
        await conn.close()
        LOG.error(
            "database %r: %s; a pooler dropped the `options` startup parameter? Set them on "
            "the pooler's database entry or in PostgreSQL (see docs/DEPLOYMENT.md)",
            credentials.database or credentials.user,
            ignored,
        )
        raise UpstreamUnavailable(SETTINGS_IGNORED)
    return conn


def settings_ignored(conn: Connection) -> str | None:
    """What PostgreSQL reports otherwise than ``options`` asked for, or None if all is as asked.

    A pooler such as PgBouncer refuses ``options`` or, told to ignore it, drops
    it: results would then come in the server's own DateStyle or IntervalStyle,
    which clients parse wrongly. No round trip: these are reported at login.
    """
    for name in REPORTED_SETTINGS:
        reported = conn.info.parameter_status(name)
        wanted = SESSION_SETTINGS[name]
        # DateStyle is reported with its input order ("ISO, MDY"); only the output style counts.
        if reported is not None and reported.split(",")[0].strip() != wanted:
            return f"{name} is {reported!r}, not {wanted!r}"
    return None


def _is_auth_failure(sqlstate: str | None, message: str) -> bool:
    """Bad password, unknown role or database, hba refusal: the login itself is wrong."""
    if sqlstate is not None:
        return sqlstate in _AUTH_SQLSTATES
    if any(marker in message for marker in _AUTH_MARKERS):
        return True
    named = message.startswith(("role ", "database "))
    return named and message.endswith(("does not exist", "is not permitted to log in"))


def login_failure(
    exc: psycopg.Error, credentials: Credentials
) -> AuthenticationFailed | UpstreamUnavailable:
    """Classify a failed login: 401 for the login itself, 503 when busy, 502 otherwise.

    A 401 or 503 carries PostgreSQL's reason; a 502 only a generic one (its
    detail names the upstream's address), logged in full for the operator.
    """
    message = _server_message(exc)
    sqlstate = exc.sqlstate
    if isinstance(exc, psycopg.OperationalError) and _is_auth_failure(sqlstate, message):
        return AuthenticationFailed(message)
    busy = sqlstate in _BUSY_SQLSTATES if sqlstate else any(m in message for m in _BUSY_MARKERS)
    if busy:
        return UpstreamUnavailable(f"PostgreSQL is busy, try again later: {message}", 503)
    LOG.warning(
        "login of user %r to database %r failed: %s: %s",
        credentials.user,
        credentials.database or credentials.user,
        type(exc).__name__,
        " ".join(str(exc).split()),
    )
    # require_auth's refusal (the server wanted GSSAPI, say) is libpq's, without a FATAL.
    refused = "FATAL:" in str(exc) or "authentication method requirement" in message
    return UpstreamUnavailable(REFUSED if refused else UNREACHABLE)


async def discard(conn: Connection) -> None:
    """Close a connection at once, cancelling a running statement first."""
    if conn.closed:
        return
    if conn.pgconn.transaction_status == pq.TransactionStatus.ACTIVE:
        with contextlib.suppress(psycopg.Error, TimeoutError):
            await asyncio.wait_for(conn.cancel_safe(), CANCEL_SECONDS)
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
    closed first), so idle logins cannot pile up beside the active ones. Both
    default to ``max_connections``: with fewer, every client of one login beyond
    the idle bound paid a fresh SCRAM login per statement (8 idle per key held 50
    keep-alive clients to 266 statements/s against 628 with two workers' 16 idle,
    ``benchmarks/workers_throughput.py``). Idle and active connections together
    stay within ``max_connections``: a new login first closes the oldest idle
    connection when they would not. A
    connection serves requests for at most ``login_lifetime`` seconds after its
    login (reuse never extends it), then the next request logs in afresh: the
    only way PostgreSQL gets to refuse a changed password or a ``NOLOGIN`` role.
    """

    def __init__(
        self,
        upstream: Upstream,
        max_connections: int,
        max_idle: int | None = None,
        idle_seconds: float = 60.0,
        wait_seconds: float = 30.0,
        max_idle_total: int | None = None,
        login_lifetime: float = DEFAULT_LOGIN_LIFETIME,
    ) -> None:
        self.upstream = upstream
        self.max_connections = max_connections
        self.wait_seconds = wait_seconds
        self.max_idle = max_connections if max_idle is None else max_idle
        self.max_idle_total = max_connections if max_idle_total is None else max_idle_total
        self.idle_seconds = idle_seconds
        self.login_lifetime = login_lifetime
        self._secret = secrets.token_bytes(32)
        self._idle: dict[PoolKey, list[tuple[float, Connection]]] = {}
        self._logged_in: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        self._slots = asyncio.Semaphore(max_connections)
        self._active = 0

    def _key(self, credentials: Credentials) -> PoolKey:
        digest = hmac.new(self._secret, credentials.password.encode(), hashlib.sha256).digest()
        return (credentials.user, credentials.database, digest)

    @asynccontextmanager
    async def connection(self, credentials: Credentials) -> AsyncIterator[Connection]:
        """A reset connection for one request; returned to the pool when clean."""
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_seconds)
        except TimeoutError:
            metrics.rejected("queue_timeout")
            message = f"too many concurrent statements (limit {self.max_connections})"
            raise UpstreamUnavailable(message, 503) from None
        self._active += 1
        try:
            key = self._key(credentials)
            conn = await self._take_idle(key) or await self._login(credentials)
            try:
                yield conn
            except BaseException:
                await asyncio.shield(discard(conn))
                raise
            # Shielded: a client that closes once its answer is out cancels the handler,
            # yet the connection still gets its reset and goes back to the pool.
            await asyncio.shield(self._give_back(key, conn))
        finally:
            self._active -= 1
            self._slots.release()

    async def _login(self, credentials: Credentials) -> Connection:
        # This request holds one of the active slots already: make room among the idle.
        while self.idle_count() and self._active + self.idle_count() > self.max_connections:
            await self._evict_oldest()
        conn = await connect(self.upstream, credentials)
        metrics.upstream_opened(conn)
        self._logged_in[conn] = time.monotonic()
        return conn

    def _trusted(self, conn: Connection, now: float) -> bool:
        """True while the login behind this connection is recent enough to serve a request."""
        logged_in = self._logged_in.get(conn)
        return logged_in is not None and now - logged_in < self.login_lifetime

    def _keepable(self, since: float, conn: Connection, now: float) -> bool:
        """An idle connection still worth keeping: open, idle not too long, login trusted."""
        return not conn.closed and now - since <= self.idle_seconds and self._trusted(conn, now)

    async def _take_idle(self, key: PoolKey) -> Connection | None:
        idle = self._idle.get(key, [])
        now = time.monotonic()
        while idle:
            since, conn = idle.pop()
            if self._keepable(since, conn, now) and still_alive(conn):
                return conn
            await discard(conn)
        return None

    def idle_count(self) -> int:
        """How many idle connections all pools hold."""
        return sum(len(idle) for idle in self._idle.values())

    async def _give_back(self, key: PoolKey, conn: Connection) -> None:
        full = len(self._idle.get(key, ())) >= self.max_idle
        if full or not self._trusted(conn, time.monotonic()) or not await reset(conn):
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
        """Close idle connections past their idle time or login lifetime (called periodically)."""
        now = time.monotonic()
        for key, idle in list(self._idle.items()):
            keep = [(since, conn) for since, conn in idle if self._keepable(since, conn, now)]
            expired = [conn for since, conn in idle if not self._keepable(since, conn, now)]
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
