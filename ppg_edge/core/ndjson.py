"""Incremental NDJSON decoding of a statement's HTTP response body.

Lines are split on the newline byte before decoding, so chunks may be cut
anywhere, even inside a multi-byte UTF-8 character (0x0A never occurs inside
one). CRLF line ends and a last line without a newline are accepted.
"""

from __future__ import annotations

import json
from typing import Any

from ppg_edge.core.errors import ProtocolError


class NdjsonDecoder:
    """Feed bytes as they arrive; get back the complete JSON objects they finish."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Decode every line completed by `data`; keep the unfinished tail."""
        if b"\n" not in data:
            self._buffer += data
            return []
        self._buffer += data
        lines = self._buffer.split(b"\n")
        self._buffer = lines.pop()
        return [_decode(line) for line in lines if line.strip()]

    def end(self) -> list[Any]:
        """The body is over: decode a last line that had no newline."""
        tail, self._buffer = self._buffer, bytearray()
        return [_decode(tail)] if tail.strip() else []

    @property
    def pending(self) -> int:
        """Bytes held of an unfinished line."""
        return len(self._buffer)


def _decode(line: bytes | bytearray) -> Any:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"the response holds a line that is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("the response holds a JSON line that is not an object")
    return value
