"""The wheel Pyodide installs: pure, small, and exactly the current driver source."""

from __future__ import annotations

import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)  # the first test builds the wheel

WHEEL_SIZE_LIMIT = 80 * 1000
"""Acceptance: the wheel a page downloads stays under 80 KB."""

ROOT = Path(__file__).resolve().parents[2]


def driver_sources() -> dict[str, bytes]:
    """Every file of the package except the server (gateway) and caches."""
    package = ROOT / "ppg_edge"
    return {
        path.relative_to(ROOT).as_posix(): path.read_bytes()
        for path in package.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix != ".pyc"
        and path.relative_to(package).parts[0] != "gateway"
    }


def test_wheel_is_pure_and_small(wheel: Path) -> None:
    assert wheel.name.endswith("-py3-none-any.whl")
    assert wheel.stat().st_size < WHEEL_SIZE_LIMIT


def test_wheel_holds_exactly_the_driver_source(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        packaged = {
            name: archive.read(name) for name in archive.namelist() if name.startswith("ppg_edge/")
        }
    assert packaged == driver_sources()


def test_wheel_needs_nothing_under_pyodide(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    requirements = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert requirements, "h11 and wsproto are expected for CPython"
    assert all('sys_platform != "emscripten"' in r for r in requirements), requirements
