"""The gateway's command line and configuration."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .driver_wheel import WheelNotFound, find_wheel

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_MAX_BODY = 64 * 1024 * 1024
MAX_TIMEOUT_SECONDS = 2_147_483.647
"""PostgreSQL's largest ``statement_timeout`` (INT_MAX milliseconds)."""
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DEFAULT_LOGIN_LIFETIME = 30.0
"""Seconds a pooled login serves HTTP statements before the next one logs in afresh."""
DEFAULT_AUTH_TIMEOUT = 5.0
"""Seconds a new WebSocket has to send its auth message (``--auth-timeout``)."""
DEFAULT_HEADER_TIMEOUT = 10.0
"""Seconds a client has to send a whole request head (``--header-timeout``)."""
DEFAULT_BODY_TIMEOUT = 60.0
"""Seconds an HTTP statement has to send its whole body once logged in (``--body-timeout``)."""
DEFAULT_HEARTBEAT = 20.0
"""WebSocket ping interval and TCP keep-alive idle time; a dead peer is found within 1.5x."""
DEFAULT_MAX_UNAUTHENTICATED = 256
"""WebSockets that may wait for their auth message at once (``--max-unauthenticated``)."""
MAX_AUTH_MESSAGE = 64 * 1024
"""Largest WebSocket auth message: an unauthenticated socket never buffers more."""
KEEPALIVE_TIMEOUT = 75.0
"""How long an idle keep-alive HTTP connection (no byte of a next request) stays open."""
LISTEN_BACKLOG = 128
ENV_PREFIX = "PPG_EDGE_GATEWAY_"
"""Every flag ``--foo-bar`` may come from ``PPG_EDGE_GATEWAY_FOO_BAR``; a flag given wins."""
ENV_TRUE = ("1", "true", "yes", "on")
ENV_FALSE = ("", "0", "false", "no", "off")
FD_RESERVE = 64 + 3 * LISTEN_BACKLOG
"""Descriptors kept free of client connections: logs, the listener, idle upstream
connections, and accept bursts (asyncio accepts up to the backlog per loop turn and
closes refused or evicted sockets a turn or two later)."""
READY_CACHE_SECONDS = 1.0
"""How long ``/ready`` reuses its last PostgreSQL ping (probes never hammer PostgreSQL)."""
DEFAULT_SHUTDOWN_GRACE = 30.0
"""Seconds a SIGTERM leaves in-flight statements and sessions to finish (``--shutdown-grace``)."""
DEFAULT_WORKERS = 1


@dataclass
class GatewayConfig:
    """Everything the server needs; the upstream address comes only from here."""

    upstream_host: str = DEFAULT_HOST
    upstream_port: int = 5432
    upstream_sslmode: str = "prefer"
    listen_host: str = DEFAULT_HOST
    listen_port: int = DEFAULT_PORT
    embedded: bool = False
    static_dir: Path | None = None
    allow_origins: list[str] = field(default_factory=list)
    max_body_size: int = DEFAULT_MAX_BODY
    max_buffered_bytes: int = 4 * DEFAULT_MAX_BODY
    max_sessions: int = 100
    max_connections: int = 100
    queue_timeout: float = 30.0
    statement_timeout: float = 0.0
    idle_timeout: float = 300.0
    auth_timeout: float = DEFAULT_AUTH_TIMEOUT
    default_database: str | None = None
    log_level: str = "INFO"
    login_lifetime: float = DEFAULT_LOGIN_LIFETIME
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    heartbeat: float = DEFAULT_HEARTBEAT
    max_unauthenticated: int = DEFAULT_MAX_UNAUTHENTICATED
    max_clients: int | None = None
    """None: derived from the descriptor limit, see ``client_limit``."""
    admin_listen: tuple[str, int] | None = None
    """Where /metrics, /live and /ready are served apart from the protocol (``--admin-listen``)."""
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    workers: int = DEFAULT_WORKERS
    tls_cert: Path | None = None
    """PEM certificate chain: the listener speaks https/wss (with ``tls_key``)."""
    tls_key: Path | None = None

    @property
    def scheme(self) -> str:
        """``https`` when the gateway terminates TLS itself, else ``http``."""
        return "https" if self.tls_cert else "http"

    wheel: Path | None = None
    """The driver wheel served at /v0/wheel (``--wheel``; see driver_wheel.py); None: none."""

    def cors_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for this Origin, or None if not allowed."""
        if origin is None or not self.allow_origins:
            return None
        if "*" in self.allow_origins:
            return "*"
        return origin if origin in self.allow_origins else None

    def origin_refused(self, origin: str | None) -> bool:
        """True when an allow-list is configured and this browser Origin is not on it."""
        return origin is not None and bool(self.allow_origins) and self.cors_origin(origin) is None

    def client_limit(self, descriptors: int) -> int:
        """Concurrent client connections: ``--max-clients`` or what ``descriptors`` allow.

        Each client may hold one upstream connection (at most one per HTTP
        statement or session), so the derived cap keeps clients plus their
        upstream connections plus ``FD_RESERVE`` under the descriptor limit:
        accepting then never fails with EMFILE.
        """
        if self.max_clients is not None:
            return self.max_clients
        usable = descriptors - FD_RESERVE
        upstream = self.max_connections + self.max_sessions
        return max(usable // 2, usable - upstream, 1)


def _host_port(value: str, default_port: int) -> tuple[str, int]:
    parts = urlsplit(value if "//" in value else f"//{value}")
    try:
        port = parts.port
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {value!r}") from None
    if not parts.hostname:
        raise argparse.ArgumentTypeError(f"no host in {value!r}")
    return parts.hostname, port or default_port


def _upstream(value: str) -> tuple[str, int, str]:
    parts = urlsplit(value)
    if parts.scheme not in ("postgres", "postgresql"):
        raise argparse.ArgumentTypeError("--upstream must look like postgres://HOST:PORT")
    sslmode = parse_qs(parts.query).get("sslmode", ["prefer"])[-1]
    if sslmode not in SSL_MODES:
        raise argparse.ArgumentTypeError(f"sslmode must be one of {', '.join(SSL_MODES)}")
    host, port = _host_port(value, 5432)
    return host, port, sslmode


def _listen(value: str) -> tuple[str, int]:
    return _host_port(value, DEFAULT_PORT)


def _admin(value: str) -> tuple[str, int]:
    """An admin address needs its port spelled out (no default to collide with --listen)."""
    host, port = _host_port(value, 0)
    if not port:
        raise argparse.ArgumentTypeError(f"--admin-listen needs HOST:PORT, got {value!r}")
    return host, port


def _size(value: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    number, unit = (value[:-1], value[-1].lower()) if value[-1:].lower() in units else (value, "")
    try:
        size = int(number) * units.get(unit, 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {value!r} (e.g. 1048576, 512k, 64m)") from None
    if size <= 0:
        raise argparse.ArgumentTypeError("size must be positive")
    return size


def _count(value: str) -> int:
    """A positive whole number (a limit of zero or less would refuse everything)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad number {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value!r}")
    return number


def _seconds(value: str, *, zero: bool) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad number of seconds {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not zero):
        least = "0 or more" if zero else "more than 0"
        raise argparse.ArgumentTypeError(f"must be {least} seconds, got {value!r}")
    if seconds > MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TIMEOUT_SECONDS:g} seconds")
    return seconds


def _timeout(value: str) -> float:
    """Seconds, 0 meaning none."""
    return _seconds(value, zero=True)


def _wait(value: str) -> float:
    """Seconds, strictly positive."""
    return _seconds(value, zero=False)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ppg_edge_gateway`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m ppg_edge_gateway",
        description="Serve the Prisma Postgres serverless protocol in front of PostgreSQL.",
        epilog=f"Every flag --foo-bar may also come from the environment variable "
        f"{ENV_PREFIX}FOO_BAR (a flag given on the command line wins; for a bare flag "
        f"1/true/yes/on sets it; a repeatable flag takes a comma-separated list).",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--upstream",
        type=_upstream,
        metavar="postgres://HOST:PORT",
        help="the PostgreSQL to serve; ?sslmode=MODE allowed (credentials come from clients)",
    )
    source.add_argument(
        "--embedded",
        action="store_true",
        help="start a private PostgreSQL and print a ready connection string",
    )
    parser.add_argument(
        "--listen",
        type=_listen,
        default=(DEFAULT_HOST, DEFAULT_PORT),
        metavar="HOST:PORT",
        help="address to serve on (default 127.0.0.1:8787)",
    )
    parser.add_argument("--static", type=Path, metavar="DIR", help="also serve this folder at /")
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed by CORS and for WebSockets (repeatable; *)",
    )
    parser.add_argument(
        "--max-body-size",
        type=_size,
        default=DEFAULT_MAX_BODY,
        metavar="BYTES",
        help="largest request body and WebSocket message (default 64m)",
    )
    parser.add_argument(
        "--max-buffered-bytes",
        type=_size,
        metavar="BYTES",
        help="request body bytes held at once by all HTTP statements; more get 503 "
        "(default 4 x --max-body-size)",
    )
    parser.add_argument(
        "--max-sessions",
        type=_count,
        default=100,
        help="concurrent WebSocket sessions (default 100)",
    )
    parser.add_argument(
        "--max-connections",
        type=_count,
        default=100,
        help="concurrent HTTP statements, each on one upstream connection",
    )
    parser.add_argument(
        "--queue-timeout",
        type=_wait,
        default=30.0,
        metavar="SECONDS",
        help="how long an HTTP statement waits for a free connection before 503 (default 30)",
    )
    parser.add_argument(
        "--statement-timeout",
        type=_timeout,
        default=0.0,
        metavar="SECONDS",
        help="PostgreSQL statement_timeout for every session (0: none)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_timeout,
        default=300.0,
        metavar="SECONDS",
        help="close a WebSocket session idle this long (0: never; default 300)",
    )
    parser.add_argument(
        "--default-database",
        metavar="NAME",
        help="database when a request has no db parameter (default: user name)",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument(
        "--login-lifetime",
        type=_wait,
        default=DEFAULT_LOGIN_LIFETIME,
        metavar="SECONDS",
        help="how long a pooled HTTP login is reused before logging in again, so a changed "
        f"password or NOLOGIN takes effect (default {DEFAULT_LOGIN_LIFETIME:g})",
    )
    _add_transport_arguments(parser)
    _add_operations_arguments(parser)
    _add_tls_arguments(parser)
    _add_wheel_arguments(parser)
    return parser


def _add_transport_arguments(parser: argparse.ArgumentParser) -> None:
    """Bounds on what unauthenticated or stalled clients may hold (timeouts, counts)."""
    parser.add_argument(
        "--auth-timeout",
        type=_wait,
        default=DEFAULT_AUTH_TIMEOUT,
        metavar="SECONDS",
        help="close a WebSocket that sent no auth message by then (1008) "
        f"(default {DEFAULT_AUTH_TIMEOUT:g})",
    )
    parser.add_argument(
        "--header-timeout",
        type=_wait,
        default=DEFAULT_HEADER_TIMEOUT,
        metavar="SECONDS",
        help="answer 408 and close when a request head is not in by then "
        f"(default {DEFAULT_HEADER_TIMEOUT:g})",
    )
    parser.add_argument(
        "--body-timeout",
        type=_wait,
        default=DEFAULT_BODY_TIMEOUT,
        metavar="SECONDS",
        help="answer 408 when a statement's body is not in by then, counted from its login "
        f"(default {DEFAULT_BODY_TIMEOUT:g})",
    )
    parser.add_argument(
        "--heartbeat",
        type=_timeout,
        default=DEFAULT_HEARTBEAT,
        metavar="SECONDS",
        help="WebSocket ping interval and TCP keep-alive idle time; 0: off "
        f"(default {DEFAULT_HEARTBEAT:g})",
    )
    parser.add_argument(
        "--max-unauthenticated",
        type=_count,
        default=DEFAULT_MAX_UNAUTHENTICATED,
        metavar="N",
        help="WebSockets waiting for their auth message at once; more are closed with 1013 "
        f"(default {DEFAULT_MAX_UNAUTHENTICATED})",
    )
    parser.add_argument(
        "--max-clients",
        type=_count,
        metavar="N",
        help="concurrent client connections (default: derived from the descriptor limit)",
    )


def _add_operations_arguments(parser: argparse.ArgumentParser) -> None:
    """Running in production: processes, the admin address, shutdown."""
    parser.add_argument(
        "--workers",
        type=_count,
        default=DEFAULT_WORKERS,
        metavar="N",
        help="worker processes serving one address (SO_REUSEPORT); limits apply per worker "
        f"(default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--admin-listen",
        type=_admin,
        metavar="HOST:PORT",
        help="also serve /metrics, /live and /ready here (/metrics is served only here)",
    )
    parser.add_argument(
        "--shutdown-grace",
        type=_timeout,
        default=DEFAULT_SHUTDOWN_GRACE,
        metavar="SECONDS",
        help="after SIGTERM, how long in-flight statements and sessions may finish "
        f"(default {DEFAULT_SHUTDOWN_GRACE:g})",
    )


def _add_tls_arguments(parser: argparse.ArgumentParser) -> None:
    """TLS terminated by the gateway itself, for clients that reach it without a proxy."""
    parser.add_argument(
        "--tls-cert",
        type=_readable_file,
        metavar="FILE",
        help="PEM certificate chain: serve https and wss (needs --tls-key)",
    )
    parser.add_argument(
        "--tls-key",
        type=_readable_file,
        metavar="FILE",
        help="PEM private key of --tls-cert (unencrypted)",
    )


def _readable_file(value: str) -> Path:
    path = Path(value)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"no readable file {value!r}")
    return path


def environment_arguments(
    parser: argparse.ArgumentParser, argv: Sequence[str], environ: Mapping[str, str]
) -> list[str]:
    """Command-line arguments from ``PPG_EDGE_GATEWAY_*`` variables, placed before ``argv``.

    One mechanism for every flag, so a new flag is configurable by environment
    the day it exists. A variable is skipped when its flag (or a flag it
    excludes) is on the command line: the command line wins, also for
    repeatable flags and for ``--upstream`` / ``--embedded``.
    """
    given = {arg.split("=", 1)[0] for arg in argv if arg.startswith("--")}
    known = {_variable(flag) for action in parser._actions for flag in action.option_strings}
    unknown = sorted(name for name in environ if name.startswith(ENV_PREFIX) and name not in known)
    if unknown:  # a misspelt variable would otherwise be silently without effect
        parser.error(f"unknown variable {', '.join(unknown)} (no such flag)")
    args: list[str] = []
    for action in parser._actions:
        flags = [option for option in action.option_strings if option.startswith("--")]
        if not flags or action.dest == "help":
            continue
        name = _variable(flags[0])
        value = environ.get(name)
        if value is None or given & set(_rivals(parser, action)):
            continue
        args.extend(_from_environment(parser, action, flags[0], name, value))
    return args


def _variable(flag: str) -> str:
    """``--foo-bar`` -> ``PPG_EDGE_GATEWAY_FOO_BAR``."""
    return ENV_PREFIX + flag.lstrip("-").upper().replace("-", "_")


def _rivals(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    """The action's own flags and those of every flag it is mutually exclusive with."""
    rivals = list(action.option_strings)
    for group in parser._mutually_exclusive_groups:
        if action in group._group_actions:
            rivals += [flag for other in group._group_actions for flag in other.option_strings]
    return rivals


def _from_environment(
    parser: argparse.ArgumentParser, action: argparse.Action, flag: str, name: str, value: str
) -> list[str]:
    """One variable as arguments, its values checked here so the error names the variable."""
    if action.nargs == 0:
        if value.strip().lower() in ENV_TRUE:
            return [flag]
        if value.strip().lower() in ENV_FALSE:
            return []
        parser.error(f"{name}={value!r}: expected one of {', '.join(ENV_TRUE + ENV_FALSE[1:])}")
    repeatable = isinstance(action.default, list)
    items = [item.strip() for item in value.split(",")] if repeatable else [value]
    args: list[str] = []
    for item in filter(None, items):
        if callable(action.type):
            try:
                action.type(item)
            except (argparse.ArgumentTypeError, ValueError) as exc:
                parser.error(f"{name}={item!r}: {exc}")
        args.append(f"{flag}={item}")
    return args


def parse_config(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Parse ``PPG_EDGE_GATEWAY_*`` variables and the command line into a GatewayConfig."""
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = os.environ if environ is None else environ
    args = parser.parse_args([*environment_arguments(parser, argv, environ), *argv])
    if (args.tls_cert is None) != (args.tls_key is None):
        parser.error("--tls-cert and --tls-key go together")
    buffered = args.max_buffered_bytes or 4 * args.max_body_size
    if buffered < args.max_body_size:
        parser.error("--max-buffered-bytes must be at least --max-body-size")
    config = GatewayConfig(
        embedded=args.embedded,
        listen_host=args.listen[0],
        listen_port=args.listen[1],
        static_dir=args.static,
        allow_origins=args.allow_origin,
        max_body_size=args.max_body_size,
        max_buffered_bytes=buffered,
        max_sessions=args.max_sessions,
        max_connections=args.max_connections,
        queue_timeout=args.queue_timeout,
        statement_timeout=args.statement_timeout,
        idle_timeout=args.idle_timeout,
        default_database=args.default_database,
        log_level=args.log_level.upper(),
    )
    config.login_lifetime = args.login_lifetime
    config.auth_timeout = args.auth_timeout
    config.header_timeout = args.header_timeout
    config.body_timeout = args.body_timeout
    config.heartbeat = args.heartbeat
    config.max_unauthenticated = args.max_unauthenticated
    config.max_clients = args.max_clients
    config.admin_listen = args.admin_listen
    config.shutdown_grace = args.shutdown_grace
    config.workers = args.workers
    if config.admin_listen == (config.listen_host, config.listen_port):
        parser.error("--admin-listen must differ from --listen")
    config.tls_cert, config.tls_key = args.tls_cert, args.tls_key
    config.wheel = None if args.no_wheel else args.wheel
    if args.upstream:
        config.upstream_host, config.upstream_port, config.upstream_sslmode = args.upstream
    return config


def _wheel(value: str) -> Path:
    """A ppg_edge wheel, or a folder with exactly one: checked at start-up, not at first GET."""
    try:
        return find_wheel(Path(value))
    except WheelNotFound as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_wheel_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the driver wheel served at /v0/wheel comes from (see driver_wheel.py)."""
    wheel = parser.add_mutually_exclusive_group()
    wheel.add_argument(
        "--wheel",
        type=_wheel,
        metavar="PATH",
        help="driver wheel (or a folder with one ppg_edge-*-py3-none-any.whl) served at "
        "/v0/wheel/<file name> with CORS (default: none)",
    )
    wheel.add_argument(
        "--no-wheel", action="store_true", help="serve no wheel (/v0/wheel answers 404)"
    )
