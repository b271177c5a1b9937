"""A fast path for the WebSocket data frames a server sends (RFC 6455 section 5.2).

wsproto runs every incoming frame through several layers of generators, which
dominated a session streaming many small row messages. `FrameReader` cuts
unmasked data frames straight out of one buffer and hands everything else to
wsproto as whole frames: control frames (ping, pong, close), so wsproto keeps
answering pings and running the close handshake, and anything malformed
(masked frames, RSV bits, reserved opcodes), from which point on every byte
goes to wsproto, so it reports the protocol error as it always did.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from wsproto import WSConnection

from ppg_edge.runtime.base import Message

CONTINUATION: Final = 0x0
TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_INVALID_DATA: Final = 1007
CLOSE_MESSAGE_TOO_BIG: Final = 1009
_MAX_CONTROL_PAYLOAD: Final = 125
_WHOLE_TEXT: Final = 0x80 | TEXT
_WHOLE_MESSAGE: Final = frozenset({_WHOLE_TEXT, 0x80 | BINARY})
_NOT_UTF8: Final = "a text message is not valid UTF-8"
_CONTROL_OPCODES: Final = frozenset({0x8, 0x9, 0xA})


@dataclass(frozen=True)
class FrameFault:
    """The server broke a rule only this reader can see: close with `code`."""

    code: int
    reason: str


Item = Message | FrameFault | None
"""A whole message; a fault; or None: wsproto got bytes, handle its events now."""


class FrameReader:
    """Splits received bytes into whole messages, passing the rest to a wsproto engine."""

    def __init__(self, engine: WSConnection, max_message_size: int) -> None:
        self._engine = engine
        self._max_message_size = max_message_size
        self._buffer = bytearray()
        self._bypass = False
        self._opcode = CONTINUATION
        """TEXT or BINARY while a fragmented message is being reassembled."""
        self._parts: list[bytes] = []
        self._size = 0
        self.plain = True
        """True when the last `receive` gave whole messages only."""

    def receive(self, data: bytes) -> list[Item]:
        """What `data` (with what was buffered) completes, in the order it arrived.

        `plain` tells afterwards whether that was whole messages only (the common
        case, which the caller can queue in one go).
        """
        self.plain = True
        if self._bypass:
            self._engine.receive_data(data)
            self.plain = False
            return [None]
        items: list[Item] = []
        buffer = self._buffer
        if not buffer:  # read straight from `data`; keep only an incomplete frame's bytes
            with memoryview(data) as view:
                used = self._split(data, view, items)
                if used < len(data):
                    buffer += view[used:]
            return items
        buffer += data
        with memoryview(buffer) as view:
            used = self._split(buffer, view, items)
        del buffer[:used]
        return items

    def _split(self, data: bytes | bytearray, view: memoryview, items: list[Item]) -> int:
        """Append the items of every whole frame in `data`; return the bytes used."""
        pos, end = 0, len(data)
        small = min(126, self._max_message_size + 1)
        append = items.append
        while end - pos >= 2:
            first, second = data[pos], data[pos + 1]
            if first == _WHOLE_TEXT and second < small and not self._opcode:
                # The common case, kept free of calls: a small whole unmasked text message.
                stop = pos + 2 + second
                if stop > end:
                    break
                try:
                    append(data[pos + 2 : stop].decode())
                except UnicodeDecodeError:
                    return self._fault(items, CLOSE_INVALID_DATA, _NOT_UTF8, end)
                pos = stop
                continue
            length, head = second & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = int.from_bytes(view[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if end - pos < 10:
                    break
                length, head = int.from_bytes(view[pos + 2 : pos + 10], "big"), 10
            if first in _WHOLE_MESSAGE and second < 0x80:
                # A whole, unmasked, unfragmented message of any size.
                stop = pos + head + length
                if length > self._max_message_size or self._opcode != CONTINUATION:
                    pass  # the general path below reports it
                elif stop > end:
                    break
                else:
                    whole = _message(first & 0x0F, view[pos + head : stop])
                    if isinstance(whole, FrameFault):
                        return self._fault(items, whole.code, whole.reason, end)
                    append(whole)
                    pos = stop
                    continue
            opcode = first & 0x0F
            if self._unusual(first, second, opcode, length):
                self._bypass = True
                self._engine.receive_data(bytes(view[pos:]))
                self.plain = False
                append(None)
                return end
            fault = self._check_data(opcode, length) if opcode < 0x8 else None
            if fault is not None:
                return self._fault(items, fault.code, fault.reason, end)
            stop = pos + head + length
            if stop > end:
                break
            if opcode >= 0x8:
                self._engine.receive_data(bytes(view[pos:stop]))
                self.plain = False
                append(None)
            else:
                item = self._data(opcode, first & 0x80, view[pos + head : stop])
                if isinstance(item, FrameFault):
                    return self._fault(items, item.code, item.reason, end)
                if item is not None:
                    append(item)
            pos = stop
        return pos

    def _fault(self, items: list[Item], code: int, reason: str, end: int) -> int:
        """A rule broken: report it, and hand every later byte to wsproto (ignored)."""
        self._bypass = True
        self.plain = False
        items.append(FrameFault(code, reason))
        return end

    @staticmethod
    def _unusual(first: int, second: int, opcode: int, length: int) -> bool:
        """Frames wsproto must judge: masked, RSV bits, reserved opcodes, bad control frames."""
        if second & 0x80 or first & 0x70:
            return True
        if opcode in _CONTROL_OPCODES:
            return not first & 0x80 or length > _MAX_CONTROL_PAYLOAD
        return opcode > BINARY

    def _check_data(self, opcode: int, length: int) -> FrameFault | None:
        """Fragmentation order and the message-size limit, known from the header alone."""
        if opcode == CONTINUATION and self._opcode == CONTINUATION:
            return FrameFault(CLOSE_PROTOCOL_ERROR, "a continuation frame without a message")
        if opcode != CONTINUATION and self._opcode != CONTINUATION:
            return FrameFault(CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one")
        if self._size + length > self._max_message_size:
            return FrameFault(CLOSE_MESSAGE_TOO_BIG, "message too big")
        return None

    def _data(self, opcode: int, fin: int, payload: memoryview) -> Message | FrameFault | None:
        """The message this data frame completes, if any."""
        if fin and opcode != CONTINUATION:
            return _message(opcode, payload)
        if opcode != CONTINUATION:
            self._opcode = opcode
        self._parts.append(bytes(payload))
        self._size += len(payload)
        if not fin:
            return None
        opcode, parts = self._opcode, self._parts
        self._opcode, self._parts, self._size = CONTINUATION, [], 0
        return _message(opcode, b"".join(parts))


def _message(opcode: int, payload: memoryview | bytes) -> Message | FrameFault:
    """A text message decoded (strict UTF-8, as RFC 6455 requires) or binary as bytes."""
    if opcode == BINARY:
        return bytes(payload)
    try:
        return str(payload, "utf-8")
    except UnicodeDecodeError:
        return FrameFault(CLOSE_INVALID_DATA, _NOT_UTF8)
