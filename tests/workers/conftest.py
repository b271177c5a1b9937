"""Fixtures for the Cloudflare worker example in the local Workers emulation.

- ``worker_database``: its own role and database (schema.sql loaded) behind the
  session's real gateway, so the example's tables never meet other suites'.
- ``python_modules``: what a deployed Worker carries: ppg_edge copied by the
  example's vendor.py plus the real ``workers-runtime-sdk`` from PyPI (pinned in
  requirements-sdk.txt); ``worker_bundle`` / ``probe_bundle`` add a src/.
- ``worker`` / ``worker_with_wrong_password`` / ``probe_worker``: ``node
  emulator/host.mjs`` serving the example (correct / wrong DATABASE_URL) or the
  probe Worker; their base URL.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.support.servers import REPO_ROOT, Gateway, Postgres

HERE = Path(__file__).resolve().parent
EXAMPLE = REPO_ROOT / "examples" / "cloudflare-worker"
HOST_SCRIPT = HERE / "emulator" / "host.mjs"
START_TIMEOUT = 120.0
WORKER_ROLE = "ppg_worker"


@dataclass(frozen=True)
class WorkerDatabase:
    """The example's database, reachable through the gateway and directly."""

    connection_string: str = field(repr=False)
    wrong_password_string: str = field(repr=False)
    password: str = field(repr=False)
    endpoint: str
    direct_dsn: str = field(repr=False)


def _node_modules() -> None:
    """Install the pinned Pyodide and ws once (``npm ci``) if they are missing."""
    if not (HERE / "node_modules" / "pyodide" / "package.json").is_file():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)


@pytest.fixture(scope="session")
def worker_database(postgres: Postgres, gateway: Gateway) -> WorkerDatabase:
    password = secrets.token_urlsafe(12)
    postgres.create_role_and_database(WORKER_ROLE, password, WORKER_ROLE)
    direct = postgres.dsn(WORKER_ROLE, password, WORKER_ROLE)
    with psycopg.connect(direct, autocommit=True) as conn:
        conn.execute((EXAMPLE / "schema.sql").read_text())
    base = f"127.0.0.1:{gateway.port}/{WORKER_ROLE}"
    return WorkerDatabase(
        connection_string=f"postgres://{WORKER_ROLE}:{password}@{base}",
        wrong_password_string=f"postgres://{WORKER_ROLE}:not-{password}@{base}",
        password=password,
        endpoint=gateway.url,
        direct_dsn=direct,
    )


@pytest.fixture(scope="session")
def python_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """python_modules/ as a deployed Worker has it: ppg_edge and the workers SDK."""
    modules = tmp_path_factory.mktemp("vendored") / "python_modules"
    subprocess.run(
        [sys.executable, str(EXAMPLE / "vendor.py"), "--target", str(modules)], check=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(modules),
            "-r",
            str(HERE / "requirements-sdk.txt"),
        ],
        check=True,
    )
    return modules


def make_bundle(root: Path, src: Path, modules: Path) -> Path:
    """A Worker bundle directory: src/ plus python_modules/."""
    shutil.copytree(src, root / "src")
    shutil.copytree(modules, root / "python_modules")
    return root


@pytest.fixture(scope="session")
def worker_bundle(tmp_path_factory: pytest.TempPathFactory, python_modules: Path) -> Path:
    """The example Worker, vendored as its README describes."""
    return make_bundle(tmp_path_factory.mktemp("example"), EXAMPLE / "src", python_modules)


@pytest.fixture(scope="session")
def probe_bundle(tmp_path_factory: pytest.TempPathFactory, python_modules: Path) -> Path:
    """The probe Worker (tests/workers/probe), vendored the same way."""
    return make_bundle(tmp_path_factory.mktemp("probe"), HERE / "probe", python_modules)


@contextmanager
def running_worker(bundle: Path, env: dict[str, str]) -> Iterator[str]:
    """Start the emulator on a free port with this env; yield its base URL; stop it."""
    _node_modules()
    config = {"bundle": str(bundle), "main": "entry", "env": env}
    log = open(bundle.parent / f"worker-{secrets.token_hex(4)}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        ["node", str(HOST_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=log,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "WORKER_EMULATOR_CONFIG": json.dumps(config)},
    )
    try:
        yield f"http://127.0.0.1:{_announced_port(process, log.name)}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _announced_port(process: subprocess.Popen[bytes], log_name: str) -> int:
    """The port from the emulator's first stdout line, or a clear failure with its log."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    line = b""
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.strip():
            return int(json.loads(line)["port"])
    raise RuntimeError(f"the Workers emulator did not start:\n{Path(log_name).read_text()}")


@pytest.fixture(scope="session")
def worker(worker_bundle: Path, worker_database: WorkerDatabase) -> Iterator[str]:
    env = {
        "DATABASE_URL": worker_database.connection_string,
        "PPG_ENDPOINT": worker_database.endpoint,
    }
    with running_worker(worker_bundle, env) as url:
        yield url


@pytest.fixture(scope="session")
def probe_worker(probe_bundle: Path, worker_database: WorkerDatabase) -> Iterator[str]:
    env = {
        "DATABASE_URL": worker_database.connection_string,
        "PPG_ENDPOINT": worker_database.endpoint,
    }
    with running_worker(probe_bundle, env) as url:
        yield url


@pytest.fixture(scope="session")
def worker_with_wrong_password(
    worker_bundle: Path, worker_database: WorkerDatabase
) -> Iterator[str]:
    env = {
        "DATABASE_URL": worker_database.wrong_password_string,
        "PPG_ENDPOINT": worker_database.endpoint,
    }
    with running_worker(worker_bundle, env) as url:
        yield url
