"""How the browser suites launch Chromium: Debian's own build, by path, with flags for
a headless run on a machine that reaches no network but the loopback."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """Chromium from the OS (apt `chromium`), or $PPG_CHROMIUM; never a downloaded build."""
    for candidate in (os.environ.get("PPG_CHROMIUM"), "chromium", "chromium-browser"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.fail("Chromium not found: `apt-get install chromium` or set PPG_CHROMIUM")
