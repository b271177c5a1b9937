"""The admin listener (``--admin-listen``): /metrics, /live and /ready apart from the protocol.

/metrics reveals how the gateway is used (statement counts, sessions, traffic),
so it is served only here, on an address the operator keeps private; /live and
/ready are served on both listeners (a load balancer probes the public one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from .health import READINESS, add_health_routes
from .metrics import METRICS_PATH, metrics_handler
from .state import LOG

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _log_at_debug(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Scrapes and probes come every few seconds: one DEBUG line each, never INFO."""
    started = time.monotonic()
    response = await handler(request)
    elapsed = (time.monotonic() - started) * 1000
    LOG.log(
        logging.DEBUG,
        "admin %s %s %s %.0fms",
        request.method,
        request.path,
        response.status,
        elapsed,
    )
    return response


def build_admin_app(
    gateway_app: web.Application, sample_now: Callable[[], None]
) -> web.Application:
    """The admin application, sharing the gateway's readiness (and its draining flag)."""
    app = web.Application(middlewares=[_log_at_debug])
    add_health_routes(app, gateway_app[READINESS])
    app.router.add_get(METRICS_PATH, metrics_handler(sample_now))
    return app
