"""Peak memory of the driver while streaming a large result and uploading a large parameter.

Starts PostgreSQL and the gateway, then runs each scenario in a fresh Python process
and prints how much that process's peak RSS grew during it, beside a baseline that
holds everything in memory:

- streaming 1,000,000 rows with `async for` (target: < 20 MB) vs `collect()`;
- uploading a 100 MiB `bounded_byte_stream_parameter` over HTTP (target: < 20 MB)
  vs the same bytes passed as one `bytes` value.

Run from the repository root: `python benchmarks/driver_memory.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ppg_edge

ROWS = 1_000_000
UPLOAD = 100 * 1024 * 1024
CHUNK = 64 * 1024
TARGET_MB = 20.0
ROWS_SQL = f"SELECT g, md5(g::text) AS h FROM generate_series(1, {ROWS}) g"
ENV_URL, ENV_ENDPOINT = "PPG_BENCH_URL", "PPG_BENCH_ENDPOINT"


def _status_kib(field: str) -> int:
    """A `VmRSS`/`VmHWM` figure of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so it measures from now on."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def stream_rows(db: Any) -> str:
    count = total = 0
    async for row in db.query(ROWS_SQL):
        count += 1
        total += row["g"]
    assert (count, total) == (ROWS, ROWS * (ROWS + 1) // 2), (count, total)
    return f"{count} rows, sum {total}"


async def collect_rows(db: Any) -> str:
    rows = await db.query(ROWS_SQL).collect()
    assert len(rows) == ROWS
    return f"{len(rows)} rows collected"


PATTERN = bytes(range(256)) * (CHUNK // 256)  # non-zero, so every page is really touched
UPLOAD_SQL = "SELECT octet_length($1::bytea) AS n, md5($1::bytea) AS h"


async def _pattern_chunks() -> AsyncIterator[bytes]:
    for _ in range(UPLOAD // CHUNK):
        yield PATTERN


def _upload_md5() -> str:
    """MD5 of the uploaded bytes, computed chunk by chunk."""
    digest = hashlib.md5()
    for _ in range(UPLOAD // CHUNK):
        digest.update(PATTERN)
    return digest.hexdigest()


def _check_upload(rows: list[dict[str, Any]]) -> str:
    assert rows == [{"n": UPLOAD, "h": _upload_md5()}], rows
    return f"server saw {rows[0]['n']} bytes, md5 {rows[0]['h']}"


async def upload_stream(db: Any) -> str:
    param = ppg_edge.bounded_byte_stream_parameter(_pattern_chunks(), ppg_edge.BINARY, UPLOAD)
    return _check_upload(await db.query(UPLOAD_SQL, param).collect())


async def upload_bytes(db: Any) -> str:
    data = PATTERN * (UPLOAD // CHUNK)
    return _check_upload(await db.query(UPLOAD_SQL, data).collect())


SCENARIOS: dict[str, Callable[[Any], Awaitable[str]]] = {
    "stream": stream_rows,
    "collect": collect_rows,
    "upload_stream": upload_stream,
    "upload_bytes": upload_bytes,
}


async def child(name: str) -> dict[str, Any]:
    """Run one scenario in this process and measure its peak RSS growth."""
    db = ppg_edge.connect(os.environ[ENV_URL], endpoint=os.environ[ENV_ENDPOINT])
    try:
        assert await db.query("SELECT 1 AS one").collect() == [{"one": 1}]  # warm up
        peak_reset = _reset_peak()
        before = _status_kib("VmRSS")
        start = time.perf_counter()
        check = await SCENARIOS[name](db)
        elapsed = time.perf_counter() - start
    finally:
        await db.aclose()
    peak = (
        _status_kib("VmHWM") if peak_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    )
    return {
        "scenario": name,
        "growth_mb": (peak - before) / 1024,
        "seconds": elapsed,
        "check": check,
    }


def run_child(name: str, url: str, endpoint: str) -> dict[str, Any]:
    env = dict(os.environ, **{ENV_URL: url, ENV_ENDPOINT: endpoint})
    out = subprocess.run(
        [sys.executable, __file__, "--child", name],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def report(results: dict[str, dict[str, Any]]) -> None:
    pairs = [("stream", "collect", "1,000,000 rows"), ("upload_stream", "upload_bytes", "100 MiB")]
    print(f"{'measurement':<44} {'growth MB':>10} {'baseline MB':>12} {'ratio':>7} {'s':>6}")
    for ours, baseline, what in pairs:
        mine, base = results[ours], results[baseline]
        ratio = mine["growth_mb"] / base["growth_mb"] if base["growth_mb"] else float("nan")
        verdict = "OK" if mine["growth_mb"] < TARGET_MB else "OVER TARGET"
        label = f"{what}: {ours} vs {baseline}"
        print(
            f"{label:<44} {mine['growth_mb']:>10.2f} {base['growth_mb']:>12.2f} "
            f"{ratio:>7.3f} {mine['seconds']:>6.1f}  {verdict} (< {TARGET_MB:.0f} MB)"
        )
    for result in results.values():
        print(f"  {result['scenario']}: {result['check']} in {result['seconds']:.1f} s")


async def parent() -> None:
    from benchmarks.stack import running_stack

    async with running_stack(max_body_size=UPLOAD * 2) as stack:
        results = {}
        for name in SCENARIOS:
            results[name] = await asyncio.to_thread(
                run_child, name, stack.connection_string, stack.endpoint
            )
    report(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=sorted(SCENARIOS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(child(args.child))))
    else:
        asyncio.run(parent())


if __name__ == "__main__":
    main()
