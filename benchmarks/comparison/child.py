"""A benchmark figure taken in a child process that prints its result as one JSON line last."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any


def json_child(
    command: list[str], cwd: Path, url: str, endpoint: str, timeout: float, what: str
) -> dict[str, Any]:
    """Run ``command`` with the gateway's address in PPG_BENCH_URL / PPG_BENCH_ENDPOINT.

    Its last stdout line is the result; a failed child raises with the tail of its stderr.
    """
    env = {**os.environ, "PPG_BENCH_URL": url, "PPG_BENCH_ENDPOINT": endpoint}
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
