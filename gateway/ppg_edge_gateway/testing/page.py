"""A Playwright page with Pyodide and ppg_edge loaded, that runs a test's Python.

    result = await pyodide_page.run_python('''
        import ppg_edge
        async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
            rows = await db.sql("SELECT 1 AS one").collect()
        rows
    ''')                                   # -> [{"one": 1}]

The code runs in the page with top-level ``await``; the value of its last
expression comes back through JSON. An exception in the page is raised here as
:class:`PagePythonError` with the page's traceback. Playwright is imported by
the caller (the plugin), never at import time of this module.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

PAGE_DIR = Path(__file__).resolve().parent / "page"
"""index.html, harness.mjs and runner.py: served by the test site at PAGE_PREFIX."""

PAGE_PREFIX = "/__ppg__/"
PYODIDE_PREFIX = "/pyodide/"
WHEEL_PREFIX = "/wheels/"

BOOT_TIMEOUT = 180.0
"""Seconds for Pyodide and the wheel to load (a loaded machine is slow to compile wasm)."""

BOOTED = """async () => {
  while (window.ppgBooted === undefined) await new Promise((done) => setTimeout(done, 50));
  return await window.ppgBooted;
}"""
"""Waits for harness.mjs to start (a failed module import never does: the timeout says so)."""

RUN_TIMEOUT = 60.0
"""Default seconds one ``run_python`` may take; the page's Python keeps running after it."""


class PagePythonError(Exception):
    """Python code run in the page raised; ``type_name``, ``code`` (SQLSTATE) and the page's
    traceback say what happened there."""

    def __init__(self, error: dict[str, Any], stdout: str = "") -> None:
        self.type_name: str = error["type"]
        self.module: str = error.get("module", "")
        self.message: str = error["message"]
        self.code: str | None = error.get("code")
        self.page_traceback: str = error.get("traceback", "")
        self.stdout = stdout
        super().__init__(f"{self.type_name}: {self.message}")

    def __str__(self) -> str:
        head = f"{self.type_name}: {self.message}"
        return f"{head}\n\ntraceback in the page:\n{self.page_traceback}".rstrip()


class PageBootError(RuntimeError):
    """Pyodide or the wheel did not load in the page (the message has the page's console)."""


def resolve_chromium(value: str | None) -> str | None:
    """A Chromium to launch: a path, or a command looked up on PATH; None: Playwright's own."""
    if not value:
        return None
    if Path(value).is_file():
        return value
    found = shutil.which(value)
    if found is None:
        raise FileNotFoundError(f"Chromium {value!r} is neither a file nor a command on PATH")
    return found


@dataclass
class PyodidePage:
    """A booted page: ``page`` is the Playwright page, ``inputs`` seed every run's namespace.

    After each :meth:`run_python`, ``stdout`` and ``stderr`` hold what that run printed;
    ``console`` collects the page's console messages and uncaught errors.
    """

    page: Page
    inputs: dict[str, Any] = field(default_factory=dict, repr=False)  # holds a password
    console: list[str] = field(default_factory=list, repr=False)
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    @classmethod
    async def open(
        cls,
        browser: Browser,
        site_origin: str,
        wheel_name: str,
        inputs: dict[str, Any] | None = None,
        boot_timeout: float = BOOT_TIMEOUT,
    ) -> PyodidePage:
        """Open the plugin's page on ``site_origin`` and wait until Pyodide and the wheel load."""
        page = await browser.new_page()
        opened = cls(page, dict(inputs or {}), loop=asyncio.get_running_loop())
        page.on("console", lambda message: opened.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: opened.console.append(f"pageerror: {error}"))
        try:
            await opened._boot(site_origin, wheel_name, boot_timeout)
        except BaseException:
            await page.close()
            raise
        return opened

    async def _boot(self, site_origin: str, wheel_name: str, timeout: float) -> None:
        wheel = quote(WHEEL_PREFIX + wheel_name)
        await self.page.goto(f"{site_origin}{PAGE_PREFIX}index.html?wheel={wheel}")
        try:
            booted = await asyncio.wait_for(self.page.evaluate(BOOTED), timeout)
        except TimeoutError:
            raise PageBootError(self._explain(f"Pyodide did not load in {timeout:g} s")) from None
        if not booted["ok"]:
            raise PageBootError(self._explain(f"Pyodide failed to load: {booted['error']}"))

    def _explain(self, what: str) -> str:
        console = "\n".join(self.console[-30:]) or "(nothing)"
        return f"{what}\npage console:\n{console}"

    async def run_python(self, code: str, /, *, timeout: float = RUN_TIMEOUT, **inputs: Any) -> Any:
        """Run ``code`` in the page's Pyodide; return its last expression's value (JSON-able).

        The code is dedented, may ``await`` at top level and sees ``inputs`` (and
        the page's own, e.g. ``DATABASE_URL``, ``ENDPOINT``) as globals, in a
        namespace of its own. Raises :class:`PagePythonError` for an exception in
        the page, ``TimeoutError`` after ``timeout`` seconds.
        """
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError(
                "this page lives on another event loop: run the test on the loop the page "
                'fixture uses, e.g. pytestmark = pytest.mark.asyncio(loop_scope="session")'
            )
        namespace = json.dumps({**self.inputs, **inputs})
        call = self.page.evaluate(
            "([code, inputs]) => window.ppgRunPython(code, inputs)",
            [textwrap.dedent(code), namespace],
        )
        try:
            report = json.loads(await asyncio.wait_for(call, timeout))
        except TimeoutError:
            raise TimeoutError(f"the page's Python did not finish in {timeout:g} s") from None
        self.stdout, self.stderr = report["stdout"], report["stderr"]
        if not report["ok"]:
            raise PagePythonError(report["error"], self.stdout)
        return report["value"]

    async def close(self) -> None:
        await self.page.close()
