"""Fixtures that run ppg_edge inside Pyodide: in Chromium (page and module Web
Worker, via Playwright) and on Node (npm `ws` as WebSocket).

Built on the project's pytest plugin (ppg_edge_gateway.pytest_plugin): its
Chromium (`ppg_browser`, flags and path from pyproject.toml), its freshly built
wheel (`ppg_wheel`), its Pyodide folder (`ppg_pyodide_dir`, npm-installed here
on demand), its PostgreSQL and its static server class. The suite's page,
Pyodide's files and the wheel are served on one port; the gateway listens on
another and allows only the page's origin, so every request is a real CORS one.
Timings and the wheel size land in `artifacts/browser-metrics.json` and in the
terminal summary.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page

from ppg_edge_gateway.testing.site import SiteHandler, StaticSite

BROWSER_TESTS = Path(__file__).resolve().parent
ROOT = BROWSER_TESTS.parent.parent
SITE = BROWSER_TESTS / "site"
NODE_MODULES = BROWSER_TESTS / "node_modules"
PYODIDE_DIR = NODE_MODULES / "pyodide"
ARTIFACTS = ROOT / "artifacts"
NODE_RUNNER = SITE / "node_runner.mjs"

SUITE_TIMEOUT_MS = 240_000
"""How long one environment's whole suite may take (Pyodide boot included)."""

TRUNCATED_ANSWER = b'{"columns":[{"name":"n","typeOid":23}]}\n{"values":["1"]}\n{"values":["2"]}\n'
"""What the breaking statement endpoint sends before it stops: a description and two rows."""

CUT_DELAY = 0.3
"""Seconds between the partial answer and the dropped connection."""

METRICS: dict[str, Any] = {}
"""Measured numbers, printed at the end of the run."""


def ensure_node_modules() -> None:
    """Install the pinned npm packages (pyodide, ws) when they are missing or stale."""
    lock = json.loads((BROWSER_TESTS / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/pyodide"]["version"]
    installed = PYODIDE_DIR / "package.json"
    if installed.exists() and json.loads(installed.read_text())["version"] == wanted:
        return
    npm = shutil.which("npm") or pytest.fail("npm is needed for the Pyodide tests")
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_TESTS, check=True, timeout=600
    )


class _SuiteHandler(SiteHandler):
    """The plugin's static handler plus a statement endpoint that breaks off mid-answer."""

    def do_POST(self) -> None:
        """Answer as a failing server would.

        `?db=cut` drops the connection inside a chunked body (a transport error);
        `?db=eof` ends a close-delimited body cleanly but before `complete`.
        """
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        partial = TRUNCATED_ANSWER
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        if "db=cut" in self.path:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(partial), partial))
        else:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(partial)
        self.wfile.flush()
        time.sleep(CUT_DELAY)  # the rows arrive first, on their own, then the connection drops
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class SuiteSite(StaticSite):
    """The suite's static site; beside it, `silent_url` names a port that completes TCP
    handshakes (the kernel's backlog) but never answers: a server that hangs."""

    def __init__(self, mounts: dict[str, Path]) -> None:
        super().__init__(mounts, _SuiteHandler)
        self._silent = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.silent_url = f"ws://127.0.0.1:{self._silent.getsockname()[1]}/v0/session"

    def close(self) -> None:
        super().close()
        self._silent.close()


def suite_config(gateway: Any, site: SuiteSite) -> dict[str, Any]:
    """What the in-Pyodide suite needs: the gateway, a unique run id for tables, and the
    static site, whose POST /v0/statement breaks off mid-answer, and a port that never
    answers."""
    return {
        "endpoint": gateway.url,
        "connection_string": gateway.connection_string,
        "user": gateway.user,
        "password": gateway.password,
        "database": gateway.database,
        "run_id": uuid.uuid4().hex[:10],
        "breaking_endpoint": site.origin,
        "silent_url": site.silent_url,
    }


@pytest.fixture(scope="session")
def node_modules() -> None:
    """tests/browser/node_modules as package-lock.json pins it (npm ci when stale)."""
    ensure_node_modules()


@pytest.fixture(scope="session")
def ppg_pyodide_dir(node_modules: None, ppg_pyodide_dir: Path) -> Path:
    """The plugin's Pyodide folder, after making sure npm installed it."""
    return ppg_pyodide_dir


@pytest.fixture(scope="session")
def wheel(ppg_wheel: Path) -> Path:
    """The edge wheel the plugin built from the current source for this session."""
    METRICS["wheel"] = {"file": ppg_wheel.name, "bytes": ppg_wheel.stat().st_size}
    return ppg_wheel


@pytest.fixture(scope="session")
def static_site(ppg_pyodide_dir: Path, wheel: Path) -> Iterator[SuiteSite]:
    site = SuiteSite({"/pyodide/": ppg_pyodide_dir, "/wheels/": wheel.parent, "/": SITE})
    try:
        yield site
    finally:
        site.close()


@pytest.fixture(scope="session")
def cors_gateway(gateway_factory: Callable[..., Any], static_site: SuiteSite) -> Any:
    """A gateway that allows exactly the test page's origin."""
    return gateway_factory(allow_origin=[static_site.origin])


@pytest.fixture(scope="session")
def browser(ppg_browser: Browser) -> Browser:
    """The plugin's Chromium (launched by path, with the flags pyproject.toml sets)."""
    return ppg_browser


class PyodidePage:
    """The test page, booted: Pyodide loaded, wheel installed, first query answered."""

    def __init__(self, page: Page, console: list[str]) -> None:
        self.page = page
        self.console = console

    @classmethod
    async def open(
        cls, browser: Browser, site: SuiteSite, wheel: Path, config: dict[str, Any]
    ) -> PyodidePage:
        page = await browser.new_page()
        page.set_default_timeout(SUITE_TIMEOUT_MS)
        console: list[str] = []
        page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
        query = f"config={quote(json.dumps(config))}&wheel={quote('/wheels/' + wheel.name)}"
        await page.goto(f"{site.origin}/index.html?{query}")
        return cls(page, console)

    async def ready(self) -> dict[str, Any]:
        """Marks (ms since navigation start) and the first query's rows."""
        result: dict[str, Any] = await self.page.evaluate("() => window.ppgReady")
        return result

    async def call(self, function: str, config: dict[str, Any]) -> Any:
        """Await `ppg_browser_suite.<function>(config_json)` in the page's Pyodide."""
        return await self.page.evaluate(
            "([fn, cfg]) => window.ppgCall(fn, cfg)", [function, config]
        )

    async def run_in_worker(self, config: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.page.evaluate(
            "cfg => window.ppgRunInWorker(cfg)", config
        )
        return result


async def run_on_node(wheel: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Run the suite in Pyodide on Node; its last stdout line is the JSON report."""
    node = shutil.which("node") or pytest.fail("node is needed for the Pyodide-on-Node tests")
    process = await asyncio.create_subprocess_exec(
        node,
        str(NODE_RUNNER),
        str(wheel),
        env={**os.environ, "PPG_SUITE_CONFIG": json.dumps(config)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), SUITE_TIMEOUT_MS / 1000)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail("the Node suite run did not finish in time")
    lines = stdout.decode().strip().splitlines()
    if process.returncode != 0 or not lines:
        pytest.fail(f"node runner failed ({process.returncode}): {stderr.decode()[-4000:]}")
    report: dict[str, Any] = json.loads(lines[-1])
    return report


class SuiteReports:
    """Runs the in-Pyodide suite once per environment, on first demand."""

    def __init__(self, browser: Browser, site: SuiteSite, wheel: Path, gateway: Any) -> None:
        self._browser, self.site, self._wheel, self._gateway = browser, site, wheel, gateway
        self._reports: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()
        self.page: PyodidePage | None = None

    async def get(self, environment: str) -> dict[str, Any]:
        async with self._lock:
            if environment not in self._reports:
                report = await self._run(environment)
                METRICS[f"{environment}_marks_ms"] = report["marks"]
                stream = report["results"].get("stream_100k_rows", {})
                if stream.get("ok"):
                    METRICS[f"{environment}_100k_rows_ms"] = round(stream["value"]["total_ms"])
                self._reports[environment] = report
            return self._reports[environment]

    async def booted_page(self) -> PyodidePage:
        if self.page is None:
            config = suite_config(self._gateway, self.site)
            self.page = await PyodidePage.open(self._browser, self.site, self._wheel, config)
        return self.page

    async def _run(self, environment: str) -> dict[str, Any]:
        config = suite_config(self._gateway, self.site)
        if environment == "node":
            return await run_on_node(self._wheel, config)
        page = await self.booted_page()
        if environment == "worker":
            return await page.run_in_worker(config)
        ready = await page.ready()
        results = await page.call("run", config)
        return {**ready, "results": results}


@pytest.fixture(scope="session")
async def suite_reports(
    browser: Browser, static_site: SuiteSite, wheel: Path, cors_gateway: Any
) -> AsyncIterator[SuiteReports]:
    reports = SuiteReports(browser, static_site, wheel, cors_gateway)
    yield reports
    if reports.page is not None:
        await reports.page.page.close()


@pytest.fixture(scope="session")
def origin_probe(suite_reports: SuiteReports) -> Callable[[Any], Awaitable[dict[str, Any]]]:
    """From the booted test page: one HTTP and one WebSocket query against `gateway`."""

    async def probe(gateway: Any) -> dict[str, Any]:
        page = await suite_reports.booted_page()
        config = suite_config(gateway, suite_reports.site)
        result: dict[str, Any] = await page.call("origin_probe", config)
        return result

    return probe


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print and save the wheel size and the Pyodide timings measured in this run."""
    if not METRICS:
        return
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-metrics.json").write_text(json.dumps(METRICS, indent=2))
    write = terminalreporter.write_line
    terminalreporter.section("ppg_edge in Pyodide: measurements")
    if "wheel" in METRICS:
        write(f"wheel {METRICS['wheel']['file']}: {METRICS['wheel']['bytes']} bytes")
    for key, marks in METRICS.items():
        if key.endswith("_marks_ms"):
            shown = ", ".join(f"{name} {value:.0f}" for name, value in marks.items())
            write(f"{key[: -len('_marks_ms')]} (ms): {shown}")
        elif key.endswith("_100k_rows_ms"):
            write(f"{key[: -len('_100k_rows_ms')]}: 100,000 rows streamed in {marks} ms")
