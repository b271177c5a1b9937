"""Real servers for tests and benchmarks: a private PostgreSQL and gateway subprocesses.

Plain context managers, so benchmark scripts start exactly what pytest starts:

    with running_postgres() as pg, running_gateway(pg) as gw:
        ...  # gw.connection_string, gw.url, gw.direct_dsn

The PostgreSQL is the gateway's own ``--embedded`` code (initdb in a temp dir,
run as the unprivileged ``postgres`` user when we are root, a free port).
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ppg_edge.gateway.embedded import EmbeddedPostgres, free_port, stop_process

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 20.0
TEST_USER = "ppg_test"
TEST_DATABASE = "ppg_test"


@dataclass
class Postgres:
    """A running private PostgreSQL."""

    host: str
    port: int
    superuser_dsn: str
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


def cli_arguments(options: dict[str, Any]) -> list[str]:
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


def _descriptor_limit(limit: int | None) -> Callable[[], None] | None:
    """A preexec_fn giving the gateway at most ``limit`` open descriptors (None: as ours)."""
    if limit is None:
        return None
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _start(postgres: Postgres, log_path: Path, options: dict[str, Any]) -> tuple[int, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    upstream = options.pop("upstream", None) or f"postgres://{postgres.host}:{postgres.port}"
    fd_limit = options.pop("fd_limit", None)
    for _ in range(3):
        port = free_port()
        cmd = [
            sys.executable,
            "-m",
            "ppg_edge.gateway",
            "--upstream",
            upstream,
            "--listen",
            f"127.0.0.1:{port}",
            *cli_arguments(options),
        ]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                preexec_fn=_descriptor_limit(fd_limit),
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            if port_open(port):
                return port, process
            time.sleep(0.05)
        stop_process(process, signal.SIGTERM, 10)
    raise RuntimeError(f"the gateway did not start; see {log_path}:\n{log_path.read_text()}")


@contextmanager
def running_gateway(
    postgres: Postgres,
    user: str = TEST_USER,
    password: str | None = None,
    database: str = TEST_DATABASE,
    *,
    create_role: bool = True,
    **options: Any,
) -> Iterator[Gateway]:
    """Start ``python -m ppg_edge.gateway`` on a free port in front of ``postgres``.

    With ``create_role`` (the default) the role and database are (re)created
    first; pass ``create_role=False`` and the same credentials to share them.
    The log file is deleted on exit unless ``PPG_EDGE_KEEP_LOGS`` is set;
    ``upstream="postgres://HOST:PORT"`` points the gateway elsewhere (a proxy);
    ``fd_limit=N`` caps its open file descriptors (RLIMIT_NOFILE).
    """
    password = password or secrets.token_urlsafe(12)
    if create_role:
        postgres.create_role_and_database(user, password, database)
    log_dir = Path(tempfile.mkdtemp(prefix="ppg-edge-gateway-"))
    log_path = log_dir / "gateway.log"
    port, process = _start(postgres, log_path, options)
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
        stop_process(process, signal.SIGTERM, 10)
        if not os.environ.get("PPG_EDGE_KEEP_LOGS"):
            shutil.rmtree(log_dir, ignore_errors=True)
