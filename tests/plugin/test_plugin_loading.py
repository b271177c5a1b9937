"""Loading the plugin: through the wheel's entry point, cheaply, and without its extras.

pytest loads an installed `pytest11` entry point in every run of that
environment, so the plugin must neither fail nor pull in Playwright, aiohttp,
psycopg or its own server code before a fixture asks; a fixture whose extras
are missing fails that test alone, saying what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

PLUGIN = "ppg_edge_gateway.pytest_plugin"
HEAVY = ("playwright", "aiohttp", "psycopg")


def test_the_wheels_entry_point_loads_the_plugin_and_nothing_heavy(
    user_project: pytest.Pytester,
    installed_plugin: Any,
    run_pytest: Callable[..., pytest.RunResult],
) -> None:
    user_project.makepyfile(
        test_loaded=f"""
        import sys

        def test_the_plugin_came_from_the_installed_wheel(request):
            plugin = request.config.pluginmanager.get_plugin({PLUGIN!r})
            assert plugin is not None
            assert plugin.__file__.startswith({str(installed_plugin.site)!r})

        def test_nothing_heavy_was_imported():
            loaded = {{name.split(".")[0] for name in sys.modules}}
            assert loaded.isdisjoint({HEAVY!r})
            assert "ppg_edge_gateway.testing" not in sys.modules
        """
    )
    run_pytest().assert_outcomes(passed=2)
    usage = run_pytest("--help")
    assert usage.ret == 0
    usage.stdout.fnmatch_lines(
        ["ppg_edge: PostgreSQL, gateway and a Pyodide page:", "*--ppg-wheel=PATH*"]
    )
    usage.stdout.fnmatch_lines(["*ppg_chromium_args (args):*"])


def test_without_the_extras_only_the_tests_that_need_them_fail(
    user_project: pytest.Pytester, run_pytest: Callable[..., pytest.RunResult]
) -> None:
    for name in HEAVY:  # first on sys.path: as if they were not installed
        package = user_project.mkpydir(name)
        (package / "__init__.py").write_text(
            f"raise ImportError({f'No module named {name!r}'!r}, name={name!r})\n"
        )
    user_project.makepyfile(
        test_extras="""
        import pytest

        def test_an_ordinary_test_runs():
            assert 1 + 1 == 2

        def test_postgres(ppg_postgres):
            pass

        @pytest.mark.asyncio(loop_scope="session")
        async def test_browser(ppg_browser):
            pass
        """
    )
    result = run_pytest()
    result.assert_outcomes(passed=1, errors=2)
    output = result.stdout.str()
    assert "ppg_edge's fixtures need psycopg: pip install ppg-edge-gateway" in output
    assert "ppg_edge's fixtures need playwright: pip install playwright pytest-asyncio" in output
    assert "During handling of the above exception" not in output
    assert run_pytest("--help").ret == 0
