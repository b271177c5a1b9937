"""Statement framing: descriptor JSON, inline vs extended at the 1 KiB rule."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest

from ppg_edge._parameter_streams import stream_chunks
from ppg_edge.core.errors import ValidationError
from ppg_edge.core.parameters import (
    BINARY,
    TEXT,
    bounded_byte_stream_parameter,
    byte_array_parameter,
)
from ppg_edge.core.protocol import INLINE_PARAMETER_LIMIT
from ppg_edge.core.statement import ExactSize, check_source, encode_statement


def _descriptor(kind: str, sql: str, values: list[object]) -> dict[str, object]:
    return json.loads(encode_statement(kind, sql, values).descriptor)  # type: ignore[arg-type]


def test_without_parameters_the_key_is_omitted() -> None:
    assert _descriptor("query", "SELECT 1", []) == {"query": "SELECT 1"}
    assert _descriptor("exec", "BEGIN", []) == {"exec": "BEGIN"}


def test_inline_text_null_and_binary() -> None:
    params = _descriptor("query", "$1 $2 $3", ["abc", None, byte_array_parameter(b"\x00\xff")])
    assert params["parameters"] == [
        {"type": "text", "value": "abc"},
        {"type": "text", "value": None},
        {"type": "binary", "value": base64.b64encode(b"\x00\xff").decode()},
    ]


def test_text_byte_array_inline_is_decoded_text() -> None:
    params = _descriptor("query", "$1", [byte_array_parameter("héllo".encode(), TEXT)])
    assert params["parameters"] == [{"type": "text", "value": "héllo"}]


def test_inline_limit_counts_utf8_bytes() -> None:
    at_limit = "é" * (INLINE_PARAMETER_LIMIT // 2)  # exactly 1024 bytes
    over = at_limit + "a"
    encoded = encode_statement("query", "$1 $2", [at_limit, over])
    params = json.loads(encoded.descriptor)["parameters"]
    assert params[0] == {"type": "text", "value": at_limit}
    assert params[1] == {"type": "text", "byteSize": INLINE_PARAMETER_LIMIT + 1}
    assert [p.size for p in encoded.extended] == [INLINE_PARAMETER_LIMIT + 1]


def test_large_binary_is_extended_and_streams_always_are() -> None:
    big = byte_array_parameter(bytes(INLINE_PARAMETER_LIMIT + 1))
    small_stream = bounded_byte_stream_parameter([b"ab"], BINARY, 2)
    encoded = encode_statement("exec", "$1 $2", [big, small_stream])
    params = json.loads(encoded.descriptor)["parameters"]
    assert params == [
        {"type": "binary", "byteSize": INLINE_PARAMETER_LIMIT + 1},
        {"type": "binary", "byteSize": 2},
    ]
    assert [p.format for p in encoded.extended] == ["binary", "binary"]


def test_unsupported_values_and_kinds_raise() -> None:
    with pytest.raises(ValidationError):
        encode_statement("query", "$1", [42])  # type: ignore[list-item]
    with pytest.raises(ValidationError):
        encode_statement("select", "SELECT 1", [])
    with pytest.raises(ValidationError):
        encode_statement("query", "$1", [byte_array_parameter(b"\xff", TEXT)])


async def _collect(chunks: AsyncIterator[object]) -> bytes:
    return b"".join([bytes(c) async for c in chunks])  # type: ignore[arg-type]


async def test_stream_must_deliver_exactly_its_size() -> None:
    async def source() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b"de"

    assert await _collect(stream_chunks(bounded_byte_stream_parameter(source(), BINARY, 5))) == (
        b"abcde"
    )
    with pytest.raises(ValidationError, match="more than"):
        await _collect(stream_chunks(bounded_byte_stream_parameter([b"abcdef"], BINARY, 5)))
    with pytest.raises(ValidationError, match="delivered 3"):
        await _collect(stream_chunks(bounded_byte_stream_parameter([b"abc"], BINARY, 5)))
    with pytest.raises(ValidationError):
        await _collect(stream_chunks(bounded_byte_stream_parameter(["text"], BINARY, 4)))
    with pytest.raises(ValidationError):
        await _collect(stream_chunks(bounded_byte_stream_parameter(b"abc", BINARY, 3)))


def test_exact_size_checks_chunks_without_reading_anything() -> None:
    check = ExactSize(bounded_byte_stream_parameter([], BINARY, 4))
    assert check.take(b"ab") == b"ab"
    assert check.take(memoryview(b"c")) == b"c"
    with pytest.raises(ValidationError, match="delivered 3 bytes, not its declared 4"):
        check.finish()
    with pytest.raises(ValidationError, match="more than its declared 4"):
        check.take(bytearray(b"de"))
    with pytest.raises(ValidationError, match="yielded str"):
        ExactSize(bounded_byte_stream_parameter([], TEXT, 4)).take("abcd")


def test_check_source_refuses_what_is_not_an_iterable_of_chunks() -> None:
    check_source([b"a"])
    check_source(_agen())
    for bad in (b"abc", "abc", 42):
        with pytest.raises(ValidationError):
            check_source(bad)


async def _agen() -> AsyncIterator[bytes]:
    yield b"a"
