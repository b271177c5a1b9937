"""The transport interface every runtime adapter implements.

A runtime only moves bytes: it opens HTTP requests with a streamed body and a
streamed response, and WebSockets that send and receive whole messages.
Everything protocol-shaped lives in `ppg_edge.core`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

Chunk = bytes | bytearray | memoryview
"""One piece of a request body; large parameters stay separate pieces."""

Headers = Sequence[tuple[str, str]]
"""Request or handshake headers as (name, value) pairs, in order; names may repeat."""

Body = AsyncIterable[Chunk] | None
"""A request body as chunks, or None for a request without one."""


SEND_NOW_LIMIT: Final = 64 * 1024
"""The most `WebSocket.send_now` takes at once (in characters or bytes): it writes
without waiting for the peer, so what it adds to a send buffer stays small."""


def within_send_now_limit(messages: Sequence[Message]) -> bool:
    """True when `messages` are small enough for one `WebSocket.send_now`."""
    return sum(map(len, messages)) <= SEND_NOW_LIMIT


class ReplayableBody:
    """A request body that can be sent again: every iteration starts afresh from `chunks()`.

    A runtime may re-send such a body once when a kept-alive connection turns out
    dead before any response byte; other runtimes just iterate it once, like any body.
    """

    def __init__(self, chunks: Callable[[], AsyncIterable[Chunk]]) -> None:
        self._chunks = chunks

    def __aiter__(self) -> AsyncIterator[Chunk]:
        return aiter(self._chunks())


Message = str | bytes
"""One whole WebSocket message: str for text frames, bytes for binary ones."""


@dataclass(frozen=True)
class WebSocketClosed(Exception):
    """Raised by `WebSocket.receive` once the socket is closed, with the peer's code."""

    code: int
    reason: str = ""


class WebSocketRejected(ConnectionError):
    """The server answered a WebSocket upgrade with plain HTTP instead of 101.

    `status` is that HTTP status where the host lets us see it (CPython, the
    Cloudflare fetch upgrade); browsers only report a failed handshake, which
    may as well be an unreachable server, so they raise a plain ConnectionError.
    """

    def __init__(self, status: int | None, body: str = "", message: str = "") -> None:
        shown = "an unknown status" if status is None else f"HTTP {status}"
        detail = f": {body}" if body else ""
        super().__init__(message or f"WebSocket handshake rejected with {shown}{detail}")
        self.status = status
        self.body = body


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

    @property
    def close_status(self) -> WebSocketClosed | None:
        """How the socket closed, once it has (messages received before may still be
        waiting); None while it is open. Lets an idle reader-less user see a close."""
        ...

    async def send(self, message: Message) -> None: ...

    async def send_many(self, messages: Sequence[Message]) -> None:
        """Send messages back to back, none of anyone else's in between: in one
        transport write where the host allows it (CPython), else one `send` each."""
        ...

    def send_now(self, messages: Sequence[Message]) -> bool:
        """Send messages back to back without waiting, if the socket can take them so:
        open, no flow-control wait due, and `SEND_NOW_LIMIT` characters or bytes at
        most. False, with nothing sent, when it cannot (then `send_many` must).

        The caller makes sure no `send_many` of its own is under way."""
        ...

    async def receive(self) -> Message:
        """The next whole message; raises WebSocketClosed when the socket closes."""
        ...

    async def receive_many(self) -> list[Message]:
        """Every whole message received and not yet taken, at least one, oldest first
        (what the last socket reads completed); raises WebSocketClosed like `receive`
        once none is left. Cancelling it loses no message."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Runtime(Protocol):
    """What the driver needs from its host: HTTP requests and WebSockets."""

    async def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> HttpResponse:
        """Send a request and return once the status and headers are in.

        `body_size` is the exact body length when known; otherwise the body is
        sent chunked where the runtime can stream requests. Only a ReplayableBody
        (or no body) may be sent twice.
        """
        ...

    async def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Headers = ()
    ) -> WebSocket:
        """Open a WebSocket; raises WebSocketClosed or ConnectionError on failure.

        A server that refuses the upgrade with an HTTP status the host can see
        is a WebSocketRejected (a ConnectionError carrying that status).
        """
        ...

    async def aclose(self) -> None:
        """Release pooled connections."""
        ...
