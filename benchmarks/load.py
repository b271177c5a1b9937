"""Load: many driver clients mixing HTTP statements, pipelined sessions and transactions.

Starts a private PostgreSQL and the gateway (``tests/support/servers.py``), then runs
``--clients`` ppg_edge clients (default 50) for ``--seconds`` (default 60), spread over
``--client-processes`` processes so the clients' own CPU is not the only bottleneck.
Client ``i`` plays one of three parts (``i % 3``):

- **http**: ``db.exec`` of one INSERT per HTTP request; every 5th round a ``count(*)`` of
  its own rows, which must equal what it inserted so far;
- **session**: one WebSocket session, 5 INSERTs pipelined per round (``gather``), then a
  ``count(*)`` on the same session;
- **transaction**: ``async with db.transaction()``: 3 INSERTs and a commit; every 4th
  round one INSERT rolled back, whose row must never appear.

Every client tags its rows ``(client, seq)`` and, after the load, reads them back through
the gateway: a committed row missing is *lost*, one present twice (or a rolled-back one
present) is *duplicated*. Statements are the driver calls (INSERT, count; not BEGIN and
COMMIT); latency is per call, p50/p99. Upstream connections are ``pg_stat_activity``
rows of the gateway's role, sampled during the load and polled afterwards until they are
back to 0 (idle HTTP logins close within ``--login-lifetime`` plus the pool's sweep);
gateway RSS sums the gateway's process tree. With a gateway that has ``--workers`` it
runs N = 1 and N = 2, otherwise N = 1 and says why.

Exits non-zero when a run had an error, a lost or duplicated row, a wrong count, or
upstream connections still open after ``--settle`` seconds.

    python benchmarks/load.py [--seconds 60] [--clients 50] [--client-processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

import ppg_edge
from tests.support.servers import (
    Gateway,
    Postgres,
    gateway_environment,
    running_gateway,
    running_postgres,
)

TABLE = "load_rows"
INSERT = f"INSERT INTO {TABLE} (client, seq) VALUES ($1, $2)"
COUNT = f"SELECT count(*)::int AS n FROM {TABLE} WHERE client = $1"
OWN_ROWS = f"SELECT seq FROM {TABLE} WHERE client = $1"
KINDS = ("http", "session", "transaction")
PIPELINE_DEPTH = 5
TRANSACTION_ROWS = 3
SAMPLE_SECONDS = 0.5
T = TypeVar("T")


@dataclass
class Tally:
    """What one client process saw: counts, latencies (s) and row checks."""

    statements: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    count_mismatches: int = 0

    def merge(self, other: Tally) -> None:
        self.statements += other.statements
        self.latencies.extend(other.latencies)
        self.errors.update(other.errors)
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.count_mismatches += other.count_mismatches


@dataclass
class Client:
    """One client's identity, its deadline and the rows it knows the fate of."""

    number: int
    url: str
    endpoint: str
    stop_at: float
    tally: Tally
    committed: set[int] = field(default_factory=set)
    rolled_back: set[int] = field(default_factory=set)
    uncertain: set[int] = field(default_factory=set)
    seq: int = 0

    def next_seqs(self, count: int) -> list[int]:
        first = self.seq + 1
        self.seq += count
        return list(range(first, first + count))

    async def timed(self, call: Awaitable[T]) -> T:
        """Await one driver call, counting it and its latency."""
        started = time.perf_counter()
        result = await call
        self.tally.latencies.append(time.perf_counter() - started)
        self.tally.statements += 1
        return result

    def check_count(self, seen: int) -> None:
        if not self.uncertain and seen != len(self.committed):
            self.tally.count_mismatches += 1

    @property
    def running(self) -> bool:
        return time.monotonic() < self.stop_at


async def guarded(client: Client, seqs: list[int], round_: Awaitable[None]) -> None:
    """Run one round; on an error count it and mark the round's rows as of unknown fate."""
    try:
        await round_
    except Exception as exc:
        client.tally.errors[type(exc).__name__] += 1
        client.uncertain.update(seqs)
        await asyncio.sleep(0.05)


async def http_round(client: Client, db: Any, seq: int) -> None:
    assert await client.timed(db.exec(INSERT, client.number, seq)) == 1
    client.committed.add(seq)
    if seq % 5 == 0:
        rows = await client.timed(db.query(COUNT, client.number).collect())
        client.check_count(rows[0]["n"])


async def http_client(client: Client) -> None:
    async with ppg_edge.connect(client.url, endpoint=client.endpoint) as db:
        while client.running:
            seqs = client.next_seqs(1)
            await guarded(client, seqs, http_round(client, db, seqs[0]))


async def session_round(client: Client, session: Any, seqs: list[int]) -> None:
    inserts = (client.timed(session.exec(INSERT, client.number, s)) for s in seqs)
    assert await asyncio.gather(*inserts) == [1] * len(seqs)
    client.committed.update(seqs)
    result = await client.timed(session.query(COUNT, client.number))
    rows = await result.rows.collect()
    client.check_count(rows[0].values[0])


async def session_client(client: Client) -> None:
    base = ppg_edge.client(client.url, endpoint=client.endpoint)
    try:
        async with await base.new_session() as session:
            while client.running:
                seqs = client.next_seqs(PIPELINE_DEPTH)
                await guarded(client, seqs, session_round(client, session, seqs))
    finally:
        await base.aclose()


class RollBack(Exception):
    """Raised inside a transaction to roll it back on purpose."""


async def commit_round(client: Client, db: Any, seqs: list[int]) -> None:
    async with db.transaction() as tx:
        for seq in seqs:
            assert await client.timed(tx.exec(INSERT, client.number, seq)) == 1
    client.committed.update(seqs)


async def rollback_round(client: Client, db: Any, seq: int) -> None:
    try:
        async with db.transaction() as tx:
            await client.timed(tx.exec(INSERT, client.number, seq))
            raise RollBack
    except RollBack:
        client.rolled_back.add(seq)


async def transaction_client(client: Client) -> None:
    async with ppg_edge.connect(client.url, endpoint=client.endpoint) as db:
        rounds = 0
        while client.running:
            rounds += 1
            seqs = client.next_seqs(TRANSACTION_ROWS)
            await guarded(client, seqs, commit_round(client, db, seqs))
            if rounds % 4 == 0:
                (seq,) = client.next_seqs(1)
                await guarded(client, [seq], rollback_round(client, db, seq))


async def verify(client: Client) -> None:
    """Read the client's rows back through the gateway; count lost and duplicated ones."""
    async with ppg_edge.connect(client.url, endpoint=client.endpoint) as db:
        seen = Counter(row["seq"] for row in await db.query(OWN_ROWS, client.number).collect())
    certain = client.committed - client.uncertain
    client.tally.lost += len(certain - seen.keys())
    client.tally.duplicated += sum(n - 1 for n in seen.values() if n > 1)
    client.tally.duplicated += len(client.rolled_back & seen.keys())


PARTS = {"http": http_client, "session": session_client, "transaction": transaction_client}


async def run_clients(numbers: list[int], url: str, endpoint: str, seconds: float) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds
    clients = [Client(n, url, endpoint, stop_at, tally) for n in numbers]
    outcomes = await asyncio.gather(
        *(PARTS[KINDS[c.number % len(KINDS)]](c) for c in clients), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            tally.errors[f"client:{type(outcome).__name__}"] += 1
    for client in clients:
        await verify(client)
    return tally


def client_process(numbers: list[int], url: str, endpoint: str, seconds: float) -> Tally:
    """Entry point of one client process."""
    return asyncio.run(run_clients(numbers, url, endpoint, seconds))


def upstream_connections(dsn: str, role: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (role,),
        ).fetchone()
    return int(row[0]) if row else 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if task.exists() else []
            todo.extend(int(child) for child in children)
    return found


def rss_bytes(pid: int) -> int:
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


@dataclass
class Samples:
    connections: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)


def sample(gateway: Gateway, samples: Samples) -> None:
    samples.connections.append(upstream_connections(gateway.direct_dsn, gateway.user))
    assert gateway.process is not None
    samples.rss.append(rss_bytes(gateway.process.pid))


def drive(gateway: Gateway, args: argparse.Namespace) -> tuple[Tally, Samples, float]:
    """Run the clients in processes while sampling the upstream and the gateway."""
    shares = [
        list(range(p, args.clients, args.client_processes)) for p in range(args.client_processes)
    ]
    samples = Samples()
    tally = Tally()
    started = time.monotonic()
    with ProcessPoolExecutor(args.client_processes, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(client_process, share, gateway.connection_string, gateway.url, args.seconds)
            for share in shares
            if share
        ]
        while not all(f.done() for f in futures):
            sample(gateway, samples)
            time.sleep(SAMPLE_SECONDS)
        for future in futures:
            tally.merge(future.result())
    return tally, samples, time.monotonic() - started


def settle(gateway: Gateway, wait: float) -> tuple[int, float | None]:
    """Upstream connections right after the load, and seconds until they were back to 0."""
    first = upstream_connections(gateway.direct_dsn, gateway.user)
    started = time.monotonic()
    count = first
    while count and time.monotonic() - started < wait:
        time.sleep(SAMPLE_SECONDS)
        count = upstream_connections(gateway.direct_dsn, gateway.user)
    return first, (time.monotonic() - started if count == 0 else None)


def percentile(values: list[float], fraction: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def report(workers: int, args: argparse.Namespace, result: tuple[Tally, Samples, float]) -> bool:
    """Print one run's figures; True when errors, lost and duplicated rows are all 0."""
    tally, samples, _ = result
    ms = [latency * 1000 for latency in tally.latencies]
    mib = 1024 * 1024
    print(f"\n== workers N = {workers}: {args.clients} clients, {args.seconds:g} s ==")
    print(f"statements/s           {tally.statements / args.seconds:,.0f} ({tally.statements:,})")
    print(f"latency ms             p50 {percentile(ms, 0.50):.1f}  p99 {percentile(ms, 0.99):.1f}")
    print(f"errors                 {sum(tally.errors.values())} {dict(tally.errors) or ''}")
    print(f"rows lost / duplicated {tally.lost} / {tally.duplicated}")
    print(f"count(*) mismatches    {tally.count_mismatches}")
    print(f"upstream connections   during: max {max(samples.connections, default=0)}")
    print(f"gateway RSS MiB        during: max {max(samples.rss, default=0) / mib:.1f}")
    faults = sum(tally.errors.values()) + tally.lost + tally.duplicated + tally.count_mismatches
    return tally.statements > 0 and faults == 0


def run_once(postgres: Postgres, workers: int, args: argparse.Namespace) -> bool:
    options: dict[str, Any] = {"workers": workers} if workers > 1 else {}
    options["login_lifetime"] = args.login_lifetime  # None: not passed
    with running_gateway(postgres, **options) as gateway:
        with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.execute(f"CREATE TABLE {TABLE} (client int NOT NULL, seq int NOT NULL)")
        result = drive(gateway, args)
        ok = report(workers, args, result)
        first, back_after = settle(gateway, args.settle)
        back = f"0 after {back_after:.1f} s" if back_after is not None else "not 0 yet"
        print(f"upstream connections   after: {first} at once, {back}")
        assert gateway.process is not None
        print(f"gateway RSS MiB        after: {rss_bytes(gateway.process.pid) / 1024 / 1024:.1f}")
    return ok and back_after is not None


def gateway_has_workers() -> bool:
    """Whether this gateway's CLI offers ``--workers`` (another change adds it)."""
    done = subprocess.run(
        [sys.executable, "-m", "ppg_edge_gateway", "--help"],
        capture_output=True,
        text=True,
        env=gateway_environment(),
        timeout=60,
        check=False,
    )
    return "--workers" in done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (default 60)")
    parser.add_argument("--clients", type=int, default=50, help="driver clients (default 50)")
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes the clients run in (default 2)"
    )
    parser.add_argument(
        "--login-lifetime", type=float, help="gateway --login-lifetime (default: the gateway's)"
    )
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds to wait for upstream connections to end"
    )
    args = parser.parse_args()
    counts = [1, 2] if gateway_has_workers() else [1]
    if counts == [1]:
        print("note: this gateway has no --workers option: N = 2 skipped")
    with running_postgres() as postgres:
        results = [run_once(postgres, workers, args) for workers in counts]
    if not all(results):
        sys.exit("load: errors, lost or duplicated rows, or upstream connections left over")


if __name__ == "__main__":
    main()
