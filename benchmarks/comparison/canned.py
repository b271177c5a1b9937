"""The benchmark's result set: its SQL, the same rows as canned NDJSON, and a server for them.

Every peer reads the same four columns (int4, text, float8, timestamptz). Through the
gateway they come from `rows_sql(n)`; for the decode figure, `ndjson_body(n)` is the very
body the gateway sends for that query (compact JSON, PostgreSQL's text output with
`TimeZone=UTC`), served by a small HTTP server in its own process, so each client is
measured on its real HTTP path without PostgreSQL or the gateway in the way.

`python -m benchmarks.comparison.canned --rows N` serves it on a free 127.0.0.1 port,
prints the port, and stops when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(microseconds=1_001_000)
"""Each row's timestamp is one step after the previous one: milliseconds vary, as in real data."""

COLUMNS = [
    {"name": "id", "typeOid": 23},
    {"name": "name", "typeOid": 25},
    {"name": "score", "typeOid": 701},
    {"name": "at", "typeOid": 1184},
]
WRITE_SIZE = 64 * 1024
"""Bytes per response write; reads then split lines (and UTF-8) anywhere, as on a network."""

_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


WIDE_PADDING = 100
"""Characters added to each row's text for the wide-rows figure: about 200 bytes of JSON
a row, past the 125 a WebSocket frame's short length holds (as most real tables' rows)."""


def rows_sql(rows: int, padding: int = 0) -> str:
    """The query whose answer is the canned stream of `rows` rows (`padding` characters
    added to each name)."""
    name = f"'name-' || g || repeat('x', {int(padding)})" if padding else "'name-' || g"
    return (
        f"SELECT g AS id, {name} AS name, g * 0.5::float8 AS score, "
        "timestamptz '2024-01-01 00:00:00+00' + g * interval '1.001 second' AS at "
        f"FROM generate_series(1, {int(rows)}) g"
    )


def _float_text(value: float) -> str:
    """PostgreSQL's float8 output (shortest round trip; no `.0` on whole numbers)."""
    return str(int(value)) if value.is_integer() else repr(value)


def _timestamptz_text(moment: datetime) -> str:
    """PostgreSQL's ISO timestamptz output in UTC: fraction without trailing zeros."""
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "+00"


def row_texts(g: int) -> list[str]:
    """Row `g` (1-based) as the gateway sends it: PostgreSQL's text output."""
    return [str(g), f"name-{g}", _float_text(g * 0.5), _timestamptz_text(EPOCH + g * STEP)]


def expected_last(rows: int, padding: int = 0) -> dict[str, Any]:
    """The last row as ppg_edge (and asyncpg) hand it out: a dict of parsed values."""
    name = f"name-{rows}" + "x" * padding
    return {"id": rows, "name": name, "score": rows * 0.5, "at": EPOCH + rows * STEP}


def plain(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A dict row with its timestamp as ISO text in UTC: comparable across processes."""
    if row is None:
        return None
    return {**row, "at": row["at"].astimezone(UTC).isoformat()}


def _lines(rows: int) -> Iterator[str]:
    yield _DUMPS({"columns": COLUMNS})
    for g in range(1, rows + 1):
        yield '{"values":' + _DUMPS(row_texts(g)) + "}"
    yield _DUMPS({"complete": True})


def ndjson_body(rows: int) -> bytes:
    """The whole NDJSON response body for `rows_sql(rows)`."""
    return ("\n".join(_lines(rows)) + "\n").encode()


async def _serve(rows: int) -> None:
    from aiohttp import web

    body = memoryview(ndjson_body(rows))

    async def statement(request: web.Request) -> web.StreamResponse:
        await request.read()  # the statement itself does not matter: the answer is canned
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(body), WRITE_SIZE):
            await response.write(body[start : start + WRITE_SIZE])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v0/statement", statement)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None and isinstance(server, asyncio.Server)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


@contextmanager
def canned_server(rows: int, cwd: str) -> Iterator[str]:
    """Serve the canned stream of `rows` rows from a child process; yield its endpoint."""
    command = [sys.executable, "-m", "benchmarks.comparison.canned", "--rows", str(rows)]
    process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert process.stdin is not None and process.stdout is not None
    try:
        port = process.stdout.readline().strip()
        if not port.isdigit():
            raise RuntimeError("the canned NDJSON server did not start")
        yield f"http://127.0.0.1:{int(port)}"
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, required=True)
    asyncio.run(_serve(parser.parse_args().rows))


if __name__ == "__main__":
    main()
