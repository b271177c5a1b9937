"""Statement framing: descriptor JSON plus the extended parameters that follow it.

Values of at most INLINE_PARAMETER_LIMIT bytes travel inline in the descriptor
(binary ones as base64); larger ones, and every stream, travel as extended
parameters of a declared size, in parameter order (PROTOCOL.md section 2).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Sequence
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

    async def chunks(self) -> AsyncIterator[Bytes]:
        """The value's bytes, piece by piece, checked against the declared size."""
        if isinstance(self.data, BoundedByteStreamParameter):
            async for chunk in stream_exactly(self.data):
                yield chunk
        else:
            yield self.data


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


async def stream_exactly(parameter: BoundedByteStreamParameter) -> AsyncIterator[Bytes]:
    """Yield a stream parameter's chunks; it must deliver exactly its declared size."""
    sent = 0
    async for chunk in _iterate(parameter.source):
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise ValidationError(
                f"a stream parameter yielded {type(chunk).__name__}, expected bytes"
            )
        sent += memoryview(chunk).nbytes
        if sent > parameter.size:
            raise ValidationError(
                f"a stream parameter delivered more than its declared {parameter.size} bytes"
            )
        if chunk:
            yield chunk
    if sent != parameter.size:
        raise ValidationError(
            f"a stream parameter delivered {sent} bytes, not its declared {parameter.size}"
        )


async def _iterate(source: Any) -> AsyncIterator[Any]:
    if hasattr(source, "__aiter__"):
        async for chunk in source:
            yield chunk
    elif isinstance(source, bytes | bytearray | memoryview | str):
        raise ValidationError("a stream parameter's source must be an iterable of chunks")
    else:
        try:
            iterator = iter(source)
        except TypeError as exc:
            raise ValidationError("a stream parameter's source is not iterable") from exc
        for chunk in iterator:
            yield chunk
