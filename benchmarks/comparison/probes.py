"""Figures taken in fresh processes: import time and RSS growth while streaming.

`python -m benchmarks.comparison.probes rss ROWS` streams `rows_sql(ROWS)` with
`async for` from the gateway named by PPG_BENCH_URL / PPG_BENCH_ENDPOINT and prints one
JSON line: the row count, the last row, and how far the peak RSS rose above the RSS
before the query (the kernel's peak mark is reset first, so imports and the connection
are not counted).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from .child import json_child

IMPORT_SAMPLES = 10
RSS_TIMEOUT = 900.0
"""Seconds the RSS child may take to stream its rows."""


def import_ms(module: str, cwd: Path, samples: int = IMPORT_SAMPLES) -> float:
    """Median cumulative `-X importtime` of `import module`, one fresh interpreter each."""
    times = []
    for _ in range(samples):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        times.append(_cumulative_us(done.stderr, module) / 1000)
    return statistics.median(times)


def _cumulative_us(report: str, module: str) -> int:
    """The cumulative microseconds of the top-level `module` line of an importtime report."""
    for line in reversed(report.splitlines()):
        parts = line.split("|")
        if len(parts) == 3 and parts[2].rstrip() == f" {module}":
            return int(parts[1])
    raise RuntimeError(f"-X importtime reported no line for {module}:\n{report[-2000:]}")


def imported_from(module: str, cwd: Path) -> Path:
    """Where a fresh interpreter in `cwd` imports `module` from (must be the checkout)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}; print({module}.__file__)"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(done.stdout.strip()).resolve()


def rss_growth(url: str, endpoint: str, rows: int, cwd: Path) -> dict[str, Any]:
    """Run the RSS child for `rows` rows; its JSON line."""
    command = [sys.executable, "-m", "benchmarks.comparison.probes", "rss", str(rows)]
    return json_child(command, cwd, url, endpoint, RSS_TIMEOUT, "the RSS child")


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} is not in /proc/self/status")


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0), so the peak is measured from now."""
    Path("/proc/self/clear_refs").write_text("5")


async def _stream(url: str, endpoint: str, rows: int) -> dict[str, Any]:
    import ppg_edge
    from benchmarks.comparison.canned import plain, rows_sql

    async with ppg_edge.connect(url, endpoint=endpoint) as db:
        await db.query(rows_sql(10)).collect()  # imports, runtime and connection warmed up
        before = _status_kib("VmRSS")
        _reset_peak()
        count, last = 0, None
        async for row in db.query(rows_sql(rows)):
            count += 1
            last = row
        peak = _status_kib("VmHWM")
    return {"count": count, "last": plain(last), "growth_kib": peak - before}


def main() -> None:
    mode, rows = sys.argv[1], int(sys.argv[2])
    if mode != "rss":
        raise SystemExit(f"unknown probe {mode!r}")
    url, endpoint = os.environ["PPG_BENCH_URL"], os.environ["PPG_BENCH_ENDPOINT"]
    print(json.dumps(asyncio.run(_stream(url, endpoint, rows))))


if __name__ == "__main__":
    main()
