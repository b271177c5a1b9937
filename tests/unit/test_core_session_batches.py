"""Batched session decoding: however the messages are cut into batches, the machine's
verdict is the one message-by-message feeding gives.

`receive` takes one message at a time, which is always the careful path (a run
needs two rows); `receive_many` decodes runs of rows with one JSON call. Each
property feeds the same messages both ways and compares what every statement
ends with: its rows (a `RowRun` expanded), its outcome, and the close code.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppg_edge.core.answer import RowRun
from ppg_edge.core.errors import GenericError
from ppg_edge.core.frames import Complete, DataRow, Description, Failure
from ppg_edge.core.protocol import (
    CLOSE_PROTOCOL_ERROR,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    ERROR_URN,
)
from ppg_edge.core.session import PendingStatement, SessionMachine

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_value = _text | st.none()


def desc(width: int) -> list[str]:
    columns = [{"name": f"c{i}", "typeOid": 25} for i in range(width)]
    return [DESCRIPTION_URN, json.dumps({"columns": columns})]


def row(values: list[str | None], **dumps: Any) -> list[str]:
    return [DATAROW_URN, json.dumps({"values": values}, **dumps)]


COMPLETE = [COMPLETE_URN, json.dumps({"complete": True})]


def error(code: str) -> list[str]:
    return [ERROR_URN, json.dumps({"error": {"message": "boom", "code": code}})]


def answer(rows: list[list[str | None]], width: int, end: list[str]) -> list[str]:
    messages = desc(width)
    for values in rows:
        messages += row(values, ensure_ascii=len(values) % 2 == 0)  # raw and escaped UTF-8
    return messages + end


def cuts(data: st.DataObject, messages: list[Any]) -> list[list[Any]]:
    """The messages in consecutive batches, cut anywhere (empty batches included)."""
    points = sorted(data.draw(st.lists(st.integers(0, len(messages)), max_size=8)))
    bounds = [0, *points, len(messages)]
    return [messages[a:b] for a, b in itertools.pairwise(bounds)]


def outcome(pending: PendingStatement) -> list[Any]:
    """Everything the statement hands out, runs expanded into rows, its error last."""
    seen: list[Any] = []
    try:
        while items := pending.pop_all():
            for item in items:
                if isinstance(item, RowRun):
                    seen += [("row", values) for values in item.values]
                elif isinstance(item, DataRow):
                    seen.append(("row", item.values))
                elif isinstance(item, Failure):
                    seen.append(("failure", item.error.code))
                elif isinstance(item, Description | Complete):
                    seen.append(item)
    except GenericError as exc:
        seen.append((type(exc).__name__, str(exc)))
    return seen


def run(batches: list[list[Any]], kinds: list[str | None]) -> tuple[list[Any], list[Any]]:
    machine = SessionMachine()
    statements = [machine.submit(kind) for kind in kinds]
    for pending in statements:
        machine.sent(pending)
    codes = [machine.receive_many(batch) for batch in batches]
    return [outcome(pending) for pending in statements], [c for c in codes if c is not None]


def check_against_careful(batches: list[list[Any]], kinds: list[str | None]) -> Any:
    messages = [message for batch in batches for message in batch]
    batched = run(batches, kinds)
    assert batched == run([[message] for message in messages], kinds)
    return batched


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda w: st.tuples(
            st.just(w), st.lists(st.lists(_value, min_size=w, max_size=w), max_size=30)
        )
    ),
    st.data(),
)
def test_rows_cut_into_batches_anywhere_are_the_rows_sent(shape: Any, data: st.DataObject) -> None:
    width, rows = shape
    messages = answer(rows, width, COMPLETE) + answer([["x"] * width], width, COMPLETE)
    (first, second), codes = check_against_careful(cuts(data, messages), ["query", "query"])
    assert [values for kind, values in first[1:-1]] == rows
    assert isinstance(first[-1], Complete) and isinstance(second[-1], Complete)
    assert codes == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_value, min_size=1, max_size=1), max_size=20), st.data())
def test_an_error_after_rows_keeps_the_rows_and_then_fails(rows: Any, data: st.DataObject) -> None:
    messages = answer(rows, 1, error("22012")) + answer([["y"]], 1, COMPLETE)
    (first, second), codes = check_against_careful(cuts(data, messages), ["query", "query"])
    assert [values for _, values in first[1:-1]] == rows
    assert first[-1] == ("failure", "22012")
    assert second[-1] == Complete() and codes == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_value, min_size=1, max_size=1), min_size=2, max_size=20), st.data())
def test_complete_mid_batch_hands_the_rest_to_the_next_statement(
    rows: Any, data: st.DataObject
) -> None:
    """One batch holding the end of one answer, an exec's whole answer and another's rows."""
    count = [DESCRIPTION_URN, json.dumps({"columns": [{"name": "n", "typeOid": 23}]})]
    messages = answer(rows, 1, COMPLETE) + count + row(["4"]) + COMPLETE
    messages += answer(rows[::-1], 1, COMPLETE)
    outcomes, codes = check_against_careful(cuts(data, messages), ["query", "exec", "query"])
    assert [values for _, values in outcomes[0][1:-1]] == rows
    assert outcomes[1][1] == ("row", ["4"])
    assert [values for _, values in outcomes[2][1:-1]] == rows[::-1]
    assert codes == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(_value, min_size=1, max_size=1), max_size=10),
    st.lists(st.lists(_value, min_size=1, max_size=1), min_size=1, max_size=10),
    st.booleans(),
    st.data(),
)
def test_frames_after_complete_end_the_session(
    rows: Any, late: Any, behind: bool, data: st.DataObject
) -> None:
    """Rows after `complete` fit no statement: with nothing pending, or as rows before the
    next statement's description, they are a protocol error wherever the batches are cut."""
    messages = answer(rows, 1, COMPLETE)
    for values in late:
        messages += row(values)
    kinds: list[str | None] = ["query", "query"] if behind else ["query"]
    outcomes, codes = check_against_careful(cuts(data, messages), kinds)
    assert codes == [CLOSE_PROTOCOL_ERROR]
    assert isinstance(outcomes[0][-1], Complete)
    if behind:
        assert outcomes[1][-1][0] == "ProtocolError"


# Payloads that are no row alone but, joined, could pass for rows: the batch must refuse them.
_FORGED = [
    ['{"values":["a', '{"]},{"values":[]}'],  # a string left open swallows the separator
    ['{"values":["a"', '"b"]},{"values":[]}'],  # an array left open
    ['{"values":["a"]},{"values":["b"]}', '{"values":["c"]}'],  # two rows in one message
    ['{"values":["a"]}', ""],  # an empty message
    ['{"values":["a"]}', " "],  # a blank one
    ['{"values":["a"]}\n', '{"values":["b"]}'],  # a newline in a payload (valid JSON)
    ['{"values":["a"],"values":["b"]}', '{"values":["c"]}'],  # duplicate keys: last wins
    ['{"values":["a"],"x":1}', '{"values":["c"]}'],  # an extra key
    ['{"values":["a"]}', b'{"values":["b"]}'],  # a binary message
    ['["a"]', '{"values":["b"]}'],  # not an object
    ['{"values":["a"]} ', ' {"values":["b"]}'],  # whitespace around: fine alone, too
]


@pytest.mark.parametrize("payloads", _FORGED)
def test_forged_runs_get_the_careful_verdict(payloads: list[Any]) -> None:
    messages: list[Any] = desc(1)
    for payload in payloads:
        messages += [DATAROW_URN, payload]
    messages += COMPLETE
    check_against_careful([messages], ["query"])


def test_a_run_is_decoded_in_one_go() -> None:
    """The point of batching: one batch of rows becomes one RowRun, not a frame per row."""
    machine = SessionMachine()
    pending = machine.submit("query")
    machine.sent(pending)
    assert machine.receive_many(desc(1)) is None
    assert machine.answered() == [pending] and machine.answered() == []
    messages = answer([[str(n)] for n in range(100)], 1, COMPLETE)[2:-2]
    assert machine.receive_many(messages) is None
    assert machine.answered() == [pending]  # a run alone reports its statement, once
    assert machine.receive_many(COMPLETE) is None
    items = pending.pop_all()
    assert [type(item) for item in items] == [Description, RowRun, Complete]


def test_an_abandoned_statement_counts_a_run_without_decoding_it() -> None:
    machine = SessionMachine()
    abandoned, kept = machine.submit("query"), machine.submit("query")
    for pending in (abandoned, kept):
        machine.sent(pending)
    machine.receive_many(desc(1))
    machine.abandon(abandoned)
    garbage = [message for _ in range(50) for message in (DATAROW_URN, "not json {")]
    assert machine.receive_many([*garbage, *COMPLETE, *answer([["k"]], 1, COMPLETE)]) is None
    assert abandoned.finished and abandoned.buffered == 0
    assert outcome(kept)[1] == ("row", ["k"])
