"""The HTTP answer machine: batch decoding, checked against the careful line-by-line path.

The oracle is the careful path itself (NdjsonDecoder line by line, decode_frame,
FrameOrder, the registry's row parser): for any body, cut into reads anywhere,
the batch path must deliver the same rows and fail with the same error.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppg_edge._answers import RowMaker
from ppg_edge._results import Row
from ppg_edge.core.answer import HttpAnswer, RowRun
from ppg_edge.core.errors import DatabaseError, GenericError, ProtocolError
from ppg_edge.core.frames import (
    Column,
    Complete,
    DataRow,
    Description,
    Failure,
    FrameOrder,
    decode_frame,
)
from ppg_edge.core.ndjson import NdjsonDecoder
from ppg_edge.core.types import default_registry
from ppg_edge.rows import dict_row

COLUMNS = (Column("id", 23), Column("name", 25))
DESCRIPTION = json.dumps({"columns": [{"name": c.name, "typeOid": c.oid} for c in COLUMNS]})
COMPLETE = '{"complete":true}'
ERROR = '{"error":{"message":"boom","code":"22012"}}'
REGISTRY = default_registry()

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
_ints = st.integers(-(2**31), 2**31 - 1).map(str)
_value = st.none() | _ints | _text
_row = st.tuples(_ints | st.none(), _text | st.none()).map(
    lambda v: json.dumps({"values": list(v)}, ensure_ascii=False)
)
_good_row = st.tuples(_ints, _text | st.none()).map(
    lambda v: json.dumps({"values": list(v)}, ensure_ascii=False)
)
FORGED = [
    '{"values":["1",true]}',
    '{"values":["1","a",true]}',
    '{"values":["1","a",true,"2","b"]}',
    '{"values":["1","a",true]}\n{"values":["2"]}',
    '{"values":["1",["a"]}',
    '{"values":["b"],"2"]}',
    '{"values":["1","a",["x"]}\n{"values":["y"],"2","b"]}',  # a list swallows a separator
    '{"values":["1","a",{"x":["y"]}\n{"values":["z"]},"2","b"]}',
    '{"values":["1","a"]],[["2","b"]}',
    '{"values":["1"],"values":["2"]}',
    '{"values": ["1", "a"]}',  # valid, not the compact form: the careful path reads it
    '{"values":[1,"a"]}',
    '{"values":[null,{"a":"b"}]}',
]
"""Lines (some two) that try to pass for the fast path's `,true,` separators, or to
split or merge rows: each must give exactly what the careful path gives."""
_odd_line = st.sampled_from(
    [
        "",
        "   ",
        "{",
        "[1]",
        ERROR,
        COMPLETE,
        DESCRIPTION,
        '{"values":["1"]}',
        '{"values":["1","a","b"]}',
        '{"values":[1,"a"]}',
        '{"values":["x","a"]}',
        '{"values":["1","a"],"x":1}',
        '{"values":["1","a"]},{"values":["2","b"]}',
        '{"values":["1",\n"a"]}',
        '{"values":["1","a"]}\r',
        '{"values":"1a"}',
        '{"other":1}',
        "[" * 5000,
        *FORGED,
    ]
)


def _reads(body: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points) if b > a]


def _batched(
    reads: list[bytes], dicts: bool = False, columns: tuple[Column, ...] = COLUMNS
) -> tuple[list[Any], str]:
    """Rows and the final outcome through HttpAnswer and the result's row maker."""
    answer = HttpAnswer("query")
    maker: RowMaker | None = None
    rows: list[Any] = []
    try:
        for index in range(len(reads) + 1):
            items = answer.feed(reads[index]) if index < len(reads) else answer.end()
            if items and maker is None:
                if not isinstance(items[0], Description):
                    raise ProtocolError("rows arrived before the row description")
                assert items[0].columns == columns
                maker = RowMaker(REGISTRY, items[0].columns)
                if dicts:
                    assert maker.use(dict_row)
                items = items[1:]
            if items:
                assert maker is not None
                rows += maker.rows(items)
    except GenericError as exc:
        return rows, f"{type(exc).__name__}: {exc}"
    assert answer.outcome is not None
    if isinstance(answer.outcome, Failure):
        return rows, f"DatabaseError: {answer.outcome.error}"
    return rows, "complete"


def _careful(
    reads: list[bytes], dicts: bool = False, columns: tuple[Column, ...] = COLUMNS
) -> tuple[list[Any], str]:
    """The same through the careful path: every line and frame checked on its own."""
    decoder = NdjsonDecoder()
    order = FrameOrder("query")
    outcome: Any = None
    rows: list[Any] = []
    parse = REGISTRY.row_parser([c.oid for c in columns])
    names = [c.name for c in columns]
    try:
        for index in range(len(reads) + 1):
            objects = decoder.feed(reads[index]) if index < len(reads) else decoder.end()
            batch = []
            for obj in objects:
                frame = order.check(decode_frame(obj))
                if isinstance(frame, Complete | Failure):
                    outcome = frame
                elif isinstance(frame, DataRow):
                    batch.append(frame)
            built = [parse(frame.values) for frame in batch]
            rows += [dict(zip(names, v, strict=True)) if dicts else Row(v) for v in built]
        if outcome is None:
            raise ProtocolError("the response ended before the statement completed (truncated)")
    except GenericError as exc:
        return rows, f"{type(exc).__name__}: {exc}"
    if isinstance(outcome, Failure):
        return rows, f"DatabaseError: {outcome.error}"
    return rows, "complete"


def _body(lines: list[str], ending: str = "\n") -> bytes:
    return ending.join(lines).encode() + ending.encode()


@settings(max_examples=300, deadline=None)
@given(st.lists(_row, max_size=40), st.data(), st.booleans())
def test_batch_decoding_with_reads_split_anywhere(
    rows: list[str], data: st.DataObject, dicts: bool
) -> None:
    body = _body([DESCRIPTION, *rows, COMPLETE])
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=10))
    reads = _reads(body, cuts)
    assert _batched(reads, dicts) == _careful(reads, dicts)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_good_row | _odd_line, max_size=20),
    st.data(),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
)
def test_any_body_gives_the_careful_paths_rows_and_error(
    lines: list[str], data: st.DataObject, ending: str, complete: bool
) -> None:
    body = _body([DESCRIPTION, *lines, *([COMPLETE] if complete else [])], ending)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    reads = _reads(body, cuts)
    assert _batched(reads) == _careful(reads)


@pytest.mark.parametrize("forged", FORGED)
@pytest.mark.parametrize("around", [0, 1, 3])
def test_forged_lines_in_a_run_give_the_careful_paths_answer(forged: str, around: int) -> None:
    good = [f'{{"values":["{i}","r{i}"]}}' for i in range(around)]
    body = _body([DESCRIPTION, *good, forged, *good, COMPLETE])
    expected = _careful([body])
    assert expected[1] != "complete" or forged.startswith('{"values": ')  # the oracle refuses
    assert _batched([body]) == expected


def test_one_read_is_one_json_decode_and_one_run() -> None:
    body = _body([DESCRIPTION, *(f'{{"values":["{i}","r{i}"]}}' for i in range(100)), COMPLETE])
    answer = HttpAnswer("query")
    items = answer.feed(body)
    assert [type(item) for item in items] == [Description, RowRun]
    assert items[1].count == 100  # type: ignore[union-attr]
    assert answer.outcome == Complete()
    assert answer.end() == []


@settings(max_examples=100, deadline=None)
@given(st.lists(_good_row, min_size=1, max_size=20), st.data())
def test_an_error_after_rows(rows: list[str], data: st.DataObject) -> None:
    body = _body([DESCRIPTION, *rows, ERROR])
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=6))
    delivered, outcome = _batched(_reads(body, cuts))
    assert len(delivered) == len(rows)
    assert outcome == "DatabaseError: boom (SQLSTATE 22012)"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_good_row, max_size=10),
    st.sampled_from([COMPLETE, *(json.dumps({"values": ["1", "a"]}),)]),
)
def test_complete_mid_read_then_more_frames_is_a_protocol_error(
    rows: list[str], after: str
) -> None:
    body = _body([DESCRIPTION, *rows, COMPLETE, after])
    with pytest.raises(ProtocolError, match="after the statement had finished"):
        HttpAnswer("query").feed(body)


@settings(max_examples=100, deadline=None)
@given(st.lists(_good_row, max_size=10), st.integers(0, 3))
def test_frames_in_a_read_after_complete_are_a_protocol_error(rows: list[str], blank: int) -> None:
    answer = HttpAnswer("query")
    answer.feed(_body([DESCRIPTION, *rows, COMPLETE]) + b"\n" * blank)
    assert answer.outcome == Complete()
    with pytest.raises(ProtocolError, match="after the statement had finished"):
        answer.feed(b'{"values":["1","a"]}\n')


def test_complete_mid_read_ends_the_rows() -> None:
    answer = HttpAnswer("query")
    body = _body([DESCRIPTION, '{"values":["1","a"]}', COMPLETE])
    items = answer.feed(body + b"\r\n  \n")  # blank lines after complete are no frames
    assert answer.outcome == Complete()
    assert [type(item) for item in items] == [Description, DataRow]  # careful: blank lines
    assert answer.feed(b"\n") == []
    assert answer.end() == []
    answer = HttpAnswer("query")
    assert [type(item) for item in answer.feed(body)] == [Description, RowRun]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text("é€😀ab", min_size=1, max_size=5).map(lambda t: t + "€"), min_size=1, max_size=10
    ),
    st.data(),
)
def test_multi_byte_utf8_across_reads(names: list[str], data: st.DataObject) -> None:
    lines = [json.dumps({"values": [str(i), n]}, ensure_ascii=False) for i, n in enumerate(names)]
    body = _body([DESCRIPTION, *lines, COMPLETE])
    wide = [i for i in range(len(body)) if body[i] >= 0x80]
    cuts = data.draw(st.lists(st.sampled_from(wide), min_size=1, max_size=8))
    rows, outcome = _batched(_reads(body, cuts))
    assert outcome == "complete"
    assert [row.values for row in rows] == [[i, n] for i, n in enumerate(names)]


def test_truncation_after_rows_is_a_protocol_error() -> None:
    answer = HttpAnswer("query")
    answer.feed(_body([DESCRIPTION, '{"values":["1","a"]}']))
    with pytest.raises(ProtocolError, match="truncated"):
        answer.end()


def test_an_error_frame_is_the_outcome_not_an_exception_of_the_machine() -> None:
    answer = HttpAnswer("query")
    answer.feed(_body([DESCRIPTION, ERROR]))
    assert isinstance(answer.outcome, Failure)
    assert isinstance(answer.outcome.error, DatabaseError)


def test_exec_answers_stay_on_the_careful_path() -> None:
    answer = HttpAnswer("exec")
    description = json.dumps({"columns": [{"name": "count", "typeOid": 20}]})
    items = answer.feed(_body([description, '{"values":["3"]}', COMPLETE]))
    assert [type(item) for item in items] == [Description, DataRow]


async def _result(reads: list[bytes]) -> Any:
    from ppg_edge._answers import start_query

    answer = HttpAnswer("query")

    async def frames() -> Any:
        for read in reads:
            if items := answer.feed(read):
                yield items
        if items := answer.end():
            yield items

    return await start_query(frames(), REGISTRY)


async def test_dict_rows_are_built_straight_from_the_wire_or_mapped_once_rows_were_read() -> None:
    lines = [f'{{"values":["{i}","r{i}"]}}' for i in range(6)]
    reads = [_body([DESCRIPTION, *lines[:3]]), _body([*lines[3:], COMPLETE])]
    fresh = await _result(reads)
    assert await fresh.dict_rows().collect() == [{"id": i, "name": f"r{i}"} for i in range(6)]
    started = await _result(reads)
    assert await anext(started.rows) == Row([0, "r0"])
    rest = await started.dict_rows().collect()
    assert rest == [{"id": i, "name": f"r{i}"} for i in range(1, 6)]
    assert rest.columns == list(COLUMNS)


async def test_a_bad_value_in_a_run_raises_the_careful_paths_error() -> None:
    reads = [_body([DESCRIPTION, '{"values":["1","a"]}', '{"values":["x","b"]}', COMPLETE])]
    result = await _result(reads)
    with pytest.raises(GenericError, match="cannot parse value 'x' of type OID 23"):
        await result.rows.collect()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_value, _text | st.none()), max_size=12), st.booleans())
def test_a_sessions_checked_rows_build_as_the_careful_path_does(
    values: list[tuple[str | None, str | None]], dicts: bool
) -> None:
    """A session hands over DataRows (already checked); they are built as one batch."""
    frames = [DataRow(list(v)) for v in values]
    maker = RowMaker(REGISTRY, COLUMNS)
    if dicts:
        maker.use(dict_row)
    body = _body([DESCRIPTION, *(json.dumps({"values": list(v)}) for v in values), COMPLETE])
    expected = _careful([body], dicts)
    try:
        got: tuple[list[Any], str] = (maker.rows(frames), "complete")
    except GenericError as exc:
        got = ([], f"{type(exc).__name__}: {exc}")
    assert got == expected


WIDE = (Column("id", 23), Column("name", 25), Column("score", 701), Column("at", 1184))
WIDE_DESCRIPTION = json.dumps({"columns": [{"name": c.name, "typeOid": c.oid} for c in WIDE]})
_good_at = st.sampled_from(
    [
        "2024-01-31 04:05:06+00",
        "2024-01-31 04:05:06.789+00",
        "2024-01-31 04:05:06.123456+00",
        "2024-01-31 04:05:06.5+05:30",
        "2024-01-31 04:05:06-03:30:15",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999+00",
    ]
)
_bad_at = st.sampled_from(
    [
        "0044-03-15 00:00:00+00 BC",
        "infinity",
        "-infinity",
        "10000-01-01 00:00:00+00",
        "2024-01-31 04:05:06",
        "2024-02-30 00:00:00+00",
        "yesterday",
    ]
)
_score = st.sampled_from(["0.5", "-1e300", "NaN", "Infinity", "-Infinity", "3"])


def _wide_line(values: list[Any]) -> str:
    return json.dumps({"values": values}, ensure_ascii=False, separators=(",", ":"))


_wide_good = st.tuples(
    _ints | st.none(), _text | st.none(), _score | st.none(), _good_at | st.none()
).map(lambda v: _wide_line(list(v)))
_wide_bad = st.one_of(
    st.tuples(_ints, _text, _score, _bad_at).map(lambda v: _wide_line(list(v))),
    st.tuples(_ints, _text, st.sampled_from(["abc", "0x1", ""]), _good_at).map(
        lambda v: _wide_line(list(v))
    ),
    st.tuples(_ints, _text, _score).map(lambda v: _wide_line(list(v))),  # too narrow
    st.tuples(_ints, _text, _score, _good_at, _text).map(lambda v: _wide_line(list(v))),
    st.tuples(_ints, _text, st.floats(allow_nan=False) | st.booleans(), _good_at).map(
        lambda v: _wide_line(list(v))  # a value that is not a string
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_wide_good, max_size=30),
    st.lists(_wide_bad, max_size=2),
    st.data(),
    st.booleans(),
)
def test_fast_path_fallbacks_raise_the_careful_paths_exact_error(
    good: list[str], bad: list[str], data: st.DataObject, dicts: bool
) -> None:
    """Wrong width, a value that is not a string, a bad float or timestamp anywhere in a
    run of the benchmark's shape: the same rows before it and the same exact error."""
    lines = list(good)
    for line in bad:
        lines.insert(data.draw(st.integers(0, len(lines))), line)
    body = _body([WIDE_DESCRIPTION, *lines, COMPLETE])
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=4))
    reads = _reads(body, cuts)
    # compared as text: NaN is a float8 value that equals nothing, not even itself
    assert repr(_batched(reads, dicts, WIDE)) == repr(_careful(reads, dicts, WIDE))


def test_a_good_run_takes_the_fast_path_and_parses_timestamptz_in_utc() -> None:
    from datetime import UTC, datetime

    lines = [
        _wide_line(["1", "a", "0.5", "2024-01-31 04:05:06.123456+00"]),
        _wide_line([None, None, None, "2024-01-31 04:05:06.5+05:30"]),
    ]
    answer = HttpAnswer("query")
    items = answer.feed(_body([WIDE_DESCRIPTION, *lines, COMPLETE]))
    assert [type(item) for item in items] == [Description, RowRun]
    maker = RowMaker(REGISTRY, WIDE)
    assert maker.use(dict_row)
    first, second = maker.rows(items[1:])
    assert first == {
        "id": 1,
        "name": "a",
        "score": 0.5,
        "at": datetime(2024, 1, 31, 4, 5, 6, 123456, tzinfo=UTC),
    }
    assert second["at"] == datetime(2024, 1, 30, 22, 35, 6, 500000, tzinfo=UTC)
    assert second["at"].tzinfo is UTC
    assert second["id"] is None and second["name"] is None and second["score"] is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        (
            _wide_line(["1", "a", "0.5", "0044-03-15 00:00:00+00 BC"]),
            "cannot parse timestamptz value '0044-03-15 00:00:00+00 BC': BC dates are outside",
        ),
        (
            _wide_line(["1", "a", "0.5", "infinity"]),
            "cannot parse timestamptz value 'infinity': Python has no infinite date/time",
        ),
        (
            _wide_line(["1", "a", "0.5", "2024-01-31 04:05:06"]),
            "cannot parse timestamptz value '2024-01-31 04:05:06': no UTC offset",
        ),
        (_wide_line(["1", "a", "abc", None]), "cannot parse value 'abc' of type OID 701"),
        (_wide_line(["1", "a", "0.5"]), "a data row has 3 values for 4 columns"),
        (_wide_line(["1", "a", 0.5, None]), "a data row's values must be a list of strings"),
    ],
)
async def test_a_bad_row_after_good_ones_in_a_run_raises_the_exact_error(
    line: str, error: str
) -> None:
    good = [_wide_line([str(i), "x", "1.5", "2024-01-01 00:00:00+00"]) for i in range(50)]
    answer = HttpAnswer("query")

    async def frames() -> Any:
        yield answer.feed(_body([WIDE_DESCRIPTION, *good, line, *good, COMPLETE]))

    from ppg_edge._answers import start_query

    with pytest.raises(GenericError) as caught:  # the machine's or the row function's
        await (await start_query(frames(), REGISTRY)).dict_rows().collect()
    assert str(caught.value).startswith(error)


def test_lines_that_join_into_valid_json_are_not_taken_for_rows() -> None:
    """Two broken lines whose concatenation would decode: the careful path refuses them."""
    answer = HttpAnswer("query")
    body = (
        b'{"columns":[{"name":"v","typeOid":25}]}\n'
        b'{"values":["a\n{"]},{"values":["b"]}\n{"complete":true}\n'
    )
    with pytest.raises(ProtocolError, match="not JSON"):
        answer.feed(body)
