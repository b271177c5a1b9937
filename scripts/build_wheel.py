"""Build the pure ppg_edge wheel (py3-none-any) into wheels/.

This is the driver wheel that Pyodide pages, the web demo and the browser tests
install: it leaves out `ppg_edge.gateway`, the server (aiohttp + psycopg), which
no browser or Worker can import (`--with-gateway` keeps it). The edge wheel
carries the local version label `+edge` (e.g. `ppg_edge-0.1.0+edge-py3-none-any.whl`)
so it is never mistaken for the full wheel, and a short readme instead of the
project README, which would otherwise be most of its METADATA. The source is
copied to a temporary directory first, so no build/ or .egg-info leftovers in
the work tree can leak stale modules into the wheel.

    python scripts/build_wheel.py [--outdir DIR] [--with-gateway]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "ppg_edge")
"""What the build backend needs: metadata files and the package itself."""

PACKAGE_PREFIX = "ppg_edge-"
GATEWAY = Path("ppg_edge") / "gateway"
"""The server subpackage, left out of the driver wheel."""

EDGE_LABEL = "edge"
"""PEP 440 local version label of the driver-only wheel."""

EDGE_README = """\
# ppg_edge (edge build)

Pure-Python driver for the Prisma Postgres serverless protocol (SQL over HTTP and
WebSocket) for Pyodide, browsers and Cloudflare Python Workers. This build leaves
out `ppg_edge.gateway`, the server; see README.md in the ppg_edge source repository
for documentation.
"""
"""Stands in for README.md in the edge wheel's METADATA, which embeds the readme."""


def copy_sources(destination: Path, with_gateway: bool) -> None:
    """Copy the files a build needs, without caches (and without the gateway unless asked)."""
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        elif source.exists():
            shutil.copy2(source, destination / name)
    if not with_gateway:
        shutil.rmtree(destination / GATEWAY, ignore_errors=True)
        make_edge_metadata(destination)


def make_edge_metadata(source: Path) -> None:
    """Give the copied project the short readme and the `+edge` local version label."""
    pyproject = source / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    project = tomllib.loads(text)["project"]
    version = project["version"]
    version_line = f'version = "{version}"'
    if text.count(version_line) != 1:
        raise SystemExit(f"pyproject.toml: expected exactly one line {version_line!r}")
    edge_line = f'version = "{version}+{EDGE_LABEL}"'
    pyproject.write_text(text.replace(version_line, edge_line), encoding="utf-8")
    (source / project["readme"]).write_text(EDGE_README, encoding="utf-8")


def build_wheel(outdir: Path, isolation: bool = True, with_gateway: bool = False) -> Path:
    """Build the wheel into `outdir`, replacing older ppg_edge wheels there; return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        source, built = Path(tmp) / "src", Path(tmp) / "dist"
        source.mkdir()
        copy_sources(source, with_gateway)
        command = [sys.executable, "-m", "build", "--wheel", "--outdir", str(built), str(source)]
        if not isolation:
            command.insert(4, "--no-isolation")
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        (wheel,) = built.glob(f"{PACKAGE_PREFIX}*-py3-none-any.whl")
        outdir.mkdir(parents=True, exist_ok=True)
        for old in outdir.glob(f"{PACKAGE_PREFIX}*.whl"):
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
        "--with-gateway",
        action="store_true",
        help="keep ppg_edge.gateway (the server) in the wheel",
    )
    args = parser.parse_args()
    wheel = build_wheel(args.outdir, not args.no_isolation, args.with_gateway)
    print(f"{wheel} ({wheel.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
