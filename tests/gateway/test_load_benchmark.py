"""benchmarks/load.py, briefly: mixed clients, no errors, no lost or duplicated rows."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.servers import REPO_ROOT

pytestmark = pytest.mark.timeout(300)


def test_a_short_load_run_reports_clean_figures() -> None:
    options = ["--seconds", "3", "--clients", "6", "--client-processes", "2"]
    options += ["--login-lifetime", "1", "--settle", "60"]
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "load.py"), *options],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert int(re.search(r"statements/s +[\d,]+ \(([\d,]+)\)", out)[1].replace(",", "")) > 0
    assert re.search(r"^errors +0 *$", out, re.M), out
    assert "rows lost / duplicated 0 / 0" in out
    assert "count(*) mismatches    0" in out
    assert re.search(r"upstream connections +during: max [1-9]", out), out
    assert re.search(r"after: \d+ at once, 0 after", out), out
    assert re.search(r"gateway RSS MiB +during: max [1-9]", out), out
