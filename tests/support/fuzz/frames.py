"""Client WebSocket frames written byte by byte, so every rule of RFC 6455 section 5 can be broken.

wsproto (like every well-kept library) refuses to produce an invalid frame;
this writer produces exactly what it is told: any opcode, reserved bits, an
unmasked frame, a length that lies or is not minimally encoded.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

CONTINUATION = 0x0
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA


@dataclass
class Message:
    """One WebSocket message before framing: text (UTF-8 bytes, valid or not) or binary."""

    opcode: int
    data: bytes

    @staticmethod
    def text(value: str | bytes) -> Message:
        """A text message (``bytes`` are sent as they are, invalid UTF-8 included)."""
        return Message(TEXT, value.encode("utf-8") if isinstance(value, str) else value)

    @staticmethod
    def binary(value: bytes) -> Message:
        """A binary message."""
        return Message(BINARY, value)


def frame(
    opcode: int,
    payload: bytes,
    rng: random.Random,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    mask: bytes | None = None,
    declared: int | None = None,
    length_bytes: int | None = None,
) -> bytes:
    """One frame; ``declared`` overrides the length field, ``length_bytes`` (0, 2, 8) its form."""
    length = len(payload) if declared is None else declared
    if length_bytes is None:
        length_bytes = 0 if length < 126 else 2 if length < 1 << 16 else 8
    mask_bit = 0x80 if masked else 0
    head = bytearray([(0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)])
    if length_bytes == 0:
        head.append(mask_bit | length)
    elif length_bytes == 2:
        head.append(mask_bit | 126)
        head += length.to_bytes(2, "big")
    else:
        head.append(mask_bit | 127)
        head += length.to_bytes(8, "big")
    if not masked:
        return bytes(head) + payload
    key = rng.randbytes(4) if mask is None else mask
    return bytes(head) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def message_frames(message: Message, rng: random.Random, pieces: int = 1) -> list[bytes]:
    """A message as one frame, or as ``pieces`` frames (continuations after the first)."""
    if pieces <= 1 or len(message.data) < pieces:
        return [frame(message.opcode, message.data, rng)]
    cuts = sorted(rng.sample(range(1, len(message.data)), pieces - 1))
    bounds = [0, *cuts, len(message.data)]
    frames = []
    for number, (start, end) in enumerate(itertools.pairwise(bounds)):
        opcode = message.opcode if number == 0 else CONTINUATION
        frames.append(frame(opcode, message.data[start:end], rng, fin=end == len(message.data)))
    return frames


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """A close frame's payload: the code, then the reason."""
    return code.to_bytes(2, "big") + reason
