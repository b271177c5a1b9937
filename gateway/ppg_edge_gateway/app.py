"""The aiohttp application: routes, CORS, plain-text errors and one log line per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import mimetypes
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import WSCloseCode, web

from ppg_edge.core.protocol import SESSION_PATH, STATEMENT_PATH

from . import metrics
from .buffers import BodyBuffers
from .config import GatewayConfig
from .drain import IN_FLIGHT, InFlight, count_in_flight
from .errors import (
    AuthenticationFailed,
    BodyTooLarge,
    GatewayBusy,
    ProtocolViolation,
    UpstreamUnavailable,
)
from .health import HEALTH_PATHS, Readiness, add_health_routes, ping_conninfo
from .http_statement import ANSWERED, BodyTimedOut, statement_handler
from .state import GATEWAY, LOG, LOG_DATABASE, LOG_USER, LOGGED, Gateway
from .upstream import Pools, Upstream
from .wheel_route import add_wheel_routes
from .wire_text import safe_text
from .ws_session import UNAUTHENTICATED, session_handler

SWEEP_SECONDS = 10.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLIENT_CLOSED_STATUS = 499
"""Logged (never sent) for a request cancelled because its client went away."""
STATIC_TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".whl": "application/zip",
    ".json": "application/json",
    ".zip": "application/zip",
    ".tar": "application/x-tar",
    ".html": "text/html",
    ".css": "text/css",
}


def _plain(status: int, message: str) -> web.Response:
    """A plain-text answer; ``message`` may quote client text, so it is made encodable."""
    return web.Response(status=status, text=safe_text(message) + "\n", content_type="text/plain")


REJECTED_BY: dict[type[Exception], str] = {
    BodyTooLarge: "max_body_size",
    BodyTimedOut: "body_timeout",
    GatewayBusy: "max_buffered_bytes",
}
"""Refusals at a limit, counted in ``ppg_edge_gateway_rejections_total`` by limit."""


def _error_response(exc: Exception) -> web.Response:
    limit = REJECTED_BY.get(type(exc))
    if limit is not None:
        metrics.rejected(limit)
    if isinstance(exc, AuthenticationFailed):
        return _plain(401, f"authentication failed: {exc}")
    if isinstance(exc, BodyTooLarge):
        return _plain(413, str(exc))
    if isinstance(exc, BodyTimedOut):
        return _plain(408, str(exc))
    if isinstance(exc, ProtocolViolation):
        return _plain(400, f"bad request: {exc}")
    if isinstance(exc, GatewayBusy):
        return _plain(503, str(exc))
    if isinstance(exc, UpstreamUnavailable):
        return _plain(exc.status, str(exc))
    if isinstance(exc, web.HTTPException):
        text = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else exc.reason
        if exc.status == 404:
            text = "unknown path"
        return _plain(exc.status, f"{exc.status} {text}")
    LOG.exception("unexpected gateway error")
    return _plain(500, "internal gateway error")


@web.middleware
async def errors_and_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map failures to plain-text answers and log one line per HTTP request."""
    started = time.monotonic()
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        if not request.get(LOGGED):
            answered = request.get(ANSWERED)
            note = "client closed after its answer" if answered else "client went away"
            request["ppg_edge.note"] = request.get("ppg_edge.note") or note
            _log_request(request, answered or CLIENT_CLOSED_STATUS, started)
        raise
    except Exception as exc:
        response = _error_response(exc)
        if request.method == "POST" and not request.content.at_eof():
            response.force_close()
    if request.path != SESSION_PATH or response.status != 101:
        _log_request(request, response.status, started)
    return response


def _log_request(request: web.Request, status: int, started: float) -> None:
    """The request's log line, and its count and time in the metrics if it was a statement."""
    elapsed = (time.monotonic() - started) * 1000
    if request.path == STATEMENT_PATH and request.method == "POST":
        metrics.http_answered(status, elapsed / 1000)
    note = request.get("ppg_edge.note", "")
    # Probes come every few seconds: at INFO they would drown the requests that matter.
    level = logging.DEBUG if request.path in HEALTH_PATHS else logging.INFO
    LOG.log(
        level,
        "%s %s %s user=%s db=%s %s %.0fms %s",
        request.method,
        request.path,
        status,
        request.get(LOG_USER, "-"),
        request.get(LOG_DATABASE) or "-",
        request.remote,
        elapsed,
        note,
    )


async def _add_cors(request: web.Request, response: web.StreamResponse) -> None:
    """CORS headers on every /v0/statement answer, streamed ones included."""
    if request.path != STATEMENT_PATH:
        return
    allowed = request.app[GATEWAY].config.cors_origin(request.headers.get("Origin"))
    if allowed is not None:
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.headers["Vary"] = "Origin"


async def preflight(request: web.Request) -> web.Response:
    """Answer a CORS preflight, naming Authorization and Content-Type explicitly."""
    config = request.app[GATEWAY].config
    origin = request.headers.get("Origin")
    if config.origin_refused(origin):
        return _plain(403, "origin not allowed")
    response = web.Response(status=204)
    if config.cors_origin(origin) is not None:
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def _static_handler(root: Path) -> Handler:
    base = root.resolve()

    async def serve(request: web.Request) -> web.StreamResponse:
        target = (base / request.match_info["tail"]).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(base) or not target.is_file():
            raise web.HTTPNotFound()
        content_type = STATIC_TYPES.get(target.suffix.lower())
        response = web.FileResponse(target)
        if content_type:
            response.content_type = content_type
        return response

    return serve


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    """Close expired idle upstream connections every few seconds."""
    pools = app[GATEWAY].pools

    async def loop() -> None:
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            await pools.sweep()

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _shutdown(app: web.Application) -> None:
    """Whatever socket the drain left (none after a SIGTERM): 1012, the service restarts."""
    for ws in [*app[GATEWAY].sessions, *app[UNAUTHENTICATED]]:
        await ws.close(code=WSCloseCode.SERVICE_RESTART, message=b"gateway shutting down")


def sampler_of(app: web.Application) -> Callable[[], None]:
    """Set this worker's metric gauges from the gateway's state (sessions, pools)."""
    gateway = app[GATEWAY]

    def sample_now() -> None:
        metrics.sample(len(gateway.sessions), gateway.pools.idle_count())

    return sample_now


async def _cleanup(app: web.Application) -> None:
    await app[GATEWAY].pools.close()


def build_app(config: GatewayConfig, readiness: Readiness | None = None) -> web.Application:
    """The gateway as an aiohttp application (used by the CLI and in-process).

    ``readiness`` is shared with the admin listener and the drain (a fresh one if None).
    """
    for suffix, content_type in STATIC_TYPES.items():
        mimetypes.add_type(content_type, suffix)
    upstream = Upstream(
        config.upstream_host,
        config.upstream_port,
        math.ceil(config.statement_timeout * 1000),
        config.upstream_sslmode,
    )
    app = web.Application(
        middlewares=[count_in_flight, errors_and_log], client_max_size=config.max_body_size
    )
    app[IN_FLIGHT] = InFlight()
    pools = Pools(
        upstream,
        config.max_connections,
        wait_seconds=config.queue_timeout,
        login_lifetime=config.login_lifetime,
    )
    app[GATEWAY] = Gateway(config, upstream, pools, BodyBuffers(config.max_buffered_bytes))
    app[UNAUTHENTICATED] = set()
    app.router.add_post(STATEMENT_PATH, statement_handler)
    app.router.add_route("OPTIONS", STATEMENT_PATH, preflight)
    app.router.add_get(SESSION_PATH, session_handler)
    add_wheel_routes(app, config)
    add_health_routes(app, readiness or Readiness(ping_conninfo(config)))
    if config.static_dir is not None:
        app.router.add_get("/{tail:.*}", _static_handler(config.static_dir))
    app.on_response_prepare.append(_add_cors)
    app.cleanup_ctx.append(_sweeper)
    app.cleanup_ctx.append(metrics.sampler(sampler_of(app)))
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)
    return app
