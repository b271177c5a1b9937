"""Incremental NDJSON: bytes split anywhere, multi-byte UTF-8, CRLF, unterminated tail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppg_edge.core.errors import ProtocolError
from ppg_edge.core.ndjson import NdjsonDecoder
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_objects = st.dictionaries(st.text(max_size=6), _json_values, max_size=4)


def _decode_in_pieces(data: bytes, cuts: list[int]) -> list[Any]:
    decoder = NdjsonDecoder()
    out: list[Any] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += decoder.feed(data[start:cut])
        start = cut
    out += decoder.feed(data[start:])
    return out + decoder.end()


@settings(max_examples=200)
@given(
    st.lists(_objects, max_size=8),
    st.data(),
    st.sampled_from([b"\n", b"\r\n"]),
    st.booleans(),
    st.booleans(),
)
def test_split_anywhere(
    objects: list[dict[str, Any]], data: st.DataObject, newline: bytes, ascii_only: bool, tail: bool
) -> None:
    lines = [json.dumps(o, ensure_ascii=ascii_only).encode() for o in objects]
    body = newline.join(lines) + (newline if lines and tail else b"")
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert _decode_in_pieces(body, cuts) == objects


def test_split_inside_a_multibyte_character() -> None:
    body = json.dumps({"v": "€😀"}, ensure_ascii=False).encode() + b"\n"
    index = body.index("😀".encode()) + 2
    decoder = NdjsonDecoder()
    assert decoder.feed(body[:index]) == []
    assert decoder.pending == index
    assert decoder.feed(body[index:]) == [{"v": "€😀"}]


def test_byte_by_byte_and_blank_lines() -> None:
    body = b'\n{"complete": true}\r\n\r\n  \n{"a":1}'
    decoder = NdjsonDecoder()
    out: list[Any] = []
    for byte in body:
        out += decoder.feed(bytes([byte]))
    assert out == [{"complete": True}]
    assert decoder.end() == [{"a": 1}]
    assert decoder.end() == []


@pytest.mark.parametrize("line", [b"{not json}\n", b"[1,2]\n", b'"s"\n', b'{"v":"\xff"}\n'])
def test_bad_lines_raise_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError):
        NdjsonDecoder().feed(line)


def test_bad_tail_raises_at_end() -> None:
    decoder = NdjsonDecoder()
    decoder.feed(b'{"a":')
    with pytest.raises(ProtocolError):
        decoder.end()


def test_the_default_cap_is_the_protocol_constant() -> None:
    assert NdjsonDecoder().max_line_bytes == MAX_RESULT_FRAME_BYTES


@settings(max_examples=300)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=6),
    st.integers(2, 32),
    st.data(),
    st.booleans(),
)
def test_a_line_over_the_cap_is_refused_wherever_the_chunks_are_cut(
    sizes: list[int], cap: int, data: st.DataObject, tail: bool
) -> None:
    """Lines of `sizes` bytes (newline not counted), any cap, cut anywhere: the decoder
    refuses iff some line is over the cap, and never holds more than the cap between
    chunks (the unfinished tail is all it keeps)."""
    lines = [b"{" + b" " * (size - 2) + b"}" if size >= 2 else b" " * size for size in sizes]
    body = b"\n".join(lines) + (b"\n" if tail else b"")
    cuts = sorted(set(data.draw(st.lists(st.integers(0, len(body)), max_size=12))))
    decoder = NdjsonDecoder(cap)
    too_long = any(len(line) > cap for line in lines)
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    try:
        for piece in pieces:
            decoder.feed(piece)
            assert decoder.pending <= cap
        decoder.end()
    except ProtocolError as exc:
        assert too_long, exc
        assert "max_frame_bytes" in str(exc)
    else:
        assert not too_long


def test_an_endless_line_is_refused_after_at_most_the_cap() -> None:
    decoder = NdjsonDecoder(1000)
    decoder.feed(b'{"a": 1}\n{"values": ["')
    fed = 0
    with pytest.raises(ProtocolError, match="over 1000 bytes"):
        while fed < 1_000_000:
            decoder.feed(b"x" * 100)
            fed += 100
            assert decoder.pending <= 1000
    assert fed <= 1000


@pytest.mark.parametrize("nesting", [b"[" * 100_000, b'{"a":' * 100_000])
def test_deep_nesting_is_a_protocol_error(nesting: bytes) -> None:
    with pytest.raises(ProtocolError, match="nested too deeply"):
        NdjsonDecoder().feed(nesting + b"\n")
