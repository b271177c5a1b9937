"""Serving the app: logging, the guarded listener, quiet resource errors, signals.

``web.run_app`` would listen with aiohttp's plain protocol factory; the gateway
listens with ``ConnectionGuard`` instead (head deadline, connection cap, frame
gate) and otherwise runs the app the same way: ``AppRunner`` for startup,
graceful shutdown (WebSockets closed with 1001) and cleanup.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import signal
import ssl
import sys
from typing import Any

from aiohttp import web

from .app import build_app
from .config import LISTEN_BACKLOG, GatewayConfig
from .connections import ConnectionGuard
from .log_redaction import install
from .log_tally import Tally
from .state import LOG

SHUTDOWN_SECONDS = 3.0
MAX_DESCRIPTORS = 1 << 20
"""What an unlimited hard descriptor limit is raised to."""
RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
"""What asyncio's accept loop reports when the process or system is out of a resource."""


def configure_logging(level: str) -> None:
    """Log to stderr, every record (aiohttp's, asyncio's, psycopg's) through RedactSecrets."""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install(logging.getLogger().handlers)


def descriptor_limit() -> int:
    """The soft limit on open descriptors, first raised to the hard limit (as Go does).

    The soft limit is often 1024 while the hard one is far higher; the cap on
    client connections is derived from what is left after raising it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = MAX_DESCRIPTORS
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


def quiet_resource_errors(tally: Tally) -> Any:
    """A loop exception handler: EMFILE and friends become one counted line, no traceback.

    asyncio already backs off (it stops accepting for a second), but it reports
    each failed accept, up to the backlog per loop turn, with a traceback.
    """

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
            tally.note(f"{context.get('message', 'out of a resource')} ({exc.strerror})")
            return
        loop.default_exception_handler(context)

    return handle


def tls_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """The listener's TLS (``--tls-cert``/``--tls-key``), or None for plain http/ws.

    TLS 1.2 at least and ALPN ``http/1.1`` only: aiohttp speaks no HTTP/2, so a
    browser must not be offered it. A file that does not load stops the gateway
    at startup with the reason, before it listens.
    """
    if config.tls_cert is None or config.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise SystemExit(
            f"error: cannot load --tls-cert {config.tls_cert} / --tls-key {config.tls_key}: {exc}"
        ) from None
    return context


async def _until_signalled() -> None:
    """Wait for SIGINT or SIGTERM, then put back the handlers that were there before."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])


async def serve(config: GatewayConfig) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(quiet_resource_errors(Tally(LOG, logging.WARNING)))
    runner = web.AppRunner(
        build_app(config),
        access_log=None,
        handler_cancellation=True,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    tls = tls_context(config)
    await runner.setup()
    assert runner.server is not None
    limit = config.client_limit(descriptor_limit())
    guard = ConnectionGuard(runner.server, config, limit)
    listener = await loop.create_server(
        guard,
        config.listen_host,
        config.listen_port,
        backlog=LISTEN_BACKLOG,
        reuse_address=True,
        ssl=tls,
    )
    LOG.info("accepting at most %d client connections at once", limit)
    try:
        await _until_signalled()
    finally:
        listener.close()
        await runner.cleanup()


def run(config: GatewayConfig) -> None:
    """Serve ``config`` on a fresh event loop (the command line's entry point)."""
    asyncio.run(serve(config))
