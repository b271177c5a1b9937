"""The gateway's Prometheus metrics (``prometheus-client``), one view across workers.

With ``--workers`` above 1 the supervisor points ``PROMETHEUS_MULTIPROC_DIR``
at a private temporary directory before it starts the workers, so
prometheus-client keeps every worker's values in memory-mapped files there and
whichever worker answers a scrape (they share the admin address) reports the
sum: one coherent view whatever worker the scrape lands on. Per-worker labels
would instead show only the answering worker's series, a different one per
scrape. Counters of a worker that died stay in the totals; its gauges leave
them (``mark_process_dead``). With one worker the ordinary in-process registry
is used.

Counts are updated where things happen (one call each); gauges that mirror
state (sessions open, upstream connections in use or idle) are sampled once a
second by each worker, and by the answering worker for every scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
SAMPLE_SECONDS = 1.0
PREFIX = "ppg_edge_gateway"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series: noise
HTTP_STATEMENTS = Counter(
    f"{PREFIX}_http_statements", "POST /v0/statement requests by HTTP status", ["status"]
)
SESSIONS = Counter(
    f"{PREFIX}_sessions",
    "WebSocket sessions ended, by close code (1006: connection lost)",
    ["close"],
)
STATEMENTS = Counter(
    f"{PREFIX}_statements", "statements answered (SQL errors included), by transport", ["transport"]
)
LATENCY = Histogram(
    f"{PREFIX}_statement_duration_seconds",
    "time to answer a statement (http: request head to the answer's end; "
    "ws: a pipelined burst's time, for each of its statements)",
    ["transport"],
    buckets=LATENCY_BUCKETS,
)
REJECTIONS = Counter(f"{PREFIX}_rejections", "requests refused at a limit", ["limit"])
EVICTIONS = Counter(f"{PREFIX}_evictions", "idle connections closed to make room at --max-clients")
BYTES_RECEIVED = Counter(f"{PREFIX}_received_bytes", "bytes received from clients")
BYTES_SENT = Counter(f"{PREFIX}_sent_bytes", "bytes sent to clients")
SESSIONS_OPEN = Gauge(
    f"{PREFIX}_sessions_open", "WebSocket sessions holding a slot", multiprocess_mode="livesum"
)
BODY_BYTES = Gauge(
    f"{PREFIX}_buffered_body_bytes",
    "request body bytes held in memory while HTTP statements read them (--max-buffered-bytes)",
    multiprocess_mode="livesum",
)
UPSTREAM = Gauge(
    f"{PREFIX}_upstream_connections",
    "connections to PostgreSQL: in_use (a statement or session holds it) or idle (pooled)",
    ["state"],
    multiprocess_mode="livesum",
)

_opened: weakref.WeakSet[Any] = weakref.WeakSet()
"""Every pooled (HTTP) upstream connection this worker opened and still references."""


def http_answered(status: int, seconds: float) -> None:
    """One POST /v0/statement ended with ``status`` (499: its client went away)."""
    HTTP_STATEMENTS.labels(str(status)).inc()
    if status == 200:
        STATEMENTS.labels("http").inc()
        LATENCY.labels("http").observe(seconds)


def ws_answered(count: int, seconds: float) -> None:
    """A session answered ``count`` statements (one pipelined burst) in ``seconds``."""
    STATEMENTS.labels("ws").inc(count)
    latency = LATENCY.labels("ws")
    for _ in range(count):
        latency.observe(seconds)


def session_ended(code: int | None) -> None:
    """A WebSocket session ended with this close code (None: the connection was lost)."""
    SESSIONS.labels(str(code or 1006)).inc()


def rejected(limit: str) -> None:
    """A request or connection was refused at ``limit`` (e.g. ``max_sessions``)."""
    REJECTIONS.labels(limit).inc()


def evicted() -> None:
    """An idle connection was closed to make room at ``--max-clients``."""
    EVICTIONS.inc()


def upstream_opened(conn: Any) -> None:
    """A pool opened a connection to PostgreSQL; it counts until it is closed.

    A session's connection is not counted here: each session holding a slot holds one.
    """
    _opened.add(conn)


def received(size: int) -> None:
    """Bytes arrived from a client."""
    BYTES_RECEIVED.inc(size)


def body_bytes(size: int) -> None:
    """The request body bytes this worker holds right now (see ``buffers.BodyBuffers``)."""
    BODY_BYTES.set(size)


def count_sent(transport: Any) -> None:
    """Count every byte written to this client transport (its write methods, wrapped).

    aiohttp writes HTTP answers and WebSocket frames straight to the transport,
    with no byte count of its own; the transport's instance methods are wrapped.
    """
    write: Callable[[Any], None] = transport.write
    writelines: Callable[[Any], None] = transport.writelines

    def counted_write(data: Any) -> None:
        BYTES_SENT.inc(len(data))
        write(data)

    def counted_writelines(chunks: Any) -> None:
        chunks = list(chunks)
        BYTES_SENT.inc(sum(len(chunk) for chunk in chunks))
        writelines(chunks)

    transport.write = counted_write
    transport.writelines = counted_writelines


def sample(sessions: int, idle: int) -> None:
    """Set this worker's gauges from its state: ``sessions`` open, ``idle`` pooled connections."""
    SESSIONS_OPEN.set(sessions)
    pooled = sum(1 for conn in list(_opened) if not conn.closed)
    UPSTREAM.labels("idle").set(idle)
    UPSTREAM.labels("in_use").set(max(pooled - idle, 0) + sessions)


def exposition() -> bytes:
    """The text format of every worker's metrics (or this process's, with one worker)."""
    if os.environ.get(MULTIPROC_VARIABLE):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters stay in the totals)."""
    if os.environ.get(MULTIPROC_VARIABLE):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def metrics_handler(sample_now: Callable[[], None]) -> Callable[..., Any]:
    """GET /metrics: sample this worker, then answer in Prometheus text format."""

    async def handler(request: web.Request) -> web.Response:
        sample_now()
        response = web.Response(body=exposition())
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        response.headers["Cache-Control"] = "no-store"
        return response

    return handler


def sampler(sample_now: Callable[[], None]) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp cleanup context that samples the gauges every ``SAMPLE_SECONDS``."""

    async def context(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                sample_now()
                await asyncio.sleep(SAMPLE_SECONDS)

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return context
