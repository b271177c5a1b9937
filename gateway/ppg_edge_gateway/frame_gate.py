"""Checks on client WebSocket frames that aiohttp's parser does not make.

RFC 6455 section 5.1: a server must fail the connection on an unmasked client
frame; aiohttp accepts them. And aiohttp buffers a message up to
``max_msg_size`` (``--max-body-size``, 64 MiB) before anyone has checked who
sends it. ``FrameGate`` reads only frame headers, in front of aiohttp's parser:
every frame must be masked (close 1002) and the first data message, the auth
message, at most ``MAX_AUTH_MESSAGE`` bytes (close 1009), so an unauthenticated
socket never holds more than that. Everything else (reserved bits, opcodes,
UTF-8, later sizes) stays aiohttp's, whose close reasons ``GatewaySocket`` fills in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from ppg_edge.core.protocol import CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR

from .config import MAX_AUTH_MESSAGE

FIRST_DATA_OPCODES = (0x0, 0x1, 0x2)
"""Continuation, text, binary: the frames a message's size is made of."""
Failure = Callable[[int, str], None]


class FrameParser(Protocol):
    """What aiohttp's protocol calls on the WebSocket parser it was given."""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]: ...

    def feed_eof(self) -> None: ...


class FrameGate:
    """Wraps aiohttp's WebSocket parser; ``fail(code, reason)`` ends the connection."""

    def __init__(self, parser: FrameParser, fail: Failure, first_limit: int = MAX_AUTH_MESSAGE):
        self.parser = parser
        self.fail = fail
        self.first_limit = first_limit
        self.first_size: int | None = 0
        """Bytes of the first data message so far; None once it is complete."""
        self.head = bytearray()
        self.skip = 0
        self.failed = False

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        """Check the frame headers in ``data``, then hand it on unless a rule broke."""
        if self.failed:
            return False, b""
        problem = self._scan(data)
        if problem is not None:
            self.failed = True
            self.fail(*problem)
            return False, b""
        return self.parser.feed_data(data)

    def feed_eof(self) -> None:
        """The connection ended."""
        self.parser.feed_eof()

    def _scan(self, data: bytes) -> tuple[int, str] | None:
        position, end = 0, len(data)
        while position < end:
            if self.skip:
                step = min(self.skip, end - position)
                self.skip -= step
                position += step
                continue
            chunk = data[position : position + self._header_size() - len(self.head)]
            self.head += chunk
            position += len(chunk)
            if len(self.head) == self._header_size():
                problem = self._frame(bytes(self.head))
                self.head.clear()
                if problem is not None:
                    return problem
        return None

    def _header_size(self) -> int:
        """Bytes in the header being read: 2 until its second byte tells the rest."""
        if len(self.head) < 2:
            return 2
        second = self.head[1]
        return 2 + {126: 2, 127: 8}.get(second & 0x7F, 0) + (4 if second & 0x80 else 0)

    def _frame(self, head: bytes) -> tuple[int, str] | None:
        """Judge one complete frame header; sets how many payload bytes follow."""
        fin, opcode = head[0] & 0x80, head[0] & 0x0F
        if not head[1] & 0x80:
            return CLOSE_PROTOCOL_ERROR, "protocol error: client frames must be masked"
        length = head[1] & 0x7F
        if length == 126:
            length = int.from_bytes(head[2:4], "big")
        elif length == 127:
            length = int.from_bytes(head[2:10], "big")
        self.skip = length
        if self.first_size is not None and opcode in FIRST_DATA_OPCODES:
            self.first_size += length
            if self.first_size > self.first_limit:
                return CLOSE_MESSAGE_TOO_BIG, (
                    f"too big: the auth message may hold at most {self.first_limit} bytes"
                )
            if fin:
                self.first_size = None
        return None
