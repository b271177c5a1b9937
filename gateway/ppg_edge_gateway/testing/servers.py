"""A private PostgreSQL and gateway subprocesses, as plain context managers.

Benchmark scripts, the project's fixtures and the pytest plugin start exactly
the same servers:

    with running_postgres() as pg, running_gateway(pg) as gw:
        ...  # gw.connection_string, gw.url, gw.direct_dsn

The PostgreSQL is the gateway's own ``--embedded`` code (initdb in a temp dir,
run as the unprivileged ``postgres`` user when we are root, a free port). The
gateway runs as ``python -m ppg_edge_gateway`` with the folder holding this
``ppg_edge`` first on its ``PYTHONPATH``, so it serves the very code under test.
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..embedded import EmbeddedPostgres, free_port, stop_process


def _driver_origin() -> str:
    """Where ``ppg_edge/__init__.py`` is, found without importing the driver."""
    spec = importlib.util.find_spec("ppg_edge")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("the ppg_edge driver is not installed (pip install ppg-edge)")
    return spec.origin


GATEWAY_ROOT = Path(__file__).resolve().parents[2]
"""The folder holding the ``ppg_edge_gateway`` package: gateway/ of a checkout, or site-packages."""
PACKAGE_ROOT = Path(_driver_origin()).resolve().parents[1]
"""The folder holding the ``ppg_edge`` driver package: a source checkout or site-packages."""

READY_TIMEOUT = 20.0
"""Seconds a gateway subprocess may take to accept connections."""

START_ATTEMPTS = 3
"""Tries on fresh ports: another process may grab a free port before the gateway binds it."""

STOP_TIMEOUT = 10.0
TEST_USER = "ppg_test"
TEST_DATABASE = "ppg_test"
KEEP_LOGS_VARIABLE = "PPG_EDGE_KEEP_LOGS"


@dataclass
class Postgres:
    """A running private PostgreSQL."""

    host: str
    port: int
    superuser_dsn: str = field(repr=False)
    server: EmbeddedPostgres = field(repr=False)

    def dsn(self, user: str, password: str, dbname: str) -> str:
        """A psycopg conninfo over TCP for any role and database."""
        return self.server.conninfo(user, password, dbname)

    def create_role_and_database(self, user: str, password: str, database: str) -> None:
        """A login role (CREATEDB) owning a fresh database."""
        self.server.create_role_and_database(user, password, database)


@dataclass
class Gateway:
    """A gateway subprocess serving one PostgreSQL as (user, password, database)."""

    url: str
    ws_url: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str = ""
    connection_string: str = field(default="", repr=False)
    direct_dsn: str = field(default="", repr=False)
    log_path: Path = field(default_factory=Path)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def log_text(self) -> str:
        """Everything the gateway logged so far."""
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_postgres() -> Iterator[Postgres]:
    """Start a private PostgreSQL; stop it and delete its files on exit."""
    with EmbeddedPostgres() as server:
        yield Postgres(server.host, server.port, server.superuser_conninfo, server)


def cli_arguments(options: Mapping[str, Any]) -> list[str]:
    """``max_body_size=5`` -> ``--max-body-size 5``; lists repeat; True is a bare flag."""
    args: list[str] = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if item is True:
                args.append(flag)
            elif item is not False and item is not None:
                args.extend([flag, str(item)])
    return args


def port_open(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gateway_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The inherited environment plus ``extra``, this gateway and driver first on PYTHONPATH."""
    env = {**os.environ, **(extra or {})}
    first = dict.fromkeys([str(GATEWAY_ROOT), str(PACKAGE_ROOT)])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [*first, env.get("PYTHONPATH")]))
    return env


@dataclass(frozen=True)
class Launch:
    """How a gateway subprocess is started, beyond its CLI options.

    ``env``: variables set on top of the inherited environment; ``popen``:
    further ``subprocess.Popen`` keywords (e.g. ``preexec_fn``); ``args``: raw
    CLI arguments after the ones built from keyword options.
    """

    env: Mapping[str, str] | None = None
    popen: Mapping[str, Any] = field(default_factory=dict)
    args: Sequence[str] = ()


def _start(
    postgres: Postgres, log_path: Path, options: dict[str, Any], launch: Launch = Launch()
) -> tuple[int, subprocess.Popen[bytes]]:
    env = gateway_environment(launch.env)
    upstream = options.pop("upstream", None) or f"postgres://{postgres.host}:{postgres.port}"
    for _ in range(START_ATTEMPTS):
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "ppg_edge_gateway",
            "--upstream",
            upstream,
            "--listen",
            f"127.0.0.1:{port}",
            *cli_arguments(options),
            *launch.args,
        ]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                **launch.popen,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if port_open(port):
                return port, process
            time.sleep(0.05)
        stop_process(process, signal.SIGTERM, STOP_TIMEOUT)
    raise RuntimeError(f"the gateway did not start; see {log_path}:\n{log_path.read_text()}")


@contextmanager
def running_gateway(
    postgres: Postgres,
    user: str = TEST_USER,
    password: str | None = None,
    database: str = TEST_DATABASE,
    *,
    create_role: bool = True,
    env: Mapping[str, str] | None = None,
    popen_options: Mapping[str, Any] | None = None,
    extra_args: Sequence[str] = (),
    **options: Any,
) -> Iterator[Gateway]:
    """Start ``python -m ppg_edge_gateway`` on a free port in front of ``postgres``.

    Keyword ``options`` become CLI flags (``allow_origin=["http://x"]``,
    ``max_sessions=2``); ``upstream="postgres://HOST:PORT"`` points the gateway
    elsewhere (a proxy). ``env``, ``popen_options`` and ``extra_args`` shape the
    subprocess (see :class:`Launch`). With ``create_role`` (the default) the
    role and database are (re)created first; pass ``create_role=False`` and the
    same credentials to share them. The log file is deleted on exit unless
    ``PPG_EDGE_KEEP_LOGS`` is set.
    """
    password = password or secrets.token_urlsafe(12)
    if create_role:
        postgres.create_role_and_database(user, password, database)
    log_dir = Path(tempfile.mkdtemp(prefix="ppg-edge-gateway-"))
    log_path = log_dir / "gateway.log"
    launch = Launch(env, dict(popen_options or {}), tuple(extra_args))
    port, process = _start(postgres, log_path, dict(options), launch)
    try:
        yield Gateway(
            url=f"http://127.0.0.1:{port}",
            ws_url=f"ws://127.0.0.1:{port}",
            port=port,
            user=user,
            password=password,
            database=database,
            connection_string=f"postgres://{user}:{password}@127.0.0.1:{port}/{database}",
            direct_dsn=postgres.dsn(user, password, database),
            log_path=log_path,
            process=process,
        )
    finally:
        stop_process(process, signal.SIGTERM, STOP_TIMEOUT)
        if not os.environ.get(KEEP_LOGS_VARIABLE):
            shutil.rmtree(log_dir, ignore_errors=True)
