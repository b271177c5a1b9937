"""Raw parameter values that bypass text serialization.

A serializer produces `None` (SQL NULL), a `str` (a text-format value) or one of
the two parameter objects below, which carry bytes in an explicit format.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from typing import Final, Literal, TypeAlias

from ppg_edge.core.errors import ValidationError
from ppg_edge.core.protocol import BINARY_FORMAT, TEXT_FORMAT

ParameterFormat: TypeAlias = Literal["text", "binary"]
TEXT: Final[ParameterFormat] = TEXT_FORMAT
BINARY: Final[ParameterFormat] = BINARY_FORMAT

Bytes: TypeAlias = bytes | bytearray | memoryview
ByteSource: TypeAlias = AsyncIterable[Bytes] | Iterable[Bytes]


def _check_format(fmt: str) -> ParameterFormat:
    if fmt == TEXT:
        return TEXT
    if fmt == BINARY:
        return BINARY
    raise ValidationError(f"parameter format must be {TEXT!r} or {BINARY!r}, not {fmt!r}")


@dataclass(frozen=True, eq=False)
class ByteArrayParameter:
    """Bytes sent as they are, in text (UTF-8) or binary format."""

    data: Bytes
    format: ParameterFormat

    @property
    def size(self) -> int:
        return memoryview(self.data).nbytes


@dataclass(frozen=True, eq=False)
class BoundedByteStreamParameter:
    """A stream of exactly `size` bytes, uploaded without being held in memory."""

    source: ByteSource
    format: ParameterFormat
    size: int


WireValue: TypeAlias = str | ByteArrayParameter | BoundedByteStreamParameter | None
"""What a serializer hands to the statement encoder."""


def byte_array_parameter(data: Bytes, fmt: str = BINARY) -> ByteArrayParameter:
    """Send `data` verbatim as a text or binary parameter."""
    return ByteArrayParameter(data, _check_format(fmt))


def bounded_byte_stream_parameter(
    source: ByteSource, fmt: str, size: int
) -> BoundedByteStreamParameter:
    """Stream `size` bytes from `source` (sync or async iterable of chunks)."""
    if size < 0:
        raise ValidationError("a stream parameter's size cannot be negative")
    return BoundedByteStreamParameter(source, _check_format(fmt), size)
