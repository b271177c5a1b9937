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
import os
import resource
import signal
import socket
import ssl
import sys
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .admin import build_admin_app
from .app import build_app, sampler_of
from .config import LISTEN_BACKLOG, GatewayConfig
from .connections import ConnectionGuard
from .drain import drain, settle
from .log_redaction import install
from .log_tally import Tally
from .state import LOG

SHUTDOWN_SECONDS = 3.0
MAX_DESCRIPTORS = 1 << 20
"""What an unlimited hard descriptor limit is raised to."""
RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
"""What asyncio's accept loop reports when the process or system is out of a resource."""


PARENT_CHECK_SECONDS = 1.0
"""How often a worker checks that its supervisor is still there."""


def configure_logging(level: str, tag: str | None = None) -> None:
    """Log to stderr, every record (aiohttp's, asyncio's, psycopg's) through RedactSecrets.

    ``tag`` (a worker's "worker 2") goes in front of each message.
    """
    prefix = f"{tag}: " if tag else ""
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s %(name)s: {prefix}%(message)s",
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


async def _orphaned(parent: int, stop: asyncio.Event) -> None:
    """Set ``stop`` once the supervisor ``parent`` is gone (the worker is reparented)."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_CHECK_SECONDS)
    LOG.warning("the supervisor (pid %d) is gone; stopping", parent)
    stop.set()


async def _until_signalled(parent: int | None = None) -> None:
    """Wait for SIGINT or SIGTERM (or a worker's supervisor to go), then put back the
    handlers that were there before."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    watch = asyncio.create_task(_orphaned(parent, stop)) if parent else None
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous[sig])


@dataclass
class Sockets:
    """The bound listening sockets: the protocol's, and the admin address's if configured."""

    main: socket.socket
    admin: socket.socket | None = None


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket; ``reuse_port``: one of the workers' (see ``workers``)."""
    return socket.create_server((host, port), backlog=LISTEN_BACKLOG, reuse_port=reuse_port)


def bind_all(config: GatewayConfig, *, reuse_port: bool = False) -> Sockets:
    """Bind ``--listen`` and ``--admin-listen``: an address in use is an error before serving."""
    main = bind(config.listen_host, config.listen_port, reuse_port=reuse_port)
    admin = bind(*config.admin_listen, reuse_port=reuse_port) if config.admin_listen else None
    return Sockets(main, admin)


async def listen(
    guard: ConnectionGuard, sock: socket.socket, tls: ssl.SSLContext | None
) -> asyncio.AbstractServer:
    """Accept protocol connections on ``sock`` through the guard (https/wss with ``tls``)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(guard, sock=sock, backlog=LISTEN_BACKLOG, ssl=tls)


async def start_admin(app: web.Application, sock: socket.socket | None) -> web.AppRunner | None:
    """Serve /metrics, /live and /ready on the admin socket, if there is one."""
    if sock is None:
        return None
    runner = web.AppRunner(build_admin_app(app, sampler_of(app)), access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


async def serve(
    config: GatewayConfig, *, reuse_port: bool = False, parent: int | None = None
) -> None:
    """Serve until SIGINT or SIGTERM (or the supervisor ``parent`` goes), then drain."""
    sockets = bind_all(config, reuse_port=reuse_port)
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
    listener = await listen(guard, sockets.main, tls)
    admin = await start_admin(runner.app, sockets.admin)
    LOG.info("accepting at most %d client connections at once", limit)
    try:
        await _until_signalled(parent)
        await drain(runner, listener, config.shutdown_grace)
    finally:
        listener.close()
        await runner.cleanup()
        if admin is not None:
            await admin.cleanup()
        await settle()


def run(config: GatewayConfig, *, reuse_port: bool = False, parent: int | None = None) -> None:
    """Serve ``config`` on a fresh event loop (the command line's and each worker's)."""
    asyncio.run(serve(config, reuse_port=reuse_port, parent=parent))
