"""The example notebook in a real JupyterLite site: JupyterLab in Chromium, Pyodide kernel.

The test does what a user does: opens examples/notebook/ppg_edge.ipynb in the site,
waits for the kernel, chooses Run > Run All Cells, types the connection string at the
notebook's (hidden) getpass prompt and the gateway's URL at the next, and reads every
cell's output back from the page (printed text, rendered tables, the traceback). The
first cell's `%pip install ppg_edge` is served by the site's own wheel index; the browser
resolves no host name, so nothing can come from anywhere but the site and the gateway.
Screenshots and the outputs read land in artifacts/notebook-*.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from ppg_edge_gateway.pytest_plugin import chromium_launch
from tests.support.jupyterlite import SiteServer
from tests.support.notebook import NOTEBOOK, ROOT, CellOutput, Table, check_outputs, code_cells

pytestmark = pytest.mark.timeout(300)

ARTIFACTS = ROOT / "artifacts"
KERNEL_READY_MS = 120_000
RUN_ALL_MS = 180_000
VIEWPORT = {"width": 1280, "height": 1000}
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
"""No host but 127.0.0.1 resolves: a fetch from a CDN or from PyPI would fail."""
EDGE_WHEEL = "/pypi/ppg_edge-0.1.0-py3-none-any.whl"

READ_OUTPUTS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map(cell => {
  const outputs = [...cell.querySelectorAll('.jp-OutputArea-output')];
  const text = outputs.filter(o => !o.querySelector('table'))
    .map(o => o.textContent).join('\\n');
  const tables = [...cell.querySelectorAll('.jp-OutputArea-output table')].map(table => ({
    headers: [...table.querySelectorAll('thead th')].map(th => th.textContent),
    rows: [...table.querySelectorAll('tbody tr')]
      .map(tr => [...tr.querySelectorAll('td')].map(td => td.textContent)),
    caption: table.nextElementSibling ? table.nextElementSibling.textContent : '',
  }));
  return {text, tables, prompt: cell.querySelector('.jp-InputPrompt').textContent};
})"""

KERNEL_READY = """() => {
  // The indicator says "idle" for a moment before the session has a kernel; the kernel
  // is ready once it went through starting ("unknown", "busy") and came back to idle.
  const status = document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
  window.ppgKernelWasStarting ||= status !== undefined && status !== 'idle';
  return window.ppgKernelWasStarting && status === 'idle';
}"""

ALL_RAN = """count => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return prompts.length === count && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""


@pytest.fixture(scope="module")
async def browser(pytestconfig: pytest.Config) -> AsyncIterator[Browser]:
    executable, args = chromium_launch(pytestconfig)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=[*args, OFFLINE]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def run_all_cells(page: Page) -> None:
    await page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    await page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


async def answer_prompt(page: Page, prompt: str, answer: str) -> None:
    """Type `answer` at the kernel's input() or getpass() prompt that starts with `prompt`."""
    box = page.locator(".jp-Stdin", has_text=prompt).locator("input.jp-Stdin-input")
    await box.fill(answer, timeout=RUN_ALL_MS)
    await box.press("Enter")
    await box.wait_for(state="detached")


def cell_outputs(raw: list[dict[str, Any]]) -> list[CellOutput]:
    return [CellOutput(cell["text"], [Table(**table) for table in cell["tables"]]) for cell in raw]


async def test_example_notebook_runs_in_jupyterlite(
    browser: Browser, jupyterlite_site: SiteServer, lite_gateway: Any
) -> None:
    context = await browser.new_context(viewport=VIEWPORT)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    ARTIFACTS.mkdir(exist_ok=True)
    marks: dict[str, float] = {}
    started = time.monotonic()
    try:
        await page.goto(f"{jupyterlite_site.origin}/lab/index.html?path={NOTEBOOK.name}")
        await page.wait_for_function(KERNEL_READY, polling=100, timeout=KERNEL_READY_MS)
        marks["kernel_ready_s"] = time.monotonic() - started
        await run_all_cells(page)
        await answer_prompt(page, "connection string", lite_gateway.connection_string)
        await answer_prompt(page, "gateway URL", lite_gateway.url)
        await page.wait_for_function(ALL_RAN, arg=len(code_cells()), timeout=RUN_ALL_MS)
        marks["all_cells_s"] = time.monotonic() - started
        raw = await page.evaluate(READ_OUTPUTS)
        page_text = await page.locator(".jp-Notebook").text_content() or ""
    finally:
        await screenshots(page)
        (ARTIFACTS / "notebook-console.log").write_text("\n".join(console))
        (ARTIFACTS / "notebook-requests.log").write_text("\n".join(requests))
        await context.close()
    outputs = cell_outputs(raw)
    (ARTIFACTS / "notebook-outputs.json").write_text(
        json.dumps({"marks": marks, "cells": raw}, indent=2)
    )
    check_outputs(outputs)
    assert outputs[0].text.strip() == "ppg_edge 0.1.0", "not the site's driver wheel"
    assert lite_gateway.password not in page_text
    foreign = [url for url in requests if not url.startswith(jupyterlite_site.origin)]
    assert foreign and all(url.startswith(f"{lite_gateway.url}/v0/") for url in foreign)
    served = set(jupyterlite_site.served)
    assert {EDGE_WHEEL, "/pypi/comm-0.2.3-py3-none-any.whl"} <= served
    assert "/static/pyodide/ipython-9.12.0-py3-none-any.whl" in served


async def screenshots(page: Page) -> None:
    """The whole notebook (a tall viewport, so every cell is on it) and the traceback."""
    try:
        height = await page.evaluate(
            "() => (document.querySelector('.jp-WindowedPanel-inner') || document.body)"
            ".scrollHeight"
        )
        await page.set_viewport_size({"width": VIEWPORT["width"], "height": int(height) + 600})
        await page.evaluate(
            "() => document.querySelector('.jp-WindowedPanel-outer')?.scrollTo(0, 0)"
        )
        await page.wait_for_timeout(500)  # let the scrolled notebook paint
        await page.screenshot(path=str(ARTIFACTS / "notebook-jupyterlite.png"))
        last = page.locator(".jp-Notebook .jp-CodeCell").last
        await last.screenshot(path=str(ARTIFACTS / "notebook-traceback.png"))
    except Exception as error:  # a failed screenshot must not hide the test's own failure
        print(f"screenshot failed: {error}")
