"""A session's pipeline run straight on PostgreSQL: answers already in hand leave together,
and none of them waits on a later statement's execution."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import psycopg

from ppg_edge.core.protocol import COMPLETE_URN, DATAROW_URN, ERROR_URN, QUERY_KIND
from ppg_edge_gateway.execute import BATCH_FRAMES, Frame, RowLines, run_pipeline
from ppg_edge_gateway.statement import Statement


def _query(sql: str, *values: str) -> Statement:
    return Statement(QUERY_KIND, sql, [value.encode() for value in values])


def _ends(batch: list[Frame]) -> list[str]:
    """The URNs that end an answer, in order."""
    return [urn for urn, _ in batch if urn in (COMPLETE_URN, ERROR_URN)]


def _first_values(frames: list[Frame]) -> list[list[str | None]]:
    """The values of each row in the frames, in order."""
    rows: list[list[str | None]] = []
    for urn, lines in frames:
        if urn == DATAROW_URN:
            text = lines.text if isinstance(lines, RowLines) else lines
            rows += [json.loads(line)["values"] for line in text.split(b"\n")]
    return rows


async def test_answers_in_hand_leave_in_one_batch(direct: psycopg.AsyncConnection[Any]) -> None:
    """Once PostgreSQL has answered the whole pipeline, everything left is one batch
    (one write to the client), not two per statement."""
    statements = [_query("SELECT $1::int", str(n)) for n in range(20)]
    answers = run_pipeline(direct, statements)
    first = await anext(answers)
    await asyncio.sleep(0.5)  # every answer is in the socket; libpq has read only some
    rest = [batch async for batch in answers]
    assert len(rest) <= 1
    frames = first + [frame for batch in rest for frame in batch]
    assert _ends(frames) == [COMPLETE_URN] * 20
    assert _first_values(frames) == [[str(n)] for n in range(20)]


async def test_no_answer_waits_on_a_later_statement(direct: psycopg.AsyncConnection[Any]) -> None:
    statements = [_query("SELECT 1"), _query("SELECT pg_sleep(1.5)"), _query("SELECT 3")]
    started = time.monotonic()
    answers = run_pipeline(direct, statements)
    first = await anext(answers)
    took = time.monotonic() - started
    assert _ends(first) == [COMPLETE_URN]
    assert took < 1.0, f"the first answer left after {took:.2f} s, behind the sleep"
    rest = [frame async for batch in answers for frame in batch]
    assert _ends(rest) == [COMPLETE_URN] * 2
    assert time.monotonic() - started >= 1.5


async def test_a_batch_stays_within_its_bound(direct: psycopg.AsyncConnection[Any]) -> None:
    """However fast PostgreSQL answers, a batch holds BATCH_FRAMES rows at most (a batch of
    rows is one frame: the rows are counted)."""
    sql = "SELECT g FROM generate_series(1, $1::int) g"
    statements = [_query(sql, "30000"), _query("SELECT 1/0"), _query(sql, "5000")]
    answers = run_pipeline(direct, statements)
    first = await anext(answers)
    await asyncio.sleep(0.5)  # PostgreSQL has sent everything it could
    batches = [first] + [batch async for batch in answers]
    assert max(len(_first_values(batch)) for batch in batches) <= BATCH_FRAMES
    frames = [frame for batch in batches for frame in batch]
    assert _ends(frames) == [COMPLETE_URN, ERROR_URN, COMPLETE_URN]
    expected = [[str(g)] for g in range(1, 30001)] + [[str(g)] for g in range(1, 5001)]
    assert _first_values(frames) == expected


async def test_a_backend_lost_mid_pipeline_keeps_the_answers_before(
    direct: psycopg.AsyncConnection[Any],
) -> None:
    """The answers before the loss still go out, then one error ends the pipeline."""
    statements = [
        _query("SELECT 1"),
        _query("SELECT pg_terminate_backend(pg_backend_pid())"),
        _query("SELECT 3"),
    ]
    batches = [batch async for batch in run_pipeline(direct, statements)]
    frames = [frame for batch in batches for frame in batch]
    ends = _ends(frames)
    assert ends[0] == COMPLETE_URN and set(ends[1:]) == {ERROR_URN}
    assert _first_values(frames)[:1] == [["1"]]
    assert direct.pgconn.status == psycopg.pq.ConnStatus.BAD
