"""Incremental NDJSON decoding of a statement's HTTP response body.

Lines are split on the newline byte before decoding, so chunks may be cut
anywhere, even inside a multi-byte UTF-8 character (0x0A never occurs inside
one). CRLF line ends and a last line without a newline are accepted.
"""

from __future__ import annotations

import json
from typing import Any

from ppg_edge.core.errors import ProtocolError

_DECODER = json.JSONDecoder()


class NdjsonDecoder:
    """Feed bytes as they arrive; get back the complete JSON objects they finish."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Decode every line completed by `data`; keep the unfinished tail."""
        chunk = bytes(data)
        newline = chunk.rfind(b"\n")  # search only the new bytes: long lines stay linear
        end = len(self._buffer) + newline
        self._buffer += chunk
        if newline == -1:
            return []
        complete = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return _decode_lines(complete)

    def end(self) -> list[Any]:
        """The body is over: decode a last line that had no newline."""
        tail, self._buffer = bytes(self._buffer), bytearray()
        return _decode_lines(tail)

    @property
    def pending(self) -> int:
        """Bytes held of an unfinished line."""
        return len(self._buffer)


def _decode_lines(data: bytes) -> list[Any]:
    """Every non-blank line of `data` (whole lines only) as a JSON object."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"the response is not valid UTF-8: {exc}") from None
    decode = _DECODER.decode
    objects = []
    for line in text.split("\n"):
        if not line or line.isspace():
            continue
        try:
            value = decode(line)
        except ValueError as exc:
            raise ProtocolError(f"the response holds a line that is not JSON: {exc}") from None
        if type(value) is not dict:
            raise ProtocolError("the response holds a JSON line that is not an object")
        objects.append(value)
    return objects
