"""Incremental NDJSON decoding of a statement's HTTP response body.

Lines are split on the newline byte before decoding, so chunks may be cut
anywhere, even inside a multi-byte UTF-8 character (0x0A never occurs inside
one). CRLF line ends and a last line without a newline are accepted.

A line longer than `max_line_bytes` (its newline not counted) is a
ProtocolError as soon as that is known, wherever the chunks are cut: the
unfinished tail held between chunks never exceeds the cap, so a server that
never ends a line costs at most the cap plus one chunk, not everything it sends.
"""

from __future__ import annotations

from typing import Any

from ppg_edge.core.errors import ProtocolError
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES
from ppg_edge.core.wirejson import decode_all


class NdjsonDecoder:
    """Feed bytes as they arrive; get back the complete JSON objects they finish."""

    def __init__(self, max_line_bytes: int = MAX_RESULT_FRAME_BYTES) -> None:
        self._buffer = bytearray()
        self.max_line_bytes = max_line_bytes

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Decode every line completed by `data`; keep the unfinished tail."""
        return self.objects(self.feed_text(data))

    def end(self) -> list[Any]:
        """The body is over: decode a last line that had no newline."""
        return self.objects(self.end_text())

    def feed_text(self, data: bytes | bytearray | memoryview) -> str:
        """The text of every line completed by `data` ("" if none), checked for
        length and UTF-8 but not yet decoded: a caller may decode it in one go."""
        chunk = bytes(data)
        newline = chunk.rfind(b"\n")  # search only the new bytes: long lines stay linear
        if newline == -1:
            self._check_tail(len(self._buffer) + len(chunk))
            self._buffer += chunk
            return ""
        self._check_tail(len(chunk) - newline - 1)
        end = len(self._buffer) + newline
        self._buffer += chunk
        complete = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return self._text(complete)

    def end_text(self) -> str:
        """The text of a last line that had no newline ("" if none)."""
        tail, self._buffer = bytes(self._buffer), bytearray()
        return self._text(tail)

    @property
    def pending(self) -> int:
        """Bytes held of an unfinished line."""
        return len(self._buffer)

    def _check_tail(self, size: int) -> None:
        """Refuse to hold more of an unfinished line than one line may have."""
        if size > self.max_line_bytes:
            raise self._too_long()

    def _text(self, data: bytes) -> str:
        """Whole lines as text, once no line is over the cap and the bytes are UTF-8."""
        if len(data) > self.max_line_bytes and any(
            len(line) > self.max_line_bytes for line in data.split(b"\n")
        ):
            raise self._too_long()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"the response is not valid UTF-8: {exc}") from None

    @staticmethod
    def objects(text: str) -> list[Any]:
        """Every non-blank line of `text` (from `feed_text`) as a JSON object, line by line."""
        lines = [line for line in text.split("\n") if line and not line.isspace()]
        objects = decode_all(lines, "a response line")
        if not all(type(value) is dict for value in objects):
            raise ProtocolError("the response holds a JSON line that is not an object")
        return objects

    def _too_long(self) -> ProtocolError:
        return ProtocolError(
            f"the response holds a line over {self.max_line_bytes} bytes "
            "(the client's max_frame_bytes)"
        )
