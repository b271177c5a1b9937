"""A notebook on another origin installs the driver from the gateway with micropip (issue 11.10).

The page (this suite's static site) has Pyodide and micropip but no ppg_edge; the
gateway listens on another port, so micropip's fetch of the wheel is a real
cross-origin one, readable only with the gateway's CORS header. npm's `pyodide`
has no package wheels, so micropip's wheel is fetched once from PyPI (pip, at the
exact version of Pyodide's lock file), as scripts/build_jupyterlite.py does, and
served by the site: the page itself never reaches the network.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, Page

from ppg_edge_gateway.testing.site import StaticSite
from tests.browser.conftest import ROOT, SITE

pytestmark = pytest.mark.timeout(600)  # Pyodide boots once per page

PACKAGES = ROOT / "build" / "pyodide-packages"
"""Git-ignored cache of the Pyodide package wheels fetched from PyPI."""

BOOT_TIMEOUT = 240.0
CELL_TIMEOUT = 120.0

BOOTED = """async () => {
  while (window.ppgBooted === undefined) await new Promise((done) => setTimeout(done, 50));
  return await window.ppgBooted;
}"""

INSTALL_AND_QUERY = """
import json
import micropip
from importlib.metadata import version
from pyodide.http import pyfetch

described = await (await pyfetch(f"{ENDPOINT}/v0/wheel")).json()
await micropip.install(ENDPOINT + described["path"])

import ppg_edge

async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
    rows = await db.query("SELECT 40 + 2 AS answer").collect()
json.dumps({"rows": rows, "version": version("ppg_edge"), "file": ppg_edge.__file__})
"""


@pytest.fixture(scope="module")
def micropip_wheel(ppg_pyodide_dir: Path) -> Path:
    """micropip's wheel at the version Pyodide's lock names (downloaded once, then cached)."""
    lock = json.loads((ppg_pyodide_dir / "pyodide-lock.json").read_text())
    wanted = lock["packages"]["micropip"]["version"]
    cached = sorted(PACKAGES.glob(f"micropip-{wanted}-*.whl"))
    if not cached:
        python = ".".join(lock["info"]["python"].split(".")[:2])
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary=:all:", "--python-version", python, "--dest", str(PACKAGES),
            f"micropip=={wanted}",
        ]  # fmt: skip
        subprocess.run(command, check=True, timeout=300)
        cached = sorted(PACKAGES.glob(f"micropip-{wanted}-*.whl"))
    (wheel,) = cached
    return wheel


@pytest.fixture(scope="module")
def notebook_site(ppg_pyodide_dir: Path, micropip_wheel: Path) -> Iterator[StaticSite]:
    """Pyodide, micropip and the page: no ppg_edge wheel on this origin."""
    mounts = {"/pyodide/": ppg_pyodide_dir, "/micropip/": micropip_wheel.parent, "/": SITE}
    with StaticSite(mounts) as site:
        yield site


@pytest.fixture
async def notebook(
    browser: Browser, notebook_site: StaticSite, micropip_wheel: Path
) -> AsyncIterator[Page]:
    """A fresh page (nothing installed yet) with Pyodide and micropip booted."""
    page = await browser.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    try:
        micropip = quote(f"/micropip/{micropip_wheel.name}")
        await page.goto(f"{notebook_site.origin}/micropip.html?micropip={micropip}")
        booted = await asyncio.wait_for(page.evaluate(BOOTED), BOOT_TIMEOUT)
        assert booted["ok"], f"{booted.get('error')}\n" + "\n".join(console[-20:])
        yield page
    finally:
        await page.close()


async def run_cell(page: Page, code: str, **inputs: str) -> dict[str, Any]:
    """Run ``code`` in the page's Pyodide with ``inputs`` as globals."""
    prelude = "".join(f"{name} = {json.dumps(value)}\n" for name, value in inputs.items())
    call = page.evaluate("code => window.ppgCell(code)", prelude + code)
    result: dict[str, Any] = await asyncio.wait_for(call, CELL_TIMEOUT)
    return result


async def test_micropip_installs_the_driver_from_an_allowing_gateway_and_queries(
    notebook: Page, notebook_site: StaticSite, gateway_factory: Any, ppg_wheel: Path
) -> None:
    gateway = gateway_factory(wheel=ppg_wheel, allow_origin=[notebook_site.origin])
    assert gateway.url != notebook_site.origin
    ran = await run_cell(
        notebook,
        INSTALL_AND_QUERY,
        ENDPOINT=gateway.url,
        DATABASE_URL=gateway.connection_string,
    )
    assert ran["ok"], ran.get("error")
    assert ran["value"]["rows"] == [{"answer": 42}]
    assert ran["value"]["version"] == ppg_wheel.name.split("-")[1]
    assert "site-packages/ppg_edge/" in ran["value"]["file"]


async def test_micropip_cannot_read_the_wheel_from_a_gateway_not_allowing_the_page(
    notebook: Page, gateway_factory: Any, ppg_wheel: Path
) -> None:
    gateway = gateway_factory(wheel=ppg_wheel, allow_origin=["http://elsewhere.invalid"])
    code = (
        "import micropip\n"
        f"await micropip.install(ENDPOINT + '/v0/wheel/{ppg_wheel.name}')\n"
        "'installed'"
    )
    ran = await run_cell(notebook, code, ENDPOINT=gateway.url)
    assert not ran["ok"]
    assert "Failed to fetch" in ran["error"], ran["error"]
    gone = await run_cell(
        notebook,
        "import importlib.util, json\njson.dumps(importlib.util.find_spec('ppg_edge') is None)",
    )
    assert gone == {"ok": True, "value": True}
