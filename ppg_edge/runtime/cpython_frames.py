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
_WHOLE_MESSAGE: Final = frozenset({0x80 | TEXT, 0x80 | BINARY})
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

    def receive(self, data: bytes) -> list[Item]:
        """What `data` (with what was buffered) completes, in the order it arrived."""
        if self._bypass:
            self._engine.receive_data(data)
            return [None]
        buffer = self._buffer
        buffer += data
        items: list[Item] = []
        with memoryview(buffer) as view:
            used = self._split(view, items)
        del buffer[:used]
        return items

    def _split(self, view: memoryview, items: list[Item]) -> int:
        """Append the items of every whole frame in `view`; return the bytes used."""
        pos, end = 0, len(view)
        while end - pos >= 2:
            first, second = view[pos], view[pos + 1]
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
                # The common case, kept free of calls: a whole, unmasked, unfragmented message.
                stop = pos + head + length
                if length > self._max_message_size or self._opcode != CONTINUATION:
                    pass  # the general path below reports it
                elif stop > end:
                    break
                else:
                    whole = _message(first & 0x0F, view[pos + head : stop])
                    items.append(whole)
                    if isinstance(whole, FrameFault):
                        self._bypass = True
                        return end
                    pos = stop
                    continue
            opcode = first & 0x0F
            if self._unusual(first, second, opcode, length):
                self._bypass = True
                self._engine.receive_data(bytes(view[pos:]))
                items.append(None)
                return end
            fault = self._check_data(opcode, length) if opcode < 0x8 else None
            if fault is not None:
                self._bypass = True
                items.append(fault)
                return end
            stop = pos + head + length
            if stop > end:
                break
            if opcode >= 0x8:
                self._engine.receive_data(bytes(view[pos:stop]))
                items.append(None)
            else:
                item = self._data(opcode, first & 0x80, view[pos + head : stop])
                if item is not None:
                    items.append(item)
                if isinstance(item, FrameFault):
                    self._bypass = True
                    return end
            pos = stop
        return pos

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
        return FrameFault(CLOSE_INVALID_DATA, "a text message is not valid UTF-8")
