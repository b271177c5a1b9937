"""The gateway's framing of a session's rows: from the rows' parts vs from their lines.

A session streams each row as two text messages (the data-row URN, then the row's
JSON). The gateway joins a batch of rows as libpq holds them (`plain_block` in
`gateway/ppg_edge_gateway/execute.py`) and frames each row's message from the
parts it was joined from (`ws_socket.Enclosed`), instead of splitting the batch's
NDJSON lines and heading each line. This script times both on 1,000 rows of
`compare.py`'s end-to-end query, the check of the batch included, in alternating
rounds, and prints the cost per row of each and their ratio (best of the rounds:
the machine is shared). `--wide` pads each row's text value as `compare.py`'s wide
rows do (`WIDE_PADDING`), so every message has a 16-bit length.

Run from the repository root: `python benchmarks/session_framing.py [--rounds N] [--wide]`.
"""

from __future__ import annotations

import sys
import timeit
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "gateway")]

from benchmarks.comparison.alternating import options, table  # noqa: E402
from benchmarks.comparison.canned import WIDE_PADDING  # noqa: E402
from ppg_edge.core.protocol import DATAROW_URN  # noqa: E402
from ppg_edge_gateway.execute import RawRow, RowLines, plain_block  # noqa: E402
from ppg_edge_gateway.ws_socket import Enclosed, pair_frames  # noqa: E402

ROWS = 1_000
CALLS = 100


def raw_rows(padding: int = 0) -> list[RawRow]:
    """The end-to-end query's rows as libpq's text output."""
    return [
        (
            str(n).encode(),
            (f"name-{n}" + "x" * padding).encode(),
            str(n * 0.5).encode(),
            b"2024-01-01 00:00:00.123456+00",
        )
        for n in range(1, ROWS + 1)
    ]


def batch(rows: list[RawRow]) -> RowLines:
    block = plain_block(rows)
    if block is None or not isinstance(block[1], RowLines):
        raise SystemExit("BENCHMARK FAILED: the rows were not joined as they are")
    return block[1]


def from_parts(rows: list[RawRow]) -> bytes:
    lines = batch(rows)
    return pair_frames([(DATAROW_URN, Enclosed(lines.bodies, RowLines.OPENING, RowLines.CLOSING))])


def from_lines(rows: list[RawRow]) -> bytes:
    return pair_frames([(DATAROW_URN, batch(rows).text.split(b"\n"))])


def per_row(frame: Callable[[list[RawRow]], bytes], rows: list[RawRow]) -> float:
    """Nanoseconds per row of one batch's check and framing (best of a few repeats)."""
    timer = timeit.Timer(lambda: frame(rows))
    return min(timer.repeat(number=CALLS, repeat=3)) / CALLS / ROWS * 1e9


def main() -> int:
    given = options(__doc__, "messages of 126 bytes and more")
    rows = raw_rows(WIDE_PADDING if given.wide else 0)
    if from_parts(rows) != from_lines(rows):
        raise SystemExit("BENCHMARK FAILED: the two framings gave different bytes")
    title = f"framing a session's rows ({'wide' if given.wide else 'short'})"
    reference = ("from the lines (split, a header each)", lambda: per_row(from_lines, rows))
    ours = ("from the parts (`Enclosed`)", lambda: per_row(from_parts, rows))
    print(table(title, reference, ours, given.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
