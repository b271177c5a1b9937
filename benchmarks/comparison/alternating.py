"""Two ways of doing one thing, timed in alternating rounds and printed as a small table.

The in-process benchmarks (`session_frames.py`, `session_framing.py`) each time a
reference path and the path the code takes on the same input, in ns per row. The
machine is shared, so each takes the best of its rounds, and the rounds alternate.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable


def options(doc: str | None, wide: str) -> argparse.Namespace:
    """`--rounds N` and `--wide` (rows padded as `compare.py`'s wide rows; `wide` says why)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wide", action="store_true", help=wide)
    return parser.parse_args()


def table(
    title: str,
    reference: tuple[str, Callable[[], float]],
    ours: tuple[str, Callable[[], float]],
    rounds: int,
) -> str:
    """Each `(label, ns per row)` timed `rounds` times, alternately; their best and ratio."""
    theirs: list[float] = []
    mine: list[float] = []
    for _ in range(rounds):
        mine.append(ours[1]())
        theirs.append(reference[1]())
    return "\n".join(
        [
            f"| {title} | ns per row |",
            "| --- | --- |",
            f"| {reference[0]} | {min(theirs):.0f} |",
            f"| {ours[0]} | {min(mine):.0f} |",
            f"| ratio | {min(theirs) / min(mine):.2f} times as fast |",
        ]
    )
