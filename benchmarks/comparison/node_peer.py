"""The official `@prisma/ppg` 1.0.1 in Node, pinned by benchmarks/js/package-lock.json.

Each run is a fresh `node benchmarks/js/peer.mjs …` that times itself (process start and
imports excluded) and prints one JSON line. `npm ci` runs first when node_modules is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from .child import json_child

JS_DIR = Path(__file__).resolve().parents[1] / "js"
PINNED = "1.0.1"
RUN_TIMEOUT = 600.0
"""Seconds one peer run may take (1M rows take a few); beyond that the benchmark fails."""


def node() -> str:
    """The `node` on PATH, which must be 20 or newer (global fetch, streams)."""
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("the @prisma/ppg figures need Node >= 20 on PATH")
    version = subprocess.run([found, "--version"], capture_output=True, text=True, check=True)
    if int(version.stdout.strip().lstrip("v").split(".")[0]) < 20:
        raise RuntimeError(f"the @prisma/ppg figures need Node >= 20, found {version.stdout}")
    return found


def ensure_installed() -> None:
    """`npm ci` in benchmarks/js unless the pinned client is already there."""
    manifest = JS_DIR / "node_modules" / "@prisma" / "ppg" / "package.json"
    if not manifest.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=JS_DIR, check=True)
    version = json.loads(manifest.read_text())["version"]
    if version != PINNED:
        raise RuntimeError(f"benchmarks/js has @prisma/ppg {version}, not {PINNED}: run npm ci")


def run(url: str, endpoint: str, *args: str) -> dict[str, Any]:
    """One timed run of peer.mjs; its parsed JSON line (`count`, `seconds`, `last`, …)."""
    return json_child(
        [node(), "peer.mjs", *args], JS_DIR, url, endpoint, RUN_TIMEOUT, f"peer.mjs {args[0]}"
    )
