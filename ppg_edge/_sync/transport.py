"""The blocking twin of `ppg_edge.runtime.base`: what the sync face needs from its host.

The same interface with plain methods: a response's `body()` is an iterator,
`close()` replaces `aclose()`, and request bodies are sync iterables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

from ppg_edge.runtime.base import (
    Chunk,
    Headers,
    Message,
    WebSocketClosed,
    WebSocketRejected,
)

__all__ = [
    "Body",
    "Chunk",
    "Headers",
    "HttpResponse",
    "Message",
    "ReplayableBody",
    "Runtime",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketRejected",
]

Body = Iterable[Chunk] | None
"""A request body as chunks, or None for a request without one."""


class ReplayableBody:
    """A request body that can be sent again: every iteration starts afresh from `chunks()`."""

    def __init__(self, chunks: Callable[[], Iterable[Chunk]]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._chunks())


class HttpResponse(Protocol):
    """A response whose body arrives as it is read."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Header names are lower-case."""
        ...

    def body(self) -> Iterator[bytes]:
        """The body's chunks as they arrive; raises ConnectionError if cut short."""
        ...

    def close(self) -> None:
        """Stop reading early and release the connection (it is not reused)."""
        ...


class WebSocket(Protocol):
    """An open client WebSocket with a negotiated subprotocol."""

    @property
    def subprotocol(self) -> str | None: ...

    def send(self, message: Message) -> None: ...

    def send_many(self, messages: Sequence[Message]) -> None:
        """Send messages back to back, in one write where the host allows it."""
        ...

    def receive(self) -> Message:
        """The next whole message; raises WebSocketClosed when the socket closes."""
        ...

    def receive_many(self) -> list[Message]:
        """Every whole message the last read completed, at least one, oldest first;
        raises WebSocketClosed like `receive` once none is left."""
        ...

    def close(self, code: int = 1000, reason: str = "") -> None: ...


class Runtime(Protocol):
    """What the sync face needs from its host: blocking HTTP requests and WebSockets."""

    def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> HttpResponse:
        """Send a request and return once the status and headers are in."""
        ...

    def websocket(self, url: str, subprotocols: Sequence[str], headers: Headers = ()) -> WebSocket:
        """Open a WebSocket; raises WebSocketClosed or ConnectionError on failure."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...
