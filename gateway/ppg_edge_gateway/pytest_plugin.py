"""pytest plugin for Playwright tests of pages that use ppg_edge in Pyodide.

Registered as a ``pytest11`` entry point, so pytest loads it in every run of an
environment where ppg-edge is installed: this module therefore imports only
pytest (and pytest-asyncio when present); PostgreSQL, the gateway, psycopg and
Playwright are imported by the fixture that needs them, which fails with what
to install when they are missing.

Fixtures (session-wide unless noted):

- ``ppg_postgres``: a private PostgreSQL (``--embedded``'s code).
- ``ppg_site``: a static server for Pyodide, the wheel and the plugin's page.
- ``ppg_gateway``: the gateway in front of ``ppg_postgres``, allowing the
  site's origin and every ``ppg_allow_origin``; ``.connection_string``, ``.url``.
- ``ppg_db`` (per test): a psycopg connection (autocommit) as the gateway's role,
  to seed and check data independently of the driver under test.
- ``ppg_browser``: Chromium, launched by Playwright.
- ``ppg_page``: a page with Pyodide and the wheel loaded;
  ``await ppg_page.run_python(code, **inputs)`` runs Python there.
- ``ppg_wheel``, ``ppg_pyodide_dir``: the wheel and npm ``pyodide`` folder used.

The async fixtures live on the session's event loop: tests that use them run
there too (``pytestmark = pytest.mark.asyncio(loop_scope="session")``).
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import pytest

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # the async fixtures explain that they need it
    _async_fixture = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import psycopg
    from playwright.async_api import Browser

    from .testing.page import PyodidePage
    from .testing.servers import Gateway, Postgres
    from .testing.site import StaticSite

GATEWAY_USER = "ppg_pytest"
GATEWAY_DATABASE = "ppg_pytest"
DEFAULT_PYODIDE = "node_modules/pyodide"
CHROMIUM_VARIABLE = "PPG_CHROMIUM"
GATEWAY_EXTRA = "pip install ppg-edge-gateway"
PLAYWRIGHT_EXTRA = "pip install playwright pytest-asyncio"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ppg_edge", "ppg_edge: PostgreSQL, gateway and a Pyodide page")
    group.addoption(
        "--ppg-pyodide",
        metavar="DIR",
        help="npm `pyodide` folder served to the page (ini ppg_pyodide; "
        f"default {DEFAULT_PYODIDE} under the rootdir)",
    )
    group.addoption(
        "--ppg-wheel",
        metavar="PATH",
        help="ppg_edge wheel, or a folder with one, for the page (ini ppg_wheel; default: "
        "built from the source checkout ppg_edge was imported from)",
    )
    group.addoption(
        "--ppg-chromium",
        metavar="PATH",
        help=f"Chromium executable or command (then ${CHROMIUM_VARIABLE}, ini ppg_chromium; "
        "default: Playwright's own Chromium)",
    )
    group.addoption(
        "--ppg-allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="one more origin ppg_gateway allows besides the test site (repeatable; "
        "ini ppg_allow_origin)",
    )
    parser.addini("ppg_pyodide", "npm `pyodide` folder (relative to the rootdir)", "string")
    parser.addini("ppg_wheel", "ppg_edge wheel or a folder with one (relative to rootdir)")
    parser.addini("ppg_chromium", "Chromium executable path or command name")
    parser.addini("ppg_chromium_args", "extra Chromium command-line flags", "args", [])
    parser.addini("ppg_allow_origin", "more origins ppg_gateway allows", "linelist", [])
    parser.addini("ppg_gateway_args", "extra gateway CLI arguments for ppg_gateway", "args", [])


def _path_setting(config: pytest.Config, name: str) -> Path | None:
    """``--ppg-NAME`` (relative to the invocation dir) or ini ``ppg_NAME`` (to the rootdir)."""
    given: str | None = config.getoption(name)
    if given:
        return config.invocation_params.dir / given
    configured: str = config.getini(name)
    return config.rootpath / configured if configured else None


def _import(module: str, install: str) -> Any:
    """Import ``module`` for a fixture, or fail the test saying what to install."""
    try:
        return importlib.import_module(module, __package__)
    except ImportError as exc:
        missing = exc.name or module
    pytest.fail(f"ppg_edge's fixtures need {missing}: {install}", pytrace=False)


def _testing(name: str) -> Any:
    return _import(f".testing.{name}", GATEWAY_EXTRA)


@pytest.fixture(scope="session")
def ppg_postgres() -> Iterator[Postgres]:
    """A private PostgreSQL for the whole session (initdb in a temp dir, a free port)."""
    servers = _testing("servers")
    with servers.running_postgres() as postgres:
        yield postgres


@pytest.fixture(scope="session")
def ppg_pyodide_dir(pytestconfig: pytest.Config) -> Path:
    """The npm ``pyodide`` folder the page loads Pyodide from."""
    folder = _path_setting(pytestconfig, "ppg_pyodide") or pytestconfig.rootpath / DEFAULT_PYODIDE
    if not (folder / "pyodide.mjs").is_file():
        pytest.fail(
            f"no Pyodide at {folder}: `npm install pyodide` there, or point ppg_pyodide "
            "(--ppg-pyodide) at npm's pyodide folder",
            pytrace=False,
        )
    return folder


@pytest.fixture(scope="session")
def ppg_wheel(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ppg_edge wheel the page installs: the configured one, or freshly built."""
    wheels = _testing("wheel")
    given = _path_setting(pytestconfig, "ppg_wheel")
    try:
        if given is not None:
            return Path(wheels.find_wheel(given))
        return Path(wheels.build_edge_wheel(tmp_path_factory.mktemp("ppg-wheel")))
    except wheels.WheelNotFound as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)


@pytest.fixture(scope="session")
def ppg_site(ppg_pyodide_dir: Path, ppg_wheel: Path) -> Iterator[StaticSite]:
    """Serves Pyodide at /pyodide/, the wheel at /wheels/ and the plugin's page at /__ppg__/."""
    site, page = _testing("site"), _testing("page")
    mounts = {
        page.PYODIDE_PREFIX: ppg_pyodide_dir,
        page.WHEEL_PREFIX: ppg_wheel.parent,
        page.PAGE_PREFIX: page.PAGE_DIR,
    }
    with site.StaticSite(mounts) as served:
        yield served


@pytest.fixture(scope="session")
def ppg_gateway(
    pytestconfig: pytest.Config, ppg_postgres: Postgres, ppg_site: StaticSite
) -> Iterator[Gateway]:
    """The gateway in front of ``ppg_postgres``, allowing the test site's origin (and more)."""
    servers = _testing("servers")
    origins = [
        ppg_site.origin,
        *pytestconfig.getoption("ppg_allow_origin"),
        *pytestconfig.getini("ppg_allow_origin"),
    ]
    with servers.running_gateway(
        ppg_postgres,
        GATEWAY_USER,
        database=GATEWAY_DATABASE,
        allow_origin=origins,
        extra_args=pytestconfig.getini("ppg_gateway_args"),
    ) as gateway:
        yield gateway


@pytest.fixture
def ppg_db(ppg_gateway: Gateway) -> Iterator[psycopg.Connection[Any]]:
    """A psycopg connection (autocommit) to the gateway's database, as its role."""
    connect = _import("psycopg", GATEWAY_EXTRA).connect
    with connect(ppg_gateway.direct_dsn, autocommit=True) as connection:
        yield connection


def chromium_launch(config: pytest.Config) -> tuple[str | None, list[str]]:
    """The Chromium executable and flags this session's options name, for ``chromium.launch``.

    Public so that a test needing a browser of its own (other flags, another context)
    launches the same Chromium as ``ppg_browser``.
    """
    return _chromium(config), list(config.getini("ppg_chromium_args"))


def _chromium(config: pytest.Config) -> str | None:
    page = _testing("page")
    wanted = (
        config.getoption("ppg_chromium")
        or os.environ.get(CHROMIUM_VARIABLE)
        or config.getini("ppg_chromium")
    )
    try:
        executable: str | None = page.resolve_chromium(wanted)
    except FileNotFoundError as exc:
        problem = str(exc)
    else:
        return executable
    pytest.fail(problem, pytrace=False)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _async_fixtures_supported() -> bool:
    """pytest-asyncio is there and new enough for session-loop fixtures (0.24+)."""
    return (
        _async_fixture is not None and "loop_scope" in inspect.signature(_async_fixture).parameters
    )


def _session_async(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """A session-scoped async fixture on the session's event loop."""
    decorate: Any = _async_fixture(scope="session", loop_scope="session")
    return cast("Callable[_P, _R]", decorate(function))


if _async_fixtures_supported():

    @_session_async
    async def ppg_browser(pytestconfig: pytest.Config) -> AsyncIterator[Browser]:
        """Chromium for the session: ``--ppg-chromium``, $PPG_CHROMIUM, ini, or Playwright's."""
        async_playwright = _import("playwright.async_api", PLAYWRIGHT_EXTRA).async_playwright
        executable, args = chromium_launch(pytestconfig)
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=executable, args=args)
            try:
                yield browser
            finally:
                await browser.close()

    @_session_async
    async def ppg_page(
        ppg_browser: Browser, ppg_site: StaticSite, ppg_wheel: Path, ppg_gateway: Gateway
    ) -> AsyncIterator[PyodidePage]:
        """A page with Pyodide and the wheel loaded; its runs see DATABASE_URL and ENDPOINT."""
        page = _testing("page")
        inputs = {"DATABASE_URL": ppg_gateway.connection_string, "ENDPOINT": ppg_gateway.url}
        opened = await page.PyodidePage.open(ppg_browser, ppg_site.origin, ppg_wheel.name, inputs)
        try:
            yield opened
        finally:
            await opened.close()

else:

    @pytest.fixture(scope="session")
    def ppg_browser() -> None:
        """Needs pytest-asyncio >= 0.24 (session-loop async fixtures)."""
        pytest.fail(f"ppg_browser needs pytest-asyncio >= 0.24: {PLAYWRIGHT_EXTRA}", pytrace=False)

    @pytest.fixture(scope="session")
    def ppg_page() -> None:
        """Needs pytest-asyncio >= 0.24 (session-loop async fixtures)."""
        pytest.fail(f"ppg_page needs pytest-asyncio >= 0.24: {PLAYWRIGHT_EXTRA}", pytrace=False)
