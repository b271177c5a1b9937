"""Debian's ``pgbouncer`` and ``haproxy`` as subprocesses on free 127.0.0.1 ports.

Each gets a generated configuration in a temp folder and runs in the
foreground (stopped by PID on exit). PgBouncer refuses to run as root, so as
root it runs as the account PostgreSQL runs as (``postgres``), like
``ppg_edge_gateway.embedded`` does for the server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ppg_edge_gateway.embedded import free_port, stop_process
from tests.support.servers import Postgres, port_open

READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError(f"{name} is not installed: apt-get install {name} (make setup does)")
    return found


def _account() -> pwd.struct_passwd | None:
    """As root, the unprivileged account to run as; else None (run as ourselves)."""
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else None


@contextmanager
def _running(
    cmd: list[str], folder: Path, port: int, name: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd``, wait until ``port`` accepts, stop it and remove ``folder`` on exit."""
    account = _account()
    run_as: dict[str, Any] = {}
    if account is not None and name == "pgbouncer":
        run_as = {"user": account.pw_uid, "group": account.pw_gid}
    log_path = folder / f"{name}.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            cmd, cwd=folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            **run_as,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_open(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.05)
        yield process
    finally:
        stop_process(process, signal.SIGTERM, STOP_TIMEOUT)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class PgBouncer:
    """A running PgBouncer: ``port``, and its databases' pool modes."""

    port: int
    pools: Mapping[str, str]
    process: subprocess.Popen[bytes]

    @property
    def upstream(self) -> str:
        """The gateway's ``--upstream`` pointing at this PgBouncer."""
        return f"postgres://127.0.0.1:{self.port}"


def scram_secret(postgres: Postgres, user: str) -> str:
    """The role's stored SCRAM secret: PgBouncer's auth_file then logs in to PostgreSQL too."""
    with psycopg.connect(postgres.server.superuser_conninfo, autocommit=True) as conn:
        query = "SELECT rolpassword FROM pg_authid WHERE rolname = %s"
        row = conn.execute(query, [user]).fetchone()
    assert row is not None and str(row[0]).startswith("SCRAM-SHA-256$"), "no SCRAM secret"
    return str(row[0])


@dataclass(frozen=True)
class Pool:
    """One PgBouncer database entry onto the test database.

    ``settings``: ask the server for the gateway's session settings in the
    entry itself (``timezone=``, ``datestyle=``), since PgBouncer drops the
    ``options`` startup parameter that carries them (``ignore_startup_parameters``).
    """

    mode: str
    size: int
    settings: bool = True

    def entry(self, postgres: Postgres, database: str) -> str:
        asked = " timezone=UTC datestyle=ISO" if self.settings else ""
        return (
            f"host={postgres.host} port={postgres.port} dbname={database} "
            f"pool_mode={self.mode} pool_size={self.size}{asked}"
        )


def pgbouncer_ini(postgres: Postgres, database: str, pools: Mapping[str, Pool], port: int) -> str:
    """``pools``: PgBouncer database name -> its pool, all onto ``database``."""
    entries = "\n".join(
        f"{name} = {pool.entry(postgres, database)}" for name, pool in pools.items()
    )
    return f"""[databases]
{entries}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = userlist.txt
max_client_conn = 500
server_reset_query = DISCARD ALL
server_reset_query_always = 1
ignore_startup_parameters = options
server_login_retry = 1
query_wait_timeout = 30
"""


@contextmanager
def running_pgbouncer(
    postgres: Postgres,
    user: str,
    database: str,
    pools: Mapping[str, Pool],
    configuration: Callable[[int], str] | None = None,
) -> Iterator[PgBouncer]:
    """PgBouncer in front of ``postgres``, one pool per entry of ``pools``, SCRAM auth.

    ``configuration(port)``: the whole pgbouncer.ini instead of the generated one
    (its ``auth_file`` must be ``userlist.txt``); ``pools`` then only names its modes.
    """
    program = _program("pgbouncer")
    folder = Path(tempfile.mkdtemp(prefix="ppg-edge-pgbouncer-"))
    port = free_port()
    generated = pgbouncer_ini(postgres, database, pools, port)
    (folder / "pgbouncer.ini").write_text(configuration(port) if configuration else generated)
    (folder / "userlist.txt").write_text(f'"{user}" "{scram_secret(postgres, user)}"\n')
    account = _account()
    if account is not None:
        for path in (folder, *folder.iterdir()):
            os.chown(path, account.pw_uid, account.pw_gid)
    (folder / "userlist.txt").chmod(0o600)
    with _running([program, "pgbouncer.ini"], folder, port, "pgbouncer") as process:
        yield PgBouncer(port, {name: pool.mode for name, pool in pools.items()}, process)


@dataclass
class LoadBalancer:
    """A running HAProxy in front of gateways: its ``url`` and ``ws_url``."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


HEALTH_INTERVAL_MS = 500
"""How often HAProxy checks each gateway; one failed check takes it out."""


def haproxy_cfg(port: int, backends: list[int], tls_pem: Path | None = None) -> str:
    """Round robin over ``backends`` (gateway ports), HTTP mode (WebSockets tunnel through).

    ``retries`` with ``redispatch`` re-sends a request only when connecting to a
    gateway failed (HAProxy's default ``retry-on conn-failure``): a request a
    gateway received is never replayed, so a statement is never run twice.
    ``tls_pem`` (certificate chain and key in one file): HAProxy terminates TLS.
    """
    tls = f" ssl crt {tls_pem} alpn http/1.1" if tls_pem else ""
    servers = "\n".join(
        f"    server g{i} 127.0.0.1:{backend} check inter {HEALTH_INTERVAL_MS}ms fall 1 rise 1"
        for i, backend in enumerate(backends)
    )
    return f"""global
    maxconn 1000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-keep-alive 10s
    retries 3
    option redispatch

frontend gateways
    bind 127.0.0.1:{port}{tls}
    default_backend gateways

backend gateways
    balance roundrobin
{servers}
"""


@contextmanager
def running_haproxy(backends: list[int], tls_pem: Path | None = None) -> Iterator[LoadBalancer]:
    """HAProxy on a free port, balancing over the gateways listening on ``backends``."""
    program = _program("haproxy")
    folder = Path(tempfile.mkdtemp(prefix="ppg-edge-haproxy-"))
    port = free_port()
    (folder / "haproxy.cfg").write_text(haproxy_cfg(port, backends, tls_pem))
    with _running([program, "-db", "-f", "haproxy.cfg"], folder, port, "haproxy") as process:
        yield LoadBalancer(port, process)
