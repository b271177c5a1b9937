"""Gateway benchmark: streaming throughput against direct psycopg, and small-statement rates.

Prints numbers, asserts nothing. Without ``--gateway-url`` it starts a private PostgreSQL and
the gateway (as its own process, so client and server do not share an event loop) through
``tests/support/servers.py``. With ``--gateway-url URL --dsn postgres://USER:PASSWORD@HOST:PORT/DB``
it measures an existing pair; the DSN's credentials are used for both paths.

Measured:
  (a) rows/s for one large 4-column result: through the gateway's HTTP endpoint read by a plain
      aiohttp client (NDJSON split into lines and counted; optionally each line JSON-decoded),
      side by side with psycopg reading the same query directly (several ways; the fastest is
      the reference), and the ratio;
  (b) requests/s of ``SELECT 1`` over HTTP keep-alive with N concurrent clients, statements/s
      pipelined on one WebSocket session, and direct psycopg for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ppg_edge.core.protocol import (  # noqa: E402
    COMPLETE_KEY,
    COMPLETE_URN,
    DATABASE_QUERY_PARAM,
    DESCRIPTOR_CONTENT_TYPE,
    DESCRIPTOR_URN,
    ERROR_URN,
    SESSION_PATH,
    STATEMENT_PATH,
    WS_SUBPROTOCOL,
    multipart_content_type,
)

STREAM_SQL = "SELECT g, g::text, g * 1.5::float8, now() FROM generate_series(1, {rows}) g"
SMALL_SQL = "SELECT 1"
COMPLETE_LINE = json.dumps({COMPLETE_KEY: True}, separators=(",", ":")).encode()
READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Target:
    """Where to measure: the gateway origin and the direct DSN (same database and user)."""

    gateway_url: str
    dsn: str
    user: str
    password: str
    database: str
    gateway_pid: int | None = None


@dataclass(frozen=True)
class Sample:
    """One timed run: items, wall seconds, and CPU seconds spent by this client process and
    (when its pid is known) by the gateway process. CPU time stays meaningful on a busy
    machine, where wall-clock rates swing with other load."""

    items: int
    seconds: float
    client_cpu: float = 0.0
    gateway_cpu: float | None = None

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    def cpu_note(self, per: int) -> str:
        """CPU seconds per ``per`` items, client and gateway."""
        scale = per / self.items
        note = f"client CPU {self.client_cpu * scale:.2f}s"
        if self.gateway_cpu is not None:
            note += f", gateway CPU {self.gateway_cpu * scale:.2f}s"
        return note


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of a local process (Linux ``/proc``), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def stopwatch(gateway_pid: int | None) -> Iterator[Callable[[int], Sample]]:
    """Time a block; the yielded function turns an item count into a Sample."""
    wall, cpu, gw = time.perf_counter(), time.process_time(), process_cpu(gateway_pid)

    def sample(items: int) -> Sample:
        gw_end = process_cpu(gateway_pid)
        return Sample(
            items,
            time.perf_counter() - wall,
            time.process_time() - cpu,
            None if gw is None or gw_end is None else gw_end - gw,
        )

    yield sample


def target_from(gateway_url: str, dsn: str, gateway_pid: int | None = None) -> Target:
    """Credentials and database from a postgres:// DSN."""
    parts = urlsplit(dsn)
    return Target(
        gateway_url=gateway_url.rstrip("/"),
        dsn=dsn,
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/") or unquote(parts.username or ""),
        gateway_pid=gateway_pid,
    )


# --- the gateway over HTTP -------------------------------------------------------------


def statement_body(sql: str) -> tuple[bytes, str]:
    """A one-part multipart body holding a query descriptor, and its Content-Type."""
    boundary = f"bench{uuid.uuid4().hex}"
    descriptor = json.dumps({"query": sql})
    body = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{DESCRIPTOR_URN}"\r\n'
        f"Content-Type: {DESCRIPTOR_CONTENT_TYPE}\r\n\r\n"
        f"{descriptor}\r\n--{boundary}--\r\n"
    ).encode()
    return body, multipart_content_type(boundary)


class Gateway:
    """A keep-alive aiohttp client for ``POST /v0/statement``."""

    def __init__(self, target: Target, connections: int) -> None:
        self.url = f"{target.gateway_url}{STATEMENT_PATH}"
        self.params = {DATABASE_QUERY_PARAM: target.database}
        token = base64.b64encode(f"{target.user}:{target.password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        connector = aiohttp.TCPConnector(limit=connections, force_close=False)
        self.http = aiohttp.ClientSession(connector=connector)

    @contextlib.asynccontextmanager
    async def post(self, sql: str) -> AsyncIterator[aiohttp.ClientResponse]:
        body, content_type = statement_body(sql)
        headers = {**self.headers, "Content-Type": content_type}
        async with self.http.post(self.url, params=self.params, data=body, headers=headers) as r:
            if r.status != 200:
                raise RuntimeError(f"gateway answered {r.status}: {await r.text()}")
            yield r

    async def count_rows(self, sql: str, decode: bool) -> int:
        """Stream one result, split NDJSON lines, count rows; require the complete frame."""
        rows = 0
        tail = last = b""
        async with self.post(sql) as response:
            async for chunk in response.content.iter_chunked(READ_CHUNK):
                lines = (tail + chunk).split(b"\n")
                tail = lines.pop()
                rows += len(lines)
                if decode:
                    for line in lines:
                        json.loads(line)
                if lines:
                    last = lines[-1]
        if tail.strip() or last != COMPLETE_LINE:
            raise RuntimeError(f"stream did not end with complete: {last[:200]!r}")
        return rows - 2  # the description and complete lines

    async def small(self, sql: str) -> None:
        async with self.post(sql) as response:
            body = await response.read()
        if not body.endswith(COMPLETE_LINE + b"\n"):
            raise RuntimeError(f"small statement did not complete: {body[:200]!r}")

    async def close(self) -> None:
        await self.http.close()


async def ws_pipelined(target: Target, count: int, sql: str) -> Sample:
    """Send ``count`` statements on one session without waiting, reading answers meanwhile."""
    url = f"{target.gateway_url.replace('http', 'ws', 1)}{SESSION_PATH}"
    auth = json.dumps({"username": target.user, "password": target.password})
    descriptor = json.dumps({"query": sql})
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(
            url,
            params={DATABASE_QUERY_PARAM: target.database},
            protocols=(WS_SUBPROTOCOL,),
            max_msg_size=0,
        ) as ws,
    ):
        await ws.send_str(auth)

        async def send_all() -> None:
            for _ in range(count):
                await ws.send_str(DESCRIPTOR_URN)
                await ws.send_str(descriptor)

        with stopwatch(target.gateway_pid) as finished:
            sender = asyncio.create_task(send_all())
            done = 0
            while done < count:
                urn = (await ws.receive()).data
                payload = (await ws.receive()).data
                if urn == ERROR_URN or not isinstance(payload, str):
                    raise RuntimeError(f"session statement failed: {urn} {payload!r}")
                done += urn == COMPLETE_URN
            sample = finished(count)
        await sender
    return sample


# --- psycopg directly ------------------------------------------------------------------


async def direct_fetchall(dsn: str, sql: str) -> int:
    """Client-side cursor: the whole result in one go (fastest, unbounded memory)."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        cur = await conn.execute(sql)
        return len(await cur.fetchall())


async def direct_server_cursor(dsn: str, sql: str, size: int = 10_000) -> int:
    """Server-side cursor read in batches (streaming, bounded memory)."""
    rows = 0
    async with (
        await psycopg.AsyncConnection.connect(dsn) as conn,
        conn.transaction(),
        conn.cursor(name="bench") as cur,
    ):
        await cur.execute(sql)
        while batch := await cur.fetchmany(size):
            rows += len(batch)
    return rows


async def direct_stream(dsn: str, sql: str, size: int = 1_000) -> int:
    """``cursor.stream`` (chunked rows mode with libpq >= 17; streaming, bounded memory)."""
    rows = 0
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        async for _ in conn.cursor().stream(sql, size=size):
            rows += 1
    return rows


async def direct_small(dsn: str, count: int, clients: int, sql: str) -> Sample:
    """``count`` small statements over ``clients`` direct connections."""
    conns = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(clients)]
    try:
        with stopwatch(None) as finished:
            await asyncio.gather(*(_direct_loop(c, count // clients, sql) for c in conns))
            return finished(count // clients * clients)
    finally:
        for conn in conns:
            await conn.close()


async def _direct_loop(conn: psycopg.AsyncConnection[Any], count: int, sql: str) -> None:
    for _ in range(count):
        await (await conn.execute(sql)).fetchall()


# --- measuring -------------------------------------------------------------------------


async def timed_rows(
    run: Callable[[], Awaitable[int]], expected: int, repeat: int, gateway_pid: int | None
) -> Sample:
    """Best of ``repeat`` runs (after one warm-up), checking the row count each time."""
    samples = []
    for i in range(repeat + 1):
        with stopwatch(gateway_pid) as done:
            rows = await run()
            sample = done(rows)
        if rows != expected:
            raise RuntimeError(f"expected {expected} rows, got {rows}")
        if i:
            samples.append(sample)
    return min(samples, key=lambda s: s.seconds)


async def http_small(target: Target, count: int, clients: int) -> tuple[Sample, list[float]]:
    """``count`` requests spread over ``clients`` concurrent keep-alive clients."""
    gateway = Gateway(target, clients)
    latencies: list[float] = []

    async def worker(n: int) -> None:
        for _ in range(n):
            t0 = time.perf_counter()
            await gateway.small(SMALL_SQL)
            latencies.append(time.perf_counter() - t0)

    try:
        await asyncio.gather(*(worker(5) for _ in range(clients)))  # open and warm connections
        latencies.clear()
        per_client = count // clients
        with stopwatch(target.gateway_pid) as finished:
            await asyncio.gather(*(worker(per_client) for _ in range(clients)))
            return finished(per_client * clients), latencies
    finally:
        await gateway.close()


def row(label: str, value: str, note: str = "") -> str:
    return f"  {label:<46} {value:>16}  {note}"


async def streaming_section(target: Target, rows: int, repeat: int) -> list[str]:
    sql = STREAM_SQL.format(rows=rows)
    pid = target.gateway_pid
    gateway = Gateway(target, 1)
    try:
        raw = await timed_rows(lambda: gateway.count_rows(sql, False), rows, repeat, pid)
        decoded = await timed_rows(lambda: gateway.count_rows(sql, True), rows, repeat, pid)
    finally:
        await gateway.close()
    direct = {
        "psycopg execute+fetchall (buffers all)": direct_fetchall,
        "psycopg server-side cursor, fetchmany(10k)": direct_server_cursor,
        "psycopg cursor.stream(size=1000)": direct_stream,
    }
    measured: dict[str, Sample] = {}
    for label, read in direct.items():
        run = functools.partial(read, target.dsn, sql)
        measured[label] = await timed_rows(run, rows, repeat, None)
    best_label, best = max(measured.items(), key=lambda kv: kv[1].rate)
    per = 1_000_000
    lines = [
        f"(a) streaming {rows:,} rows x 4 columns, best of {repeat} (after a warm-up); "
        f"CPU per {per:,} rows",
        row("gateway HTTP, NDJSON lines counted", f"{raw.rate:,.0f} rows/s", raw.cpu_note(per)),
        row(
            "gateway HTTP, each line json.loads'ed",
            f"{decoded.rate:,.0f} rows/s",
            decoded.cpu_note(per),
        ),
    ]
    lines += [
        row(label, f"{sample.rate:,.0f} rows/s", sample.cpu_note(per))
        for label, sample in measured.items()
    ]
    lines.append(
        row(
            "RATIO gateway(lines) / fastest direct",
            f"{raw.rate / best.rate:.2f}x",
            f"vs {best_label}; target >= 0.5x",
        )
    )
    lines.append(row("ratio gateway(json) / fastest direct", f"{decoded.rate / best.rate:.2f}x"))
    return lines


async def small_section(target: Target, count: int, clients: int) -> list[str]:
    http, latencies = await http_small(target, count, clients)
    pipelined = await ws_pipelined(target, count, SMALL_SQL)
    direct = await direct_small(target.dsn, count, clients, SMALL_SQL)
    ms = sorted(x * 1000 for x in latencies)
    p50, p99 = statistics.median(ms), ms[int(len(ms) * 0.99) - 1]
    return [
        f"(b) small statements ({SMALL_SQL!r}), {count:,} each; CPU per 1,000 statements",
        row(
            f"gateway HTTP keep-alive, {clients} clients",
            f"{http.rate:,.0f} req/s",
            f"{http.cpu_note(1000)}; latency p50 {p50:.2f} ms, p99 {p99:.2f} ms",
        ),
        row(
            "gateway WebSocket, 1 session pipelined",
            f"{pipelined.rate:,.0f} stmt/s",
            pipelined.cpu_note(1000),
        ),
        row(
            f"psycopg direct, {clients} connections",
            f"{direct.rate:,.0f} stmt/s",
            f"{direct.cpu_note(1000)} (reference)",
        ),
    ]


async def measure(target: Target, args: argparse.Namespace) -> None:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"gateway {target.gateway_url}  database {target.database!r}  user {target.user!r}")
    print(f"{os.cpu_count()} CPUs, load average {load} (wall-clock rates are noisy under load)")
    if args.only in (None, "stream"):
        for line in await streaming_section(target, args.rows, args.repeat):
            print(line, flush=True)
    if args.only in (None, "small"):
        for line in await small_section(target, args.requests, args.clients):
            print(line, flush=True)


# --- servers ---------------------------------------------------------------------------


@contextlib.contextmanager
def local_servers() -> Iterator[Target]:
    """A private PostgreSQL and a gateway subprocess, started as the test fixtures do."""
    from tests.support.servers import running_gateway, running_postgres

    with running_postgres() as pg, running_gateway(pg) as gw:
        pid = gw.process.pid if gw.process is not None else None
        yield Target(gw.url, gw.direct_dsn, gw.user, gw.password, gw.database, pid)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gateway-url", help="an existing gateway, e.g. http://127.0.0.1:8787")
    parser.add_argument("--dsn", help="postgres://USER:PASSWORD@HOST:PORT/DB behind that gateway")
    parser.add_argument("--gateway-pid", type=int, help="that gateway's pid, to report its CPU")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--only", choices=("stream", "small"), help="run one section only")
    args = parser.parse_args(argv)
    if bool(args.gateway_url) != bool(args.dsn):
        parser.error("--gateway-url and --dsn go together")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.gateway_url:
        target = target_from(args.gateway_url, args.dsn, args.gateway_pid)
        asyncio.run(measure(target, args))
        return
    with local_servers() as target:
        asyncio.run(measure(target, args))


if __name__ == "__main__":
    main()
