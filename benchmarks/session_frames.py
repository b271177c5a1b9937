"""The client's WebSocket frame reader on a session's rows: run cutting vs frame by frame.

A session streams each row as two text messages (the data-row URN, then the row's
JSON). `FrameReader` cuts such runs with one regular expression and a few `map`
calls (`_pairs` in `ppg_edge/runtime/cpython_frames.py`); this script feeds it the frames
of 1,000 rows of `compare.py`'s end-to-end query (as the gateway sends them) in one
read, with and without the run cutter, in alternating rounds, and prints the cost
per row of each and their ratio (best of the rounds: the machine is shared).
`--wide` pads each row's text value as `compare.py`'s wide rows do (`WIDE_PADDING`),
so every row's frame has a 16-bit length (126 bytes and more), as most real tables'
rows do.

Run from the repository root: `python benchmarks/session_frames.py [--rounds N] [--wide]`.
"""

from __future__ import annotations

import json
import sys
import timeit
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wsproto.frame_protocol import FrameProtocol  # noqa: E402

from benchmarks.comparison.alternating import options, table  # noqa: E402
from benchmarks.comparison.canned import WIDE_PADDING  # noqa: E402
from ppg_edge.core.protocol import DATAROW_URN  # noqa: E402
from ppg_edge.runtime.cpython_frames import FrameReader  # noqa: E402

ROWS = 1_000
CALLS = 50


class NoEngine:
    """Stands in for wsproto: these frames never reach it (no control frame)."""

    def receive_data(self, data: bytes | None) -> None:
        raise AssertionError("a data frame reached the engine")


def wire(padding: int = 0) -> tuple[bytes, list[str]]:
    """The frames a session's rows arrive in, and the messages they hold."""
    proto = FrameProtocol(client=False, extensions=[])
    messages: list[str] = []
    for n in range(1, ROWS + 1):
        row = [str(n), f"name-{n}" + "x" * padding, str(n * 0.5), "2024-01-01 00:00:00.123456+00"]
        messages += [DATAROW_URN, json.dumps({"values": row}, separators=(",", ":"))]
    return b"".join(proto.send_data(message, True) for message in messages), messages


def per_row(data: bytes, expected: list[str], runs: bool) -> float:
    """Nanoseconds per row of one `receive` of all the frames (best of a few repeats)."""

    def read() -> list[Any]:
        engine: Any = NoEngine()
        return FrameReader(engine, 1 << 20, runs=runs).receive(data)

    if read() != expected:
        raise SystemExit("BENCHMARK FAILED: the reader gave other messages than were sent")
    return min(timeit.repeat(read, number=CALLS, repeat=3)) / CALLS / ROWS * 1e9


def main() -> int:
    given = options(__doc__, "rows of 126 bytes and more")
    data, expected = wire(WIDE_PADDING if given.wide else 0)
    title = f"reading a session's rows ({'wide' if given.wide else 'short'})"
    reference = ("frame by frame", lambda: per_row(data, expected, runs=False))
    ours = ("run cutting", lambda: per_row(data, expected, runs=True))
    print(table(title, reference, ours, given.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
