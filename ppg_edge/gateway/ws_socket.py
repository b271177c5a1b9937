"""The gateway's WebSocket: aiohttp's, with a readable reason on every frame-level close.

aiohttp's ``receive`` answers a violation its parser found (invalid UTF-8,
reserved bits or opcodes, fragmented or oversized control frames, a bad close
frame, an oversized message) with ``close(code=...)`` and no reason; the gateway
README promises one. Violations aiohttp does not look for (unmasked frames, an
oversized auth message) are ``FrameGate``'s.
"""

from __future__ import annotations

from aiohttp import WebSocketError, WSCloseCode, web

from ppg_edge.core.protocol import CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR

from .wire_text import close_reason

FRAME_ERRORS = {
    CLOSE_PROTOCOL_ERROR: "protocol error: malformed WebSocket frame",
    WSCloseCode.INVALID_TEXT: "invalid data: a text message is not valid UTF-8",
    CLOSE_MESSAGE_TOO_BIG: "too big: a message exceeds the size limit",
}
"""aiohttp's parser closes with these codes and no reason; the general reason per code."""


class GatewaySocket(web.WebSocketResponse):
    """aiohttp's WebSocketResponse, closing frame-level violations with a reason."""

    sent: tuple[int, str] | None = None
    """The code and reason of the close frame this side sent first, for the log."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
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
