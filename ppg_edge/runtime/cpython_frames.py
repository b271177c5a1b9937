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

import contextlib
import functools
import re
import sys
from array import array
from dataclasses import dataclass
from itertools import repeat
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
_SHORT_MAX: Final = 125
"""The longest payload a frame's two-byte header can give (126 and 127 announce longer ones)."""
_LENGTH_16: Final = 126
"""The length byte announcing a 16-bit payload length in the next two bytes."""
_RUN_PAYLOAD_MAX: Final = 1024
"""The longest message run cutting takes (`_pairs`): it scans every byte, which on
longer messages costs more than cutting them frame by frame saves."""
_RUN_WINDOW: Final = 2048
"""Bytes a first attempt at a run of alternating messages looks at (see `_pairs`)."""
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

    def __init__(self, engine: WSConnection, max_message_size: int, *, runs: bool = True) -> None:
        self._engine = engine
        self._runs = runs
        """False: frame by frame only, no run cutting (`_pairs`); the reference that
        tests and `benchmarks/session_frames.py` compare it with."""
        self._window = _RUN_WINDOW
        """Bytes the next run cutting looks at: four times what the last one took."""
        self._max_message_size = max_message_size
        self._run_payload = min(max_message_size, _RUN_PAYLOAD_MAX)
        self._buffer = bytearray()
        self._bypass = False
        self._opcode = CONTINUATION
        """TEXT or BINARY while a fragmented message is being reassembled."""
        self._parts: list[bytes] = []
        self._size = 0
        self.plain = True
        """True when the last `receive` gave whole messages only."""
        self._consumed = 0

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
        else:
            buffer += data
            with memoryview(buffer) as view:
                used = self._split(buffer, view, items)
            del buffer[:used]
        self._consumed += used
        return items

    def consumed(self) -> int:
        """Bytes of whole frames taken since the last call, headers included.

        That bounds what the messages handed out since then weigh, fragments of
        a message cut in earlier reads included, without a `len` per message (a
        session's rows come as over a thousand messages a read).
        """
        consumed, self._consumed = self._consumed, 0
        return consumed

    def _split(self, data: bytes | bytearray, view: memoryview, items: list[Item]) -> int:
        """Append the items of every whole frame in `data`; return the bytes used."""
        pos, end = 0, len(data)
        small = min(_SHORT_MAX + 1, self._max_message_size + 1)
        append = items.append
        runs = self._runs
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
                if runs and end - stop >= 4:  # a run ahead if the next but one is the same
                    size = data[stop + 1]
                    if size == _LENGTH_16:
                        size = data[stop + 2] << 8 | data[stop + 3]
                        after = stop + 4 + size
                    else:
                        after = stop + 2 + size
                    if (
                        size <= self._run_payload
                        and after + 2 <= end
                        and data[after] == first  # two cheap checks before a slice
                        and data[after + 1] == second
                        and data.startswith(data[pos:stop], after)
                    ):
                        window = data[pos : pos + max(self._window, 8 * (after - pos))]
                        run_end = _pairs(window, stop - pos, items, self._run_payload)
                        self._window = max(_RUN_WINDOW, 4 * run_end)
                        if run_end:
                            stop = pos + run_end
                pos = stop
                continue
            length, head = second & 0x7F, 2
            if length == 126:
                if end - pos < 4:
                    break
                length, head = data[pos + 2] << 8 | data[pos + 3], 4  # cheaper than from_bytes
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


def _pairs(data: bytes | bytearray, stop: int, items: list[Item], largest: int) -> int:
    """Cut a run of text messages that alternate with one repeated small message at C speed.

    `data` starts with a small whole text frame, the *lead* (`data[:stop]`), already
    appended to `items`; a session's rows are such a run (the data-row URN before
    each row's JSON). The bytes are read as latin-1 (one character per byte, so
    lengths are byte counts) and split by one regular expression at every copy of
    the lead followed by the header of a whole unmasked text frame (FIN+TEXT, then
    a 7-bit length or 126 and a 16-bit one), capturing the length. A pair is taken
    only if the payload that follows, up to the next copy, has exactly the length
    its header gives, at most `largest` (the size limit, or `_RUN_PAYLOAD_MAX` if
    lower), checked for all pairs at once by C calls. That is exact: the first payload
    then ends where its header says, so the next frame starts at the next copy of
    the lead, and so on by induction. The first pair that fails ends the run; the
    caller's loop takes the frames from there and reports whatever is wrong as
    before. All-ASCII payloads are their own text; others are decoded as strict
    UTF-8, one by one. Returns where the run ends (the start of the last lead not
    taken), or 0 when there is none.

    The caller tries only where the message after next is the lead again, and
    passes a window of its bytes, `_RUN_WINDOW` at first, then four times the last
    run's length: a hostile server whose leads repeat but whose runs keep breaking
    cannot make a read cost more than a small multiple of its size.

    Measured by `benchmarks/session_frames.py` (1,000 rows of the end-to-end query
    in one read): 450-500 ns a row frame by frame, 215-230 with runs cut. Fed in
    reads of 16 KiB, trying only where the lead itself comes again (not at every
    row whose next but one has the same length) took it from 590 to 275. Rows of
    126 bytes and more (16-bit lengths, `--wide`), which runs used to leave frame by
    frame: 1,050-1,070 ns a row frame by frame, 415-420 cut as runs.
    """
    lead = data[:stop].decode("latin-1")
    parts = _run_splitter(lead).split(data.decode("latin-1"))
    if parts[0]:
        return 0
    heads = parts[1:-2:2]  # the last pair may run on: not taken
    texts = parts[2:-1:2]
    count = _exact_pairs(heads, texts, largest)
    if not count:
        return 0
    del texts[count:]
    untaken = parts[2 * count + 1 :]  # each pair's lead went with the split
    used = len(data) - len(untaken) // 2 * (len(lead) + 1) - sum(map(len, untaken))
    if not "".join(texts).isascii():
        try:
            texts = [text.encode("latin-1").decode() for text in texts]
        except UnicodeDecodeError:
            return 0  # the frame by frame path reports it
    run: list[Item] = [items[-1]] * (2 * count)
    run[1::2] = texts
    items[-1:] = run
    return used


@functools.lru_cache(maxsize=4)
def _run_splitter(lead: str) -> re.Pattern[str]:
    """Splits latin-1 text at each `lead` followed by a whole unmasked text frame's header
    (FIN+TEXT, then a length up to `_SHORT_MAX`, or 126 and two length bytes), capturing
    the length's bytes."""
    header = re.escape(chr(_WHOLE_TEXT))
    short = f"[\\x00-{re.escape(chr(_SHORT_MAX))}]"
    long = f"{re.escape(chr(_LENGTH_16))}[\\x00-\\xff]{{2}}"
    return re.compile(f"{re.escape(lead)}{header}({short}|{long})")


def _exact_pairs(heads: list[str], texts: list[str], largest: int) -> int:
    """How many leading pairs are exact frames of at most `largest` bytes: `heads` holds
    each pair's length bytes (one, or 126 and two), `texts` its payload (latin-1).

    All at once when every pair is exact, else pair by pair to find the first that
    is not. The 7-bit lengths of short rows need no `_lengths`: their bytes are the
    lengths (the cheaper check of `benchmarks/session_frames.py`'s usual rows).
    """
    if not texts:
        return 0
    short = "".join(heads).encode("latin-1")
    if len(short) == len(heads):
        with contextlib.suppress(ValueError):  # a payload of 256 bytes or more: found below
            if max(short) <= largest and bytes(map(len, texts)) == short:
                return len(texts)
    lengths, sizes = _lengths(heads), list(map(len, texts))
    if lengths == sizes and max(sizes) <= largest:
        return len(texts)
    for index, (length, size) in enumerate(zip(lengths, sizes, strict=True)):
        if length != size or size > largest:
            return index
    return len(texts)


def _lengths(heads: list[str]) -> list[int]:
    """The lengths that 7 and 16-bit length bytes (latin-1) give, by C calls alone.

    Each head is padded to three bytes, `00 00 nn` or `7E hh ll`; the last two of
    each, read as a big-endian unsigned short, are the length.
    """
    padded = "".join(map(str.rjust, heads, repeat(3), repeat("\x00"))).encode("latin-1")
    pairs = bytearray(2 * len(heads))
    pairs[0::2], pairs[1::2] = padded[1::3], padded[2::3]
    lengths = array("H", pairs)
    if sys.byteorder == "little":
        lengths.byteswap()
    return lengths.tolist()
