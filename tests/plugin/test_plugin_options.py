"""The plugin's options reach its fixtures, and wrong ones fail with what to change.

Each case runs pytest in a project of its own that has the installed wheel
(not this checkout) on its path.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(900)

PREFLIGHT = """
import urllib.error
import urllib.request


def preflight(url, origin):
    request = urllib.request.Request(
        url + "/v0/statement",
        method="OPTIONS",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers.get("Access-Control-Allow-Origin")
    except urllib.error.HTTPError as refused:
        return refused.code, None
"""


def test_ini_and_command_line_options_shape_the_gateway_and_the_page(
    user_project: pytest.Pytester,
    installed_plugin: Any,
    npm_pyodide: Path,
    run_pytest: Callable[..., pytest.RunResult],
) -> None:
    user_project.makepyprojecttoml(
        """
        [tool.pytest.ini_options]
        ppg_allow_origin = ["http://ini.example"]
        ppg_gateway_args = ["--statement-timeout", "7"]
        ppg_pyodide = "elsewhere/pyodide"
        """
    )
    shutil.copy2(installed_plugin.wheel, user_project.mkdir("dist"))
    user_project.makepyfile(
        preflight=PREFLIGHT,
        test_options=f"""
        from preflight import preflight

        def test_the_site_and_the_configured_origins_are_allowed(ppg_gateway, ppg_site):
            for origin in (ppg_site.origin, "http://ini.example", "http://cli.example"):
                assert preflight(ppg_gateway.url, origin) == (204, origin)
            assert preflight(ppg_gateway.url, "http://other.example") == (403, None)

        def test_gateway_args_reach_the_gateway(ppg_gateway):
            assert ppg_gateway.process.args[-2:] == ["--statement-timeout", "7"]

        def test_ppg_db_is_the_gateways_role_and_database(ppg_db, ppg_gateway):
            row = ppg_db.execute("SELECT current_user, current_database()").fetchone()
            assert row == (ppg_gateway.user, ppg_gateway.database)

        def test_the_command_line_wins_over_the_ini(ppg_pyodide_dir, ppg_wheel):
            assert str(ppg_pyodide_dir) == {str(npm_pyodide / "pyodide")!r}
            assert ppg_wheel.name == {installed_plugin.wheel.name!r}
        """,
    )
    result = run_pytest(
        "--ppg-allow-origin",
        "http://cli.example",
        "--ppg-wheel",
        "dist",
        "--ppg-pyodide",
        str(npm_pyodide / "pyodide"),
    )
    result.assert_outcomes(passed=4)


def test_missing_pieces_fail_saying_what_to_set(
    user_project: pytest.Pytester, run_pytest: Callable[..., pytest.RunResult]
) -> None:
    user_project.makepyfile(
        test_missing="""
        import pytest

        def test_no_pyodide(ppg_pyodide_dir):
            pass

        def test_no_wheel_outside_a_checkout(ppg_wheel):
            pass

        @pytest.mark.asyncio(loop_scope="session")
        async def test_no_such_chromium(ppg_browser):
            pass
        """
    )
    result = run_pytest("-o", "ppg_chromium=no-such-chromium-here")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "*no Pyodide at */node_modules/pyodide: `npm install pyodide` there*",
            "*is not a source checkout, so no wheel can be built: point the ppg_wheel option*",
            "*Chromium 'no-such-chromium-here' is neither a file nor a command on PATH*",
        ]
    )


def test_a_test_on_another_event_loop_is_told_which_one_to_use(
    user_project: pytest.Pytester,
    installed_plugin: Any,
    npm_pyodide: Path,
    machine_options: list[str],
    run_pytest: Callable[..., pytest.RunResult],
) -> None:
    shutil.copy2(installed_plugin.wheel, user_project.mkdir("wheels"))
    (user_project.path / "node_modules").symlink_to(npm_pyodide, target_is_directory=True)
    user_project.makepyfile(
        test_loops="""
        import pytest

        @pytest.mark.asyncio(loop_scope="session")
        async def test_on_the_session_loop(ppg_page):
            assert await ppg_page.run_python("1 + 1") == 2

        @pytest.mark.asyncio
        async def test_on_its_own_loop(ppg_page):
            with pytest.raises(RuntimeError, match='loop_scope="session"'):
                await ppg_page.run_python("1 + 1")
        """
    )
    result = run_pytest(*machine_options, "--ppg-wheel", "wheels")
    result.assert_outcomes(passed=2)


def test_a_page_whose_pyodide_does_not_load_says_why(
    user_project: pytest.Pytester,
    installed_plugin: Any,
    machine_options: list[str],
    run_pytest: Callable[..., pytest.RunResult],
) -> None:
    broken = user_project.mkdir("broken-pyodide")
    (broken / "pyodide.mjs").write_text(
        'export async function loadPyodide() { throw new Error("this Pyodide is broken"); }\n'
    )
    shutil.copy2(installed_plugin.wheel, user_project.mkdir("wheels"))
    user_project.makepyfile(
        test_boot="""
        import pytest

        @pytest.mark.asyncio(loop_scope="session")
        async def test_page(ppg_page):
            pass
        """
    )
    result = run_pytest(*machine_options, "--ppg-wheel", "wheels", "--ppg-pyodide", str(broken))
    result.assert_outcomes(errors=1)
    output = result.stdout.str()
    assert "PageBootError: Pyodide failed to load: Error: this Pyodide is broken" in output
    assert "page console:" in output
