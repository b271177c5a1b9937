"""Build the ppg_edge driver wheel (or, with --gateway, the gateway's) into wheels/.

The driver wheel is the one Pyodide pages, the web demo, notebooks and Workers install:
the repository root is the driver's own distribution, and the gateway is a sibling
distribution in gateway/ (`ppg-edge-gateway`), so nothing is left out or relabelled here.
Each project is copied to a temporary directory first, so no build/ or .egg-info leftovers
in the work tree can leak stale modules into a wheel.

    python scripts/build_wheel.py [--outdir DIR] [--gateway] [--no-isolation]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Project:
    """One distribution of this repository: its folder, what a build needs, its wheel's prefix."""

    folder: Path
    sources: tuple[str, ...]
    prefix: str


DRIVER = Project(ROOT, ("pyproject.toml", "docs/PACKAGE.md", "LICENSE", "ppg_edge"), "ppg_edge-")
GATEWAY = Project(ROOT / "gateway", ("pyproject.toml", "ppg_edge_gateway"), "ppg_edge_gateway-")


def copy_sources(project: Project, destination: Path) -> None:
    """Copy the files a build needs, without caches."""
    for name in project.sources:
        source = project.folder / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        else:
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def build_wheel(outdir: Path, isolation: bool = True, project: Project = DRIVER) -> Path:
    """Build the wheel into `outdir`, replacing older wheels of it there; return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        source, built = Path(tmp) / "src", Path(tmp) / "dist"
        source.mkdir()
        copy_sources(project, source)
        command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(built), str(source)]
        if not isolation:
            command.insert(4, "--no-isolation")
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        (wheel,) = built.glob(f"{project.prefix}*-py3-none-any.whl")
        outdir.mkdir(parents=True, exist_ok=True)
        for old in outdir.glob(f"{project.prefix}*.whl"):
            old.unlink()
        return Path(shutil.copy2(wheel, outdir / wheel.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outdir", type=Path, default=ROOT / "wheels")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="build with this Python's setuptools instead of a fresh isolated one",
    )
    parser.add_argument(
        "--gateway", action="store_true", help="build the gateway's wheel (gateway/) instead"
    )
    args = parser.parse_args()
    wheel = build_wheel(args.outdir, not args.no_isolation, GATEWAY if args.gateway else DRIVER)
    print(f"{wheel} ({wheel.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
