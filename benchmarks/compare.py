"""ppg_edge beside its peers, in one run: a markdown table of figures and ratios.

Machines are shared and noisy, so what counts is the ratio within one run: peers are
measured in alternating rounds (best of 3 each), on the same rows, and every run checks
its row count and last row (a miscount fails the benchmark). Figures:

- decode: dict rows/s reading a canned NDJSON stream (int4, text, float8, timestamptz;
  the gateway's exact bytes for the same query) from a local HTTP server in its own
  process. ppg_edge is measured on its public path (`connect().query()`, `async for`,
  timestamptz parsed to datetime), @prisma/ppg 1.0.1 in Node on its own
  (`prismaPostgres().query()`, fetch + its NDJSON reader, row objects; 1.0.1 leaves
  timestamptz a string, so a second line adds a Date parser for a like-for-like figure);
- end to end through the real gateway and PostgreSQL: ppg_edge dict rows over HTTP and
  over a WebSocket session (a transaction's query) vs asyncpg straight to PostgreSQL over
  TCP (a streaming cursor, Records), and vs @prisma/ppg over HTTP (for information);
  for information too, a session vs HTTP on the same rows with the text padded to about
  200 bytes of JSON a row (frames with 16-bit lengths, as most real tables' rows have);
- a burst of statements pipelined on one open session: ppg_edge vs @prisma/ppg's session;
- `import ppg_edge` under `-X importtime`, median of 10 fresh interpreters, vs asyncpg;
- peak RSS growth of a process streaming 2 x ROWS rows with `async for`.

Run from the repository root: `python benchmarks/compare.py [--rows N] [--only FIGURE]`
(`pip install -e ".[bench]" -e ./gateway`; Node >= 20; `npm ci` in benchmarks/js runs by
itself when needed).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.comparison import node_peer, probes  # noqa: E402
from benchmarks.comparison.canned import (  # noqa: E402
    EPOCH,
    STEP,
    WIDE_PADDING,
    canned_server,
    expected_last,
    plain,
    row_texts,
    rows_sql,
)
from benchmarks.comparison.workloads import (  # noqa: E402
    MiscountError,
    Run,
    asyncpg_cursor,
    check,
    ppg_burst,
    ppg_http,
    ppg_session,
)
from tests.support.servers import Gateway, Postgres, running_gateway, running_postgres  # noqa: E402

ROUNDS = 3
DEFAULT_ROWS = 1_000_000
DEFAULT_STATEMENTS = 2_000
RSS_FACTOR = 2
TIMES = "\N{MULTIPLICATION SIGN}"
"""The RSS figure streams twice the row count (2,000,000 by default)."""


@dataclass
class Line:
    """One row of the table."""

    figure: str
    ours: str
    peer: str
    ratio: str
    goal: str


class Bench:
    """Options plus the servers, started once and only for the figures that need them."""

    def __init__(self, rows: int, statements: int, servers: ExitStack) -> None:
        self.rows = rows
        self.statements = statements
        self._servers = servers
        self._stack: tuple[Postgres, Gateway] | None = None

    def stack(self) -> tuple[Postgres, Gateway]:
        if self._stack is None:
            postgres = self._servers.enter_context(running_postgres())
            self._stack = postgres, self._servers.enter_context(running_gateway(postgres))
        return self._stack

    def asyncpg_dsn(self) -> dict[str, Any]:
        postgres, gateway = self.stack()
        return {
            "host": postgres.host,
            "port": postgres.port,
            "user": gateway.user,
            "password": gateway.password,
            "database": gateway.database,
        }


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best(runs: list[Run]) -> float:
    return max(run.rate for run in runs)


def rate(value: float) -> str:
    return f"{value / 1000:,.0f}k/s" if value >= 10_000 else f"{value:,.0f}/s"


def ratio_of(ours: list[Run], peer: list[Run]) -> tuple[float, str]:
    """Best over best, and the spread of the ratios within each round (noise made visible)."""
    ratio = best(ours) / best(peer)
    rounds = [mine.rate / theirs.rate for mine, theirs in zip(ours, peer, strict=True)]
    return ratio, f"{ratio:.2f}{TIMES} (rounds {min(rounds):.2f}-{max(rounds):.2f})"


def per_cpu_second(figure: str, ours: list[Run], peer: list[Run], peer_label: str = "") -> Line:
    """Best rates per CPU-second of the client process, for information: a shared
    machine's load stretches wall time far more than the client's own CPU time."""
    mine, theirs = max(run.cpu_rate for run in ours), max(run.cpu_rate for run in peer)
    return Line(figure, rate(mine), peer_label + rate(theirs), f"{mine / theirs:.2f}{TIMES}", "—")


def at_least(ratio: float, target: float) -> str:
    return f"≥ {target:.1f}{TIMES} ({'met' if ratio >= target else 'not met'})"


def node_run(label: str, url: str, endpoint: str, args: list[str], last: Any, count: int) -> Run:
    result = node_peer.run(url, endpoint, *args)
    run = Run(result["count"], result["seconds"], result["last"], result.get("cpuSeconds"))
    return check(label, run, count, last)


def peer_last(rows: int, at: str) -> dict[str, Any]:
    """The last row as @prisma/ppg's JSON line reports it."""
    return {"id": rows, "name": f"name-{rows}", "score": rows * 0.5, "at": at}


def decode(bench: Bench) -> Iterator[Line]:
    n, sql = bench.rows, rows_sql(bench.rows)
    node_peer.ensure_installed()
    shipped_last = peer_last(n, row_texts(n)[3])
    dated_last = peer_last(n, (EPOCH + n * STEP).isoformat(timespec="milliseconds")[:-6] + "Z")
    ours: list[Run] = []
    shipped: list[Run] = []
    dated: list[Run] = []
    progress(f"decode: serving {n:,} canned rows")
    with canned_server(n, str(REPO)) as endpoint:
        url = f"postgres://bench:canned@{endpoint.removeprefix('http://')}/bench"
        for round_ in range(1, ROUNDS + 1):
            run = asyncio.run(ppg_http(url, endpoint, sql))
            ours.append(check("ppg_edge decode", run, n, expected_last(n)))
            shipped.append(
                node_run("@prisma/ppg decode", url, endpoint, ["stream", sql], shipped_last, n)
            )
            dated.append(
                node_run(
                    "@prisma/ppg decode + Date",
                    url,
                    endpoint,
                    ["stream", sql, "dates"],
                    dated_last,
                    n,
                )
            )
            progress(
                f"  round {round_}: ppg_edge {rate(ours[-1].rate)}, @prisma/ppg "
                f"{rate(shipped[-1].rate)}, with Date parser {rate(dated[-1].rate)}"
            )
    mine = best(ours)
    ratio, text = ratio_of(ours, shipped)
    yield Line(
        f"decode: dict rows, canned {n:,}-row NDJSON over local HTTP (timestamptz parsed)",
        rate(mine),
        f"@prisma/ppg objects {rate(best(shipped))}",
        text,
        at_least(ratio, 2.0),
    )
    ratio, text = ratio_of(ours, dated)
    yield Line(
        "decode, @prisma/ppg given a timestamptz Date parser (like for like)",
        rate(mine),
        f"{rate(best(dated))}",
        text,
        "—",
    )
    yield per_cpu_second(
        "decode per client CPU-second (steadier under load; @prisma/ppg as shipped)", ours, shipped
    )


def e2e(bench: Bench) -> Iterator[Line]:
    n, sql = bench.rows, rows_sql(bench.rows)
    node_peer.ensure_installed()
    _, gateway = bench.stack()
    url, endpoint, dsn = gateway.connection_string, gateway.url, bench.asyncpg_dsn()
    last = expected_last(n)
    shipped_last = peer_last(n, row_texts(n)[3])
    wide_sql, wide_last = rows_sql(n, WIDE_PADDING), expected_last(n, WIDE_PADDING)
    runs: dict[str, list[Run]] = {"asyncpg": [], "http": [], "session": [], "official": []}
    runs |= {"http wide": [], "session wide": []}
    progress(f"end to end: {n:,} rows through the gateway")
    for round_ in range(1, ROUNDS + 1):
        runs["asyncpg"].append(check("asyncpg", asyncio.run(asyncpg_cursor(dsn, sql)), n, last))
        runs["http"].append(
            check("ppg_edge HTTP", asyncio.run(ppg_http(url, endpoint, sql)), n, last)
        )
        runs["session"].append(
            check("ppg_edge session", asyncio.run(ppg_session(url, endpoint, sql)), n, last)
        )
        runs["official"].append(
            node_run("@prisma/ppg HTTP", url, endpoint, ["stream", sql], shipped_last, n)
        )
        wide_http = asyncio.run(ppg_http(url, endpoint, wide_sql))
        runs["http wide"].append(check("ppg_edge HTTP, wide", wide_http, n, wide_last))
        wide_session = asyncio.run(ppg_session(url, endpoint, wide_sql))
        runs["session wide"].append(
            check("ppg_edge session, wide rows", wide_session, n, wide_last)
        )
        progress(
            f"  round {round_}: "
            + ", ".join(f"{name} {rate(found[-1].rate)}" for name, found in runs.items())
        )
    http, session = best(runs["http"]), best(runs["session"])
    ratio, text = ratio_of(runs["http"], runs["asyncpg"])
    yield Line(
        f"end to end via the gateway, {n:,} rows, HTTP dict rows",
        rate(http),
        f"asyncpg cursor over TCP {rate(best(runs['asyncpg']))}",
        text,
        at_least(ratio, 0.8),
    )
    ratio, text = ratio_of(runs["session"], runs["http"])
    yield Line(
        "the same over a WebSocket session",
        rate(session),
        f"our HTTP {rate(http)}",
        text,
        at_least(ratio, 0.8),
    )
    yield per_cpu_second(
        "session vs HTTP per client CPU-second (steadier under load; information)",
        runs["session"],
        runs["http"],
        "our HTTP ",
    )
    ratio, text = ratio_of(runs["http"], runs["official"])
    yield Line(
        "end to end, HTTP, vs the official client (information)",
        rate(http),
        f"@prisma/ppg objects {rate(best(runs['official']))}",
        text,
        "—",
    )
    _, text = ratio_of(runs["session wide"], runs["http wide"])
    yield Line(
        f"session vs HTTP, rows padded by {WIDE_PADDING} characters (~200 bytes; information)",
        rate(best(runs["session wide"])),
        f"our HTTP {rate(best(runs['http wide']))}",
        text,
        "—",
    )


def burst(bench: Bench) -> Iterator[Line]:
    total = bench.statements
    node_peer.ensure_installed()
    _, gateway = bench.stack()
    url, endpoint = gateway.connection_string, gateway.url
    ours: list[Run] = []
    peer: list[Run] = []
    progress(f"burst: {total:,} statements pipelined on one session")
    for round_ in range(1, ROUNDS + 1):
        ours.append(
            check("ppg_edge burst", asyncio.run(ppg_burst(url, endpoint, total)), total, total)
        )
        result = node_peer.run(url, endpoint, "burst", str(total))
        if result.get("inOrder") is not True:
            raise MiscountError("@prisma/ppg burst: answers out of order or wrong")
        peer.append(
            check(
                "@prisma/ppg burst",
                Run(result["count"], result["seconds"], result["last"]),
                total,
                total,
            )
        )
        progress(
            f"  round {round_}: ppg_edge {rate(ours[-1].rate)}, @prisma/ppg {rate(peer[-1].rate)}"
        )
    ratio, text = ratio_of(ours, peer)
    yield Line(
        f"{total:,} statements pipelined on one session (statements/s)",
        rate(best(ours)),
        f"@prisma/ppg session {rate(best(peer))}",
        text,
        at_least(ratio, 1.0),
    )


def import_time(bench: Bench) -> Iterator[Line]:
    source = probes.imported_from("ppg_edge", REPO)
    if not source.is_relative_to(REPO):
        raise RuntimeError(f"a fresh interpreter imports ppg_edge from {source}, not {REPO}")
    progress(f"import: median of {probes.IMPORT_SAMPLES} fresh interpreters each")
    ours = probes.import_ms("ppg_edge", REPO)
    theirs = probes.import_ms("asyncpg", REPO)
    met = "met" if ours < 25 else "not met"
    yield Line(
        f"`import ppg_edge` (-X importtime, median of {probes.IMPORT_SAMPLES})",
        f"{ours:.1f} ms",
        f"asyncpg {theirs:.1f} ms",
        f"{ours / theirs:.2f}{TIMES} asyncpg's time",
        f"< 25 ms ({met})",
    )


def rss(bench: Bench) -> Iterator[Line]:
    n = bench.rows * RSS_FACTOR
    _, gateway = bench.stack()
    progress(f"rss: streaming {n:,} rows in a fresh process")
    result = probes.rss_growth(gateway.connection_string, gateway.url, n, REPO)
    if result["count"] != n or result["last"] != plain(expected_last(n)):
        raise MiscountError(f"RSS child: {result['count']} rows ending {result['last']!r}")
    growth_mb = result["growth_kib"] / 1024
    met = "met" if growth_mb < 20 else "not met"
    yield Line(
        f"peak RSS growth streaming {n:,} rows (`async for`)",
        f"{growth_mb:.1f} MB",
        "—",
        "—",
        f"< 20 MB ({met})",
    )


FIGURES: dict[str, Callable[[Bench], Iterator[Line]]] = {
    "decode": decode,
    "e2e": e2e,
    "burst": burst,
    "import": import_time,
    "rss": rss,
}


def table(lines: list[Line]) -> str:
    rows = [["figure", "ppg_edge", "peer", "ratio", "goal"], ["---"] * 5]
    rows += [[line.figure, line.ours, line.peer, line.ratio, line.goal] for line in lines]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help="rows per streaming figure (RSS streams twice as many)",
    )
    parser.add_argument(
        "--statements",
        type=int,
        default=DEFAULT_STATEMENTS,
        help="statements in the pipelined burst",
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(FIGURES), help="run only this figure (repeatable)"
    )
    args = parser.parse_args()
    if args.rows < 1 or args.statements < 1:
        parser.error("--rows and --statements must be at least 1")
    return args


def main() -> int:
    args = parse_args()
    lines: list[Line] = []
    with ExitStack() as servers:
        bench = Bench(args.rows, args.statements, servers)
        try:
            for name in args.only or FIGURES:
                lines.extend(FIGURES[name](bench))
        except MiscountError as exc:
            print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
            return 1
    print(table(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
