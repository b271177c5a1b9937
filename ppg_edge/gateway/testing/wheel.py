"""The ppg_edge wheel a test page installs into Pyodide: given, or built on demand.

A given path is a wheel file or a folder holding exactly one ppg_edge wheel
(either the edge wheel ``ppg_edge-X+edge-py3-none-any.whl`` or the full one:
both are pure and need nothing under Pyodide). Without one, and when this
``ppg_edge`` is a source checkout, its ``scripts/build_wheel.py`` builds the
edge wheel from the current source, so a page never runs a stale driver.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .servers import PACKAGE_ROOT

WHEEL_GLOB = "ppg_edge-*-py3-none-any.whl"
BUILD_SCRIPT = Path("scripts") / "build_wheel.py"
BUILD_TIMEOUT = 600.0


class WheelNotFound(LookupError):
    """No usable ppg_edge wheel: the message says what to set or build."""


def find_wheel(path: Path) -> Path:
    """``path`` itself when it is a ppg_edge wheel, else the one ppg_edge wheel inside it."""
    if path.is_file():
        if not path.match(WHEEL_GLOB):
            raise WheelNotFound(f"{path} is not a pure ppg_edge wheel ({WHEEL_GLOB})")
        return path
    if not path.is_dir():
        raise WheelNotFound(f"no wheel file or folder at {path}")
    found = sorted(path.glob(WHEEL_GLOB))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise WheelNotFound(f"expected exactly one {WHEEL_GLOB} in {path}, found {names}")
    return found[0]


def source_checkout(root: Path = PACKAGE_ROOT) -> Path | None:
    """The checkout this ``ppg_edge`` was imported from, if it is one (it can build wheels)."""
    if (root / BUILD_SCRIPT).is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def build_edge_wheel(outdir: Path, root: Path | None = None) -> Path:
    """Build the edge wheel from the source checkout into ``outdir``; return its path."""
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
