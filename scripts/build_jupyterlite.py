"""Build a JupyterLite site that runs ppg_edge offline, from the package registries alone.

The site is what `tests/notebook/` drives in Chromium and what a user can deploy:
JupyterLab in the browser on the Pyodide kernel, with the edge wheel in the site's
own wheel index (`%pip install ppg_edge`) and `examples/notebook/` as its contents.

Nothing is fetched from a CDN, at build time or in the page:

- JupyterLite itself is `jupyterlite-core` and `jupyterlite-pyodide-kernel` from PyPI
  (the test extras pin both).
- Pyodide is npm's `pyodide` (tests/notebook/package.json). That package has no
  package wheels, so the ones the kernel loads at start-up (micropip, ipython and
  its dependencies, jedi, parso) are downloaded from PyPI at the exact versions of
  `pyodide-lock.json`, and the lock's `sha256` values are rewritten to the files
  downloaded.
- `comm`, which the kernel installs through piplite and Pyodide does not ship, is
  served from the site's wheel index beside ppg_edge; `disablePyPIFallback` keeps
  piplite from ever asking PyPI.

The output is cached under build/jupyterlite/ (git-ignored) with a fingerprint of
every input (this script, the wheel's contents, the notebooks, the pinned
versions): a run whose inputs did not change reuses the site.

    python scripts/build_jupyterlite.py [--wheel WHEEL]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_wheel import ROOT, build_wheel

NOTEBOOK_TESTS = ROOT / "tests" / "notebook"
PYODIDE = NOTEBOOK_TESTS / "node_modules" / "pyodide"
CONTENTS = ROOT / "examples" / "notebook"
CACHE = ROOT / "build" / "jupyterlite"
DOWNLOADS = CACHE / "downloads"
LITE_DIR = CACHE / "lite"
SITE = CACHE / "site"
STAMP = SITE / "ppg-edge-build.json"

STARTUP_PACKAGES = ("micropip", "ipython", "jedi")
"""Pyodide packages the kernel loads before its first cell; their dependencies follow."""

PIPLITE_EXTRAS = ("comm==0.2.3",)
"""Wheels the kernel installs through piplite that Pyodide does not ship."""

JUPYTERLITE_DISTRIBUTIONS = ("jupyterlite-core", "jupyterlite-pyodide-kernel")
PYODIDE_SKIPPED = (".map", ".d.ts", ".html", ".md")
"""Files of the npm package a site does not serve (maps, typings, demo pages)."""

KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
JUPYTER_LITE_JSON: dict[str, Any] = {
    "jupyter-lite-schema-version": 0,
    "jupyter-config-data": {
        "appName": "ppg_edge",
        "litePluginSettings": {KERNEL_PLUGIN: {"disablePyPIFallback": True}},
    },
}


def ensure_pyodide() -> tuple[str, dict[str, Any]]:
    """Install the pinned npm `pyodide` when missing or stale; its version and lock file."""
    lock = json.loads((NOTEBOOK_TESTS / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/pyodide"]["version"]
    installed = PYODIDE / "package.json"
    if not installed.exists() or json.loads(installed.read_text())["version"] != wanted:
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed to fetch Pyodide (tests/notebook/package.json)")
        command = [npm, "ci", "--no-audit", "--no-fund", "--silent"]
        subprocess.run(command, cwd=NOTEBOOK_TESTS, check=True, timeout=600)
    pyodide_lock: dict[str, Any] = json.loads((PYODIDE / "pyodide-lock.json").read_text())
    return wanted, pyodide_lock


def closure(packages: dict[str, Any], roots: Iterable[str]) -> list[str]:
    """The lock's names of `roots` and everything they depend on, sorted."""
    index = {_normalize(name): name for name in packages}
    found: set[str] = set()
    todo = [index[_normalize(root)] for root in roots]
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(index[_normalize(dep)] for dep in packages[name]["depends"])
    return sorted(found)


def _normalize(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def download(specs: list[str], lock: dict[str, Any]) -> None:
    """Fetch pure wheels for Pyodide's Python from PyPI into DOWNLOADS (pip skips those
    already there)."""
    DOWNLOADS.mkdir(parents=True, exist_ok=True)
    python = ".".join(lock["info"]["python"].split(".")[:2])
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--only-binary=:all:", "--python-version", python, "--dest", str(DOWNLOADS), *specs,
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=600)


def downloaded(name: str, wanted_version: str) -> Path:
    """The wheel of `name` at `wanted_version` in DOWNLOADS."""
    prefix = f"{_normalize(name).replace('-', '_')}-{wanted_version}-"
    matches = [p for p in DOWNLOADS.glob("*.whl") if p.name.lower().startswith(prefix)]
    if len(matches) != 1:
        raise SystemExit(f"expected one wheel {prefix}*.whl in {DOWNLOADS}, found {matches}")
    return matches[0]


def vendor_pyodide(lock: dict[str, Any], target: Path) -> list[str]:
    """Copy Pyodide and its start-up wheels into `target`, with a lock that matches them."""
    packages = lock["packages"]
    names = closure(packages, STARTUP_PACKAGES)
    download([f"{packages[n]['name']}=={packages[n]['version']}" for n in names], lock)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for path in PYODIDE.iterdir():
        if path.is_file() and not path.name.endswith(PYODIDE_SKIPPED):
            shutil.copy2(path, target / path.name)
    for name in names:
        entry = packages[name]
        wheel = downloaded(entry["name"], entry["version"])
        shutil.copy2(wheel, target / wheel.name)
        entry["file_name"] = wheel.name
        entry["sha256"] = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (target / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))
    return names


def wheel_digest(wheel: Path) -> str:
    """A digest of what a wheel holds (names and bytes), blind to zip timestamps."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            digest.update(info.filename.encode() + b"\0" + archive.read(info) + b"\0")
    return digest.hexdigest()


def fingerprint(wheel: Path, pyodide_version: str) -> dict[str, Any]:
    """Everything the site depends on: when any of it changes, the site is rebuilt."""
    notebooks = {
        str(p.relative_to(CONTENTS)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(CONTENTS.rglob("*"))
        if p.is_file()
    }
    return {
        "script": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "wheel": {"name": wheel.name, "contents": wheel_digest(wheel)},
        "pyodide": pyodide_version,
        "jupyterlite": {name: version(name) for name in JUPYTERLITE_DISTRIBUTIONS},
        "piplite_extras": list(PIPLITE_EXTRAS),
        "contents": notebooks,
    }


def build_site(wheel: Path) -> Path:
    """The site's folder, rebuilt only when an input changed since the last build."""
    pyodide_version, lock = ensure_pyodide()
    wanted = fingerprint(wheel, pyodide_version)
    if STAMP.exists() and json.loads(STAMP.read_text()) == wanted:
        return SITE
    shutil.rmtree(LITE_DIR, ignore_errors=True)
    shutil.rmtree(SITE, ignore_errors=True)
    vendor_pyodide(lock, LITE_DIR / "static" / "pyodide")
    wheels = LITE_DIR / "pypi"
    wheels.mkdir(parents=True)
    download(list(PIPLITE_EXTRAS), lock)
    for spec in PIPLITE_EXTRAS:
        name, _, pinned = spec.partition("==")
        shutil.copy2(downloaded(name, pinned), wheels)
    shutil.copy2(wheel, wheels / wheel.name)
    (LITE_DIR / "jupyter-lite.json").write_text(json.dumps(JUPYTER_LITE_JSON, indent=2))
    command = [
        sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", str(LITE_DIR),
        "--output-dir", str(SITE), "--contents", str(CONTENTS), "--no-sourcemaps",
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=LITE_DIR, timeout=600, stdout=subprocess.DEVNULL)
    STAMP.write_text(json.dumps(wanted, indent=2))
    return SITE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="the edge wheel (default: build it)")
    args = parser.parse_args()
    wheel = args.wheel or build_wheel(ROOT / "wheels")
    print(build_site(wheel))


if __name__ == "__main__":
    main()
