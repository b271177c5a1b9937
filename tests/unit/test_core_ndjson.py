"""Incremental NDJSON: bytes split anywhere, multi-byte UTF-8, CRLF, unterminated tail."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppg_edge.core.errors import ProtocolError
from ppg_edge.core.ndjson import NdjsonDecoder

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=5), inner, max_size=3),
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
