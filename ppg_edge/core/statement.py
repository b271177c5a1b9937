"""Statement framing: descriptor JSON plus the extended parameters that follow it.

Values of at most INLINE_PARAMETER_LIMIT bytes travel inline in the descriptor
(binary ones as base64); larger ones, and every stream, travel as extended
parameters of a declared size, in parameter order (PROTOCOL.md section 2).

Nothing here reads a user's stream: a face (async or sync) pulls it and passes
each chunk through `ExactSize`, which holds the stream to its declared size.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ppg_edge.core.errors import ValidationError
from ppg_edge.core.parameters import (
    BINARY,
    TEXT,
    BoundedByteStreamParameter,
    ByteArrayParameter,
    Bytes,
    ParameterFormat,
    WireValue,
)
from ppg_edge.core.protocol import EXEC_KIND, INLINE_PARAMETER_LIMIT, QUERY_KIND

StatementKind: TypeAlias = Literal["query", "exec"]


@dataclass(frozen=True, eq=False)
class ExtendedParameter:
    """A parameter sent after the descriptor: `data` is bytes or a bounded stream."""

    format: ParameterFormat
    size: int
    data: Bytes | BoundedByteStreamParameter

    @property
    def stream(self) -> BoundedByteStreamParameter | None:
        """The user's stream when the value still has to be pulled, else None."""
        return self.data if isinstance(self.data, BoundedByteStreamParameter) else None


@dataclass(frozen=True, eq=False)
class EncodedStatement:
    """A statement ready for either transport."""

    kind: StatementKind
    descriptor: str
    extended: tuple[ExtendedParameter, ...]


def encode_statement(kind: str, sql: str, values: Sequence[WireValue]) -> EncodedStatement:
    """Build the descriptor JSON and the list of extended parameters."""
    if kind not in (QUERY_KIND, EXEC_KIND):
        raise ValidationError(f"statement kind must be 'query' or 'exec', not {kind!r}")
    if not isinstance(sql, str):
        raise ValidationError("SQL text must be a str")
    inline: list[dict[str, Any]] = []
    extended: list[ExtendedParameter] = []
    for index, value in enumerate(values, start=1):
        inline.append(_encode_parameter(index, value, extended))
    descriptor: dict[str, Any] = {kind: sql}
    if inline:
        descriptor["parameters"] = inline
    text = json.dumps(descriptor, ensure_ascii=False, separators=(",", ":"))
    statement_kind: StatementKind = "query" if kind == QUERY_KIND else "exec"
    return EncodedStatement(statement_kind, text, tuple(extended))


def _encode_parameter(
    index: int, value: WireValue, extended: list[ExtendedParameter]
) -> dict[str, Any]:
    if value is None:
        return {"type": TEXT, "value": None}
    if isinstance(value, str):
        data = value.encode("utf-8")
        if len(data) <= INLINE_PARAMETER_LIMIT:
            return {"type": TEXT, "value": value}
        return _extend(ExtendedParameter(TEXT, len(data), data), extended)
    if isinstance(value, ByteArrayParameter):
        if value.size <= INLINE_PARAMETER_LIMIT:
            return {"type": value.format, "value": _inline_bytes(index, value)}
        return _extend(ExtendedParameter(value.format, value.size, value.data), extended)
    if isinstance(value, BoundedByteStreamParameter):
        return _extend(ExtendedParameter(value.format, value.size, value), extended)
    raise ValidationError(
        f"parameter ${index} must serialize to None, str or a byte parameter, "
        f"not {type(value).__name__}"
    )


def _extend(parameter: ExtendedParameter, extended: list[ExtendedParameter]) -> dict[str, Any]:
    extended.append(parameter)
    return {"type": parameter.format, "byteSize": parameter.size}


def _inline_bytes(index: int, value: ByteArrayParameter) -> str:
    if value.format == BINARY:
        return base64.b64encode(value.data).decode("ascii")
    try:
        return bytes(value.data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"text parameter ${index} is not valid UTF-8") from exc


class ExactSize:
    """Holds a stream parameter to its declared size while a face pulls its chunks.

    `take` each chunk as it arrives (it is checked and handed back), then `finish`;
    too many bytes fail at the chunk that overflows, too few at `finish`, so a
    bad stream fails before the statement's end is sent.
    """

    def __init__(self, parameter: BoundedByteStreamParameter) -> None:
        self.size = parameter.size
        self.sent = 0

    def take(self, chunk: object) -> Bytes:
        """Check one chunk; returns it (possibly empty) typed as bytes."""
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ValidationError(
                f"a stream parameter yielded {type(chunk).__name__}, expected bytes"
            )
        self.sent += memoryview(chunk).nbytes
        if self.sent > self.size:
            raise ValidationError(
                f"a stream parameter delivered more than its declared {self.size} bytes"
            )
        return chunk

    def finish(self) -> None:
        """The stream ended: it must have delivered exactly its declared size."""
        if self.sent != self.size:
            raise ValidationError(
                f"a stream parameter delivered {self.sent} bytes, not its declared {self.size}"
            )


def check_source(source: object) -> None:
    """Refuse a stream parameter's source that is not an iterable of chunks.

    Bytes and str are iterable but would send ints or characters; an async
    iterable is for the async face to pull.
    """
    if isinstance(source, bytes | bytearray | memoryview | str):
        raise ValidationError("a stream parameter's source must be an iterable of chunks")
    if not isinstance(source, Iterable | AsyncIterable):
        raise ValidationError("a stream parameter's source is not iterable")
