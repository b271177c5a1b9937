"""``python -m ppg_edge_gateway``: serve the protocol (optionally with an embedded PostgreSQL)."""

from __future__ import annotations

import logging
import secrets
import signal
import sys
from pathlib import Path
from types import FrameType
from urllib.parse import urlencode

from .config import GatewayConfig, parse_config
from .embedded import EmbeddedPostgres, EmbeddedUnavailable
from .server import configure_logging, run
from .workers import supervise

EMBEDDED_USER = "ppg"
EMBEDDED_DATABASE = "ppg"
WEB_DEMO_MANIFEST = Path("vendor") / "manifest.json"


def _banner(config: GatewayConfig, password: str) -> str:
    endpoint = f"{config.scheme}://{config.listen_host}:{config.listen_port}"
    url = (
        f"postgres://{EMBEDDED_USER}:{password}@{config.listen_host}:{config.listen_port}"
        f"/{EMBEDDED_DATABASE}"
    )
    return (
        f"Embedded PostgreSQL on {config.upstream_host}:{config.upstream_port}\n"
        f"Gateway endpoint: {endpoint}\n"
        f"Connection string: {url}\n"
        f'Use it with ppg_edge.connect("{url}", endpoint="{endpoint}")\n'
    )


def web_demo_line(demo: Path, config: GatewayConfig, password: str) -> str | None:
    """The banner line about the web demo in ``demo``, or None when there is no demo.

    Its URL carries the login in the fragment, which browsers never send: the
    page pre-fills its connection form from it.
    """
    if not demo.is_dir():
        return None
    if not (demo / WEB_DEMO_MANIFEST).is_file():
        return 'Web demo: run "python scripts/build_web_demo.py" first'
    fragment = urlencode(
        {"user": EMBEDDED_USER, "password": password, "database": EMBEDDED_DATABASE}
    )
    return f"Web demo: {config.scheme}://{config.listen_host}:{config.listen_port}/#{fragment}"


def _web_demo(config: GatewayConfig, password: str) -> str | None:
    """The web demo line for the ``--static`` folder, if one is given.

    An installed gateway knows no source checkout: the demo is served only when
    named (``make demo`` passes the repository's demo folder to ``--static``).
    """
    if config.static_dir is None:
        return None
    return web_demo_line(config.static_dir, config, password)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before the server runs: unwind like Ctrl-C so PostgreSQL gets stopped."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, start what is needed, serve until SIGINT/SIGTERM."""
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return 130


def _serve(config: GatewayConfig) -> int:
    """Serve in this process, or supervise ``--workers`` processes; the exit status."""
    if config.workers > 1:
        return supervise(config)
    run(config)
    return 0


def _main(argv: list[str] | None) -> int:
    config = parse_config(argv)
    configure_logging(config.log_level)
    log = logging.getLogger("ppg_edge_gateway")
    if not config.embedded:
        log.info(
            "serving %s://%s:%d -> postgres %s:%d",
            config.scheme,
            config.listen_host,
            config.listen_port,
            config.upstream_host,
            config.upstream_port,
        )
        return _serve(config)
    try:
        postgres = EmbeddedPostgres().start()
    except EmbeddedUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        password = secrets.token_urlsafe(12)
        postgres.create_role_and_database(EMBEDDED_USER, password, EMBEDDED_DATABASE)
        config.upstream_host, config.upstream_port = postgres.host, postgres.port
        demo = _web_demo(config, password)
        banner = _banner(config, password) + (f"{demo}\n" if demo else "")
        print(banner, flush=True)
        return _serve(config)
    finally:
        postgres.stop()


if __name__ == "__main__":
    sys.exit(main())
