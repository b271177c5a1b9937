"""The lazy multipart encoder, parsed back with the stdlib email parser."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from email import policy
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppg_edge._parameter_streams import body_chunks
from ppg_edge.core.errors import ValidationError
from ppg_edge.core.multipart import MultipartBody
from ppg_edge.core.parameters import (
    BINARY,
    TEXT,
    bounded_byte_stream_parameter,
    byte_array_parameter,
)
from ppg_edge.core.protocol import (
    BINARY_PARAM_URN,
    DESCRIPTOR_URN,
    INLINE_PARAMETER_LIMIT,
    TEXT_PARAM_URN,
)
from ppg_edge.core.statement import encode_statement
from ppg_edge.runtime.base import ReplayableBody


async def _body(body: MultipartBody) -> tuple[bytes, list[int]]:
    pieces = [bytes(chunk) async for chunk in body_chunks(body)]
    return b"".join(pieces), [len(p) for p in pieces]


def _parts(content_type: str, data: bytes) -> list[tuple[str | None, str, bytes]]:
    message = BytesParser(policy=policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + data
    )
    assert message.is_multipart()
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()  # type: ignore[attr-defined]
    ]


def _stream(data: bytes, pieces: int) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        step = max(1, len(data) // max(pieces, 1))
        for start in range(0, len(data), step):
            yield data[start : start + step]

    return gen()


_values = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(min_size=INLINE_PARAMETER_LIMIT // 3, max_size=INLINE_PARAMETER_LIMIT + 300),
    st.binary(max_size=2 * INLINE_PARAMETER_LIMIT).map(lambda b: ("bytes", b)),
    st.tuples(st.binary(max_size=3000), st.integers(1, 7)).map(lambda t: ("stream", *t)),
)


def _wire(value: Any) -> Any:
    if isinstance(value, tuple) and value[0] == "bytes":
        return byte_array_parameter(value[1], BINARY)
    if isinstance(value, tuple):
        return bounded_byte_stream_parameter(_stream(value[1], value[2]), BINARY, len(value[1]))
    return value


def _expected_bytes(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else value[1]


@settings(max_examples=60, deadline=None)
@given(st.lists(_values, max_size=6))
async def test_round_trip_through_a_real_multipart_parser(values: list[Any]) -> None:
    statement = encode_statement("query", "SELECT 1", [_wire(v) for v in values])
    body = MultipartBody(statement)
    data, _ = await _body(body)
    assert len(data) == body.size
    parts = _parts(body.content_type, data)
    name, ctype, payload = parts[0]
    assert (name, ctype) == (DESCRIPTOR_URN, "application/json")
    descriptor = json.loads(payload)
    extended = [
        v for v, p in zip(values, descriptor.get("parameters", []), strict=True) if "byteSize" in p
    ]
    assert len(parts) == 1 + len(extended)
    for value, (name, _, payload) in zip(extended, parts[1:], strict=True):
        expected_name = TEXT_PARAM_URN if isinstance(value, str) else BINARY_PARAM_URN
        assert name == expected_name
        assert payload == _expected_bytes(value)


async def test_large_parameter_is_never_joined_into_one_buffer() -> None:
    chunk = b"x" * 65536
    count = 64

    async def source() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield chunk

    param = bounded_byte_stream_parameter(source(), BINARY, len(chunk) * count)
    body = MultipartBody(encode_statement("exec", "INSERT $1", [param]))
    largest = 0
    total = 0
    async for piece in body_chunks(body):
        largest = max(largest, len(piece))
        total += len(piece)
    assert largest == len(chunk)
    assert total == body.size


async def test_text_part_headers_and_boundary() -> None:
    text = "ü" * INLINE_PARAMETER_LIMIT
    body = MultipartBody(encode_statement("query", "$1", [text]), boundary="B0undary")
    data, _ = await _body(body)
    assert body.content_type == 'multipart/form-data; profile="urn:prisma:query"; boundary=B0undary'
    assert data.startswith(b"--B0undary\r\n")
    assert data.endswith(b"--B0undary--\r\n")
    assert b'charset=utf-8; profile="urn:prisma:query:param:text"' in data
    parts = _parts(body.content_type, data)
    assert parts[1][2].decode() == text


async def test_stream_with_wrong_size_fails_while_encoding() -> None:
    param = bounded_byte_stream_parameter([b"abc"], TEXT, 4)
    body = MultipartBody(encode_statement("query", "$1", [param]))
    with pytest.raises(ValidationError):
        await _body(body)


def test_boundaries_are_random() -> None:
    statement = encode_statement("query", "SELECT 1", [])
    assert MultipartBody(statement).boundary != MultipartBody(statement).boundary


async def test_body_without_streams_replays_identically() -> None:
    large = byte_array_parameter(b"x" * (INLINE_PARAMETER_LIMIT + 1), BINARY)
    body = MultipartBody(encode_statement("query", "SELECT $1, $2", [large, "7"]))
    assert len(body.statement.extended) == 1
    assert body.replayable
    replayed = ReplayableBody(lambda: body_chunks(body))
    first = b"".join([bytes(chunk) async for chunk in replayed])
    second = b"".join([bytes(chunk) async for chunk in replayed])
    assert first == second
    assert len(first) == body.size


def test_body_with_a_stream_is_not_replayable() -> None:
    stream = bounded_byte_stream_parameter(_stream(b"abc", 1), BINARY, 3)
    body = MultipartBody(encode_statement("query", "SELECT $1", [stream]))
    assert not body.replayable


def test_pieces_leave_a_stream_in_place_for_the_face() -> None:
    stream = bounded_byte_stream_parameter([b"abc"], BINARY, 3)
    body = MultipartBody(encode_statement("query", "SELECT $1", [stream]), boundary="B")
    pieces = list(body.pieces())
    assert pieces[2] is stream
    assert all(isinstance(piece, bytes) for index, piece in enumerate(pieces) if index != 2)
    assert sum(len(p) for p in pieces if isinstance(p, bytes)) + stream.size == body.size
