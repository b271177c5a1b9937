"""The gateway's WebSocket: aiohttp's, with a readable reason on every frame-level close.

aiohttp's ``receive`` answers a violation its parser found (invalid UTF-8,
reserved bits or opcodes, fragmented or oversized control frames, a bad close
frame, an oversized message) with ``close(code=...)`` and no reason; the gateway
README promises one. Violations aiohttp does not look for (unmasked frames, an
oversized auth message) are ``FrameGate``'s. Two more gaps are closed here: a
client close with a code RFC 6455 section 7.4 keeps off the wire (1005, 1006,
1015, 5000 and up; aiohttp checks none of them) is answered 1002, not echoed as
1000; and a handshake whose ``Sec-WebSocket-Key`` is not ASCII, which aiohttp
lets escape as a bare ``ValueError`` (a 500), is a 400.
"""

from __future__ import annotations

import asyncio
import functools
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import WebSocketError, WSCloseCode, web
from aiohttp.abc import AbstractStreamWriter

from ppg_edge.core.protocol import CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR

from .wire_text import close_reason

FRAME_ERRORS = {
    CLOSE_PROTOCOL_ERROR: "protocol error: malformed WebSocket frame",
    WSCloseCode.INVALID_TEXT: "invalid data: a text message is not valid UTF-8",
    CLOSE_MESSAGE_TOO_BIG: "too big: a message exceeds the size limit",
}
"""aiohttp's parser closes with these codes and no reason; the general reason per code."""
NOT_ON_THE_WIRE = frozenset({1005, 1006, 1015})
"""Close codes only for reporting a close locally; a close frame must never carry them."""
LAST_CLOSE_CODE = 4999


def close_code_problem(code: int) -> str | None:
    """Why a close code received from a client is not allowed on the wire, or None.

    aiohttp already refuses codes under 3000 that it does not know (and uses 0
    for a close frame without a code, which is allowed).
    """
    if code in NOT_ON_THE_WIRE or code > LAST_CLOSE_CODE:
        return f"protocol error: close code {code} may not be sent in a close frame"
    return None


TEXT_FIN = 0x81
"""First byte of an unfragmented text frame (FIN + opcode 1); server frames carry no mask."""


def _header(size: int) -> bytes:
    if size < 126:
        return bytes((TEXT_FIN, size))
    if size < 1 << 16:
        return struct.pack("!BBH", TEXT_FIN, 126, size)
    return struct.pack("!BBQ", TEXT_FIN, 127, size)


_LEAD_SIZES = 2048
"""Payload sizes whose header, after a URN's frame, is made once (see ``_urn_leads``)."""


@functools.lru_cache(maxsize=16)
def _urn_leads(urn: str) -> tuple[bytes, tuple[bytes, ...]]:
    """A URN's whole frame, and that frame followed by each header of a payload under
    ``_LEAD_SIZES`` bytes (7-bit lengths, then 16-bit ones).

    With the second, each message after the URN's costs one concatenation. The
    gateway's URNs are a handful of protocol constants; a table is about 150 KB.
    Rows of 126 bytes and more used to make their header per row: framing 2,048 rows
    of about 200 bytes took 300 ns a row, and 165-210 with the table.
    """
    payload = urn.encode("utf-8")
    lead = _header(len(payload)) + payload
    return lead, tuple(lead + _header(size) for size in range(_LEAD_SIZES))


@dataclass(frozen=True, slots=True)
class Enclosed:
    """Messages that are each ``opening + inner + closing``, kept apart.

    A batch of rows is such: each row's values stand between the same
    ``{"values":["`` and ``"]}``. ``pair_frames`` frames them without making
    each message: a table (``_enclosed_leads``) holds, per inner size, the
    previous message's closing, the URN's frame, the header and the opening.
    """

    inners: Sequence[bytes]
    opening: bytes
    closing: bytes

    def messages(self) -> list[bytes]:
        """Each message made whole (the path for sizes the table does not hold)."""
        opening, closing = self.opening, self.closing
        return [opening + inner + closing for inner in self.inners]


Texts = Sequence[bytes] | Enclosed
"""The UTF-8 texts that each follow a message of one URN."""


def pair_frames(pairs: Sequence[tuple[str, Texts]]) -> bytes:
    """The wire bytes of a URN message before each UTF-8 text, for ``(urn, texts)`` pairs.

    Unmasked, uncompressed text frames (RFC 6455 5.2), the bytes aiohttp's
    ``send_str`` writes: each payload's length is its byte count, so a batch of
    rows is one comprehension over its lines, whatever their characters, or,
    given as ``Enclosed``, a few C calls over its inner parts.
    """
    parts: list[bytes] = []
    for urn, texts in pairs:
        parts += _enclosed_parts(urn, texts) if isinstance(texts, Enclosed) else _headed(urn, texts)
    return b"".join(parts)


def _headed(urn: str, texts: Sequence[bytes]) -> list[bytes]:
    """Each text after the URN's frame and its own header."""
    lead, headed = _urn_leads(urn)
    made = len(headed)
    return [
        headed[len(text)] + text if len(text) < made else lead + _header(len(text)) + text
        for text in texts
    ]


def _enclosed_parts(urn: str, texts: Enclosed) -> list[bytes]:
    """The pieces of ``texts``' frames, each inner part between two table entries."""
    inners, closing = texts.inners, texts.closing
    if not inners:
        return []
    leads = _enclosed_leads(urn, texts.opening, closing)
    try:
        heads = list(map(leads.__getitem__, map(len, inners)))
    except IndexError:  # a message of _LEAD_SIZES bytes or more
        return _headed(urn, texts.messages())
    heads[0] = heads[0][len(closing) :]  # no message before the first
    parts = [closing] * (2 * len(inners) + 1)
    parts[0:-1:2] = heads
    parts[1::2] = inners
    return parts


@functools.lru_cache(maxsize=16)
def _enclosed_leads(urn: str, opening: bytes, closing: bytes) -> tuple[bytes, ...]:
    """Per inner size whose message is under ``_LEAD_SIZES`` bytes: ``closing`` (the
    previous message's end), the URN's frame, the message's header and ``opening``."""
    _, headed = _urn_leads(urn)
    extra = len(opening) + len(closing)
    return tuple(closing + headed[size + extra] + opening for size in range(_LEAD_SIZES - extra))


def _messages(texts: Texts) -> Sequence[bytes]:
    return texts.messages() if isinstance(texts, Enclosed) else texts


async def _drained(protocol: Any, until: asyncio.Event | None) -> None:
    """Wait until the paused transport drains, or until ``until`` is set if that comes first.

    What was written stays queued either way; only the wait ends. The drain is
    awaited in a task of its own that is never cancelled: aiohttp shares one
    waiter among all who drain, and cancelling it would fail the next drain.
    """
    if until is None:
        await protocol._drain_helper()
        return
    if until.is_set():
        return
    drain = asyncio.ensure_future(protocol._drain_helper())
    # Taken however this wait ends, its own cancellation included (a client reset
    # cancels the session's task here): else asyncio logs the lost connection.
    drain.add_done_callback(_quietly)
    stop = asyncio.ensure_future(until.wait())
    try:
        await asyncio.wait((drain, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if drain.done():
        drain.result()  # the connection's loss, if that ended the wait


def _quietly(task: asyncio.Future[None]) -> None:
    """Take a finished drain's outcome nobody waits for (the connection lost, typically)."""
    if not task.cancelled():
        task.exception()


class GatewaySocket(web.WebSocketResponse):
    """aiohttp's WebSocketResponse, closing frame-level violations with a reason."""

    sent: tuple[int, str] | None = None
    """The code and reason of the close frame this side sent first, for the log."""

    async def send_pairs(
        self, pairs: Sequence[tuple[str, Texts]], until: asyncio.Event | None = None
    ) -> None:
        """A URN message before each UTF-8 text, in one transport write (``pair_frames``),
        waiting while the socket is paused, but not once ``until`` is set (``_drained``).

        aiohttp writes every message on its own (``send_str``: a header, a write, a
        check of the buffer): two writes a row. One write per batch took the gateway's
        CPU for streaming 1,000,000 rows over a session from 7.25 s to 2.22 s (the rows
        of ``benchmarks/compare.py``'s end-to-end figure). The socket is uncompressed;
        where aiohttp's writer is not as expected, each message goes through ``send_str``
        (whose waits ``until`` cannot end).
        """
        if self._fast_writer() is None:
            for urn, texts in pairs:
                for text in _messages(texts):
                    await self.send_str(urn)
                    await self.send_str(text.decode("utf-8"))
            return
        await self._write(pair_frames(pairs), until)

    def _fast_writer(self) -> object | None:
        """aiohttp's writer when frames can go straight to its transport, else None."""
        writer = self._writer
        protocol = getattr(writer, "protocol", None)
        if writer is None or getattr(writer, "compress", True) or protocol is None:
            return None
        return writer

    async def _write(self, data: bytes, until: asyncio.Event | None = None) -> None:
        """Frame bytes in one transport write, waiting while the socket is paused."""
        writer = self._writer
        assert writer is not None
        protocol = writer.protocol
        if self._closed or getattr(writer, "_closing", False) or writer.transport.is_closing():
            raise ConnectionResetError("the WebSocket is closing")
        writer.transport.write(data)
        if getattr(protocol, "_paused", False):
            await _drained(protocol, until)

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter:
        try:
            return await super().prepare(request)
        except ValueError:
            raise web.HTTPBadRequest(
                text="Handshake error: Sec-WebSocket-Key is not base64 (it holds non-ASCII bytes)"
            ) from None

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        problem = close_code_problem(self.close_code or 0) if code == WSCloseCode.OK else None
        if problem is not None:
            code, message = CLOSE_PROTOCOL_ERROR, close_reason(problem)
        if not message and code in FRAME_ERRORS:
            message = close_reason(self._violation(code))
        if self.sent is None and not self.closed:
            self.sent = (code, message.decode("utf-8", "replace"))
        return await super().close(code=code, message=message, drain=drain)

    def _violation(self, code: int) -> str:
        """The parser's own words when it still holds them, else the reason for ``code``."""
        reader = getattr(self, "_reader", None)
        exc = reader.exception() if reader is not None else None
        if isinstance(exc, WebSocketError) and exc.code == code:
            return f"{FRAME_ERRORS[code].split(':')[0]}: {exc}"
        return FRAME_ERRORS[code]
