"""Fill web-demo/vendor/ with Pyodide (from npm) and a fresh ppg_edge wheel.

After this, web-demo/ is a self-contained static site: any static server (or
`python -m ppg_edge_gateway --static web-demo`) can serve it, with no CDN.

    python scripts/build_web_demo.py
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_wheel import ROOT, build_wheel

BROWSER_TESTS = ROOT / "tests" / "browser"
PYODIDE = BROWSER_TESTS / "node_modules" / "pyodide"
VENDOR = ROOT / "web-demo" / "vendor"
PYODIDE_FILES = (
    "pyodide.mjs",
    "pyodide.asm.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "pyodide-lock.json",
    "package.json",
)
"""What loadPyodide fetches from its indexURL (package.json only names the version)."""


def ensure_pyodide() -> str:
    """Install the pinned npm `pyodide` if needed; return its version."""
    if not (PYODIDE / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to fetch Pyodide (tests/browser/package.json)")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BROWSER_TESTS, check=True)
    version: str = json.loads((PYODIDE / "package.json").read_text())["version"]
    return version


def build_vendor() -> Path:
    """Write vendor/pyodide/, the wheel and vendor/manifest.json; return the vendor dir."""
    pyodide_version = ensure_pyodide()
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    (VENDOR / "pyodide").mkdir(parents=True)
    for name in PYODIDE_FILES:
        shutil.copy2(PYODIDE / name, VENDOR / "pyodide" / name)
    wheel = build_wheel(VENDOR)
    version = wheel.name.split("-")[1]
    manifest = {"wheel": wheel.name, "version": version, "pyodide": pyodide_version}
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return VENDOR


def main() -> None:
    vendor = build_vendor()
    serve = "python -m ppg_edge_gateway --embedded --static web-demo"
    print(f"web demo ready: {vendor.parent} (serve it, e.g. {serve})")


if __name__ == "__main__":
    main()
