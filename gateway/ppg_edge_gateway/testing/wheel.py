"""The ppg_edge wheel a test page installs into Pyodide: given, or built on demand.

A given path is a wheel file or a folder holding exactly one ppg_edge wheel
(``ppg_edge-X-py3-none-any.whl``: pure, it needs nothing under Pyodide). Without
one, and when this ``ppg_edge`` is a source checkout, its ``scripts/build_wheel.py``
builds the driver wheel from the current source, so a page never runs a stale driver.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..driver_wheel import WHEEL_GLOB, WheelNotFound, find_wheel
from .servers import PACKAGE_ROOT

__all__ = ["WHEEL_GLOB", "WheelNotFound", "build_edge_wheel", "find_wheel", "source_checkout"]

BUILD_SCRIPT = Path("scripts") / "build_wheel.py"
BUILD_TIMEOUT = 600.0


def source_checkout(root: Path = PACKAGE_ROOT) -> Path | None:
    """The checkout this ``ppg_edge`` was imported from, if it is one (it can build wheels)."""
    if (root / BUILD_SCRIPT).is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def build_edge_wheel(outdir: Path, root: Path | None = None) -> Path:
    """Build the driver wheel from the source checkout into ``outdir``; return its path."""
    checkout = root or source_checkout()
    if checkout is None:
        raise WheelNotFound(
            f"ppg_edge at {PACKAGE_ROOT} is not a source checkout, so no wheel can be built: "
            "point the ppg_wheel option (--ppg-wheel) at a ppg_edge wheel or a folder with one"
        )
    done = subprocess.run(
        [sys.executable, str(checkout / BUILD_SCRIPT), "--outdir", str(outdir)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise WheelNotFound(f"building the wheel failed:\n{done.stderr[-4000:]}")
    return find_wheel(outdir)
