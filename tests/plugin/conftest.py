"""The pytest plugin as a user gets it: from the installed wheel, in a project of its own.

`installed_plugin` builds both wheels (what PyPI serves: the driver's and the
gateway's, which holds the plugin) and pip-installs them into a private folder;
`user_project` is a `pytester` project with only that folder on PYTHONPATH, so
the subprocess pytest finds the plugin through the gateway wheel's `pytest11`
entry point (nothing here loads it by name), and ppg_edge there is not a
source checkout; `run_pytest(*args)` runs pytest there in a subprocess.
`machine_options` passes this machine's Chromium and its flags, read from this
project's own pyproject.toml.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build_wheel.py"
NODE_MODULES = ROOT / "tests" / "browser" / "node_modules"
PYTEST_TIMEOUT = 600.0
"""Seconds one subprocess pytest run may take (it may boot PostgreSQL, Chromium, Pyodide)."""


@dataclass(frozen=True)
class InstalledPlugin:
    site: Path
    """A `pip install --target` folder: ppg_edge, ppg_edge_gateway (with the entry point)."""
    wheel: Path
    """The driver wheel that was installed (the one a page loads)."""


@pytest.fixture(scope="session")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> InstalledPlugin:
    built = tmp_path_factory.mktemp("wheel")
    for which in ([], ["--gateway"]):
        subprocess.run(
            [sys.executable, str(BUILD_SCRIPT), "--outdir", str(built), *which],
            check=True,
            timeout=600,
            stdout=subprocess.DEVNULL,
        )
    (wheel,) = built.glob("ppg_edge-*-py3-none-any.whl")
    (gateway,) = built.glob("ppg_edge_gateway-*-py3-none-any.whl")
    site = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run(
        [*pip, "--target", str(site), str(wheel), str(gateway)],
        check=True,
        timeout=600,
    )
    return InstalledPlugin(site, wheel)


@pytest.fixture
def user_project(
    pytester: pytest.Pytester, installed_plugin: InstalledPlugin, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    """A project of its own; its pytest sees the installed wheel, not this checkout."""
    monkeypatch.setenv("PYTHONPATH", str(installed_plugin.site))
    monkeypatch.delenv("PPG_CHROMIUM", raising=False)
    monkeypatch.delenv("PPG_EDGE_KEEP_LOGS", raising=False)
    return pytester


@pytest.fixture
def npm_pyodide() -> Path:
    """tests/browser's npm folder (`make setup` runs npm ci there)."""
    node_modules = NODE_MODULES.resolve()
    if not (node_modules / "pyodide" / "pyodide.mjs").is_file():
        pytest.fail("npm's pyodide is missing: run `npm ci` in tests/browser (make setup)")
    return node_modules


@pytest.fixture
def machine_options(pytestconfig: pytest.Config) -> list[str]:
    """`-o` options with this machine's Chromium (a path) and flags, from pyproject.toml."""
    chromium = shutil.which(pytestconfig.getini("ppg_chromium"))
    if chromium is None:
        pytest.fail("Chromium not found: `apt-get install chromium`")
    flags = shlex.join(pytestconfig.getini("ppg_chromium_args"))
    return ["-o", f"ppg_chromium={chromium}", "-o", f"ppg_chromium_args={flags}"]


@pytest.fixture
def run_pytest(user_project: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """pytest in a subprocess in the project, bounded in time."""

    def run(*args: str) -> pytest.RunResult:
        return user_project.runpytest_subprocess(
            "-p", "no:cacheprovider", *args, timeout=PYTEST_TIMEOUT
        )

    return run
