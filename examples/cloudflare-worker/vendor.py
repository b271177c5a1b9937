"""Copy the ppg_edge package into python_modules/, where a Python Worker finds its packages.

Wrangler uploads python_modules/ with the Worker and puts it on sys.path, so a
pure-Python package only has to be copied there. The gateway (server code that
needs aiohttp and psycopg) is left out. Run it before `wrangler dev`/`deploy`:

    python vendor.py                      # ../../ppg_edge -> ./python_modules/ppg_edge
    python vendor.py --target DIR         # somewhere else (the tests do this)
    python vendor.py --source PATH        # another copy of the package
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent.parent / "ppg_edge"
LEFT_OUT = ("gateway", "__pycache__", "*.pyc")


def vendor(source: Path, target: Path) -> Path:
    """Replace target/ppg_edge with a fresh copy of `source`; return the copy's path."""
    if not (source / "__init__.py").is_file():
        raise SystemExit(f"{source} is not the ppg_edge package")
    destination = target / "ppg_edge"
    if destination.exists():
        shutil.rmtree(destination)
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(*LEFT_OUT))
    return destination


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--target", type=Path, default=HERE / "python_modules")
    args = parser.parse_args()
    print(f"vendored {vendor(args.source.resolve(), args.target.resolve())}")


if __name__ == "__main__":
    main()
