"""The transport interface every runtime adapter implements.

A runtime only moves bytes: it opens HTTP requests with a streamed body and a
streamed response, and WebSockets that send and receive whole messages.
Everything protocol-shaped lives in `ppg_edge.core`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

Chunk = bytes | bytearray | memoryview
"""One piece of a request body; large parameters stay separate pieces."""

Message = str | bytes
"""One whole WebSocket message: str for text frames, bytes for binary ones."""


@dataclass(frozen=True)
class WebSocketClosed(Exception):
    """Raised by `WebSocket.receive` once the socket is closed, with the peer's code."""

    code: int
    reason: str = ""


class HttpResponse(Protocol):
    """A response whose body arrives as it is read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Header names are lower-case."""
        ...

    def body(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive; raises ConnectionError if cut short."""
        ...

    async def aclose(self) -> None:
        """Stop reading early and release the connection (it is not reused)."""
        ...


class WebSocket(Protocol):
    """An open client WebSocket with a negotiated subprotocol."""

    @property
    def subprotocol(self) -> str | None: ...

    async def send(self, message: Message) -> None: ...

    async def receive(self) -> Message:
        """The next whole message; raises WebSocketClosed when the socket closes."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Runtime(Protocol):
    """What the driver needs from its host: HTTP requests and WebSockets."""

    async def request(
        self,
        method: str,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: AsyncIterable[Chunk] | None,
        body_size: int | None = None,
    ) -> HttpResponse:
        """Send a request and return once the status and headers are in.

        `body_size` is the exact body length when known; otherwise the body is
        sent chunked where the runtime can stream requests.
        """
        ...

    async def websocket(
        self,
        url: str,
        subprotocols: Sequence[str],
        headers: Sequence[tuple[str, str]] = (),
    ) -> WebSocket:
        """Open a WebSocket; raises WebSocketClosed or ConnectionError on failure."""
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...
