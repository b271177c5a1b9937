"""README.md's "Testing with Playwright" example, run as a user's project would run it.

The ini block and the test file are taken from the README verbatim, so the
example cannot rot: the project gets the driver wheel in wheels/ (what PyPI
serves) and npm's pyodide in node_modules/, and runs in pytest-asyncio's
default strict mode.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.timeout(900)
README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Testing with Playwright"


def readme_example() -> tuple[str, str]:
    """The section's TOML block and Python block."""
    section = README.read_text().split(SECTION, 1)[1].split("\n## ", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    python = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert toml and python, f"README section {SECTION!r} lost its TOML or Python block"
    return toml[1], python[1]


def test_the_readme_example_passes(
    user_project: pytest.Pytester,
    installed_plugin: Any,
    npm_pyodide: Path,
    machine_options: list[str],
    run_pytest: Callable[..., pytest.RunResult],
) -> None:
    toml, example = readme_example()
    (user_project.path / "pyproject.toml").write_text(toml)
    shutil.copy2(installed_plugin.wheel, user_project.mkdir("wheels"))
    (user_project.path / "node_modules").symlink_to(npm_pyodide, target_is_directory=True)
    user_project.makepyfile(test_example=example)
    tests = re.findall(r"^async def (test_\w+)", example, re.MULTILINE)
    assert len(tests) >= 2

    result = run_pytest(*machine_options, "-v")

    result.assert_outcomes(passed=len(tests))
    result.stdout.fnmatch_lines([f"*::{name} PASSED*" for name in tests])
