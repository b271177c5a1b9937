"""An RFC 6455 WebSocket client over asyncio streams with wsproto (CPython only).

Received bytes come through a `ChunkFeed` (the transport's own chunks, without
StreamReader's copies); `FrameReader` cuts them into messages.

A background task reads the socket, answers pings and reassembles messages
into a bounded queue, a read's messages at once (`receive_many` takes them all
at once too); when the queue is full it stops reading, so a slow consumer
pushes back on the server through TCP instead of growing memory. A statement's
messages go out in one transport write (`send_many`).
Pongs are bounded too: while the server leaves our earlier bytes unread, only
the latest ping is remembered and answered later (RFC 6455 section 5.5.3), so
a ping flood from a server that stopped reading costs nothing; and closing
never waits longer than CLOSE_HANDSHAKE_TIMEOUT, whatever the server does.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, cast

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ppg_edge.core.config import CLOSE_HANDSHAKE_TIMEOUT
from ppg_edge.core.errors import ConnectTimeoutError
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES
from ppg_edge.runtime.base import (
    Message,
    WebSocketClosed,
    WebSocketRejected,
    within_send_now_limit,
)
from ppg_edge.runtime.cpython_feed import ChunkFeed
from ppg_edge.runtime.cpython_frames import FrameFault, FrameReader, Item
from ppg_edge.runtime.cpython_http import Origin, open_stream

ABNORMAL_CLOSURE: Final = 1006
MESSAGE_TOO_BIG: Final = 1009
FRAGMENT_SIZE: Final = 1024 * 1024
"""Outgoing messages larger than this go out as several frames, one drain each."""

Piece = str | bytes | memoryview

_REJECT_BODY_LIMIT: Final = 64 * 1024
HEAD_LIMIT: Final = 64 * 1024
"""The longest handshake response head taken (the blank line not found within: an error)."""
_HEAD_END: Final = b"\r\n\r\n"


@dataclass(frozen=True)
class Limits:
    """Receive-side bounds: one message's size and what may wait unread."""

    max_message_size: int = MAX_RESULT_FRAME_BYTES
    max_queued_messages: int = 1024
    max_queued_bytes: int = 4 * 1024 * 1024


async def open_websocket(
    origin: Origin,
    target: str,
    subprotocols: Sequence[str],
    headers: Sequence[tuple[str, str]],
    tls: ssl.SSLContext | None,
    timeout: float | None,
    limits: Limits,
) -> CPythonWebSocket:
    """Connect and run the opening handshake, all within `timeout` seconds (None: no limit)."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    feed = ChunkFeed()
    _, writer = await open_stream(origin, tls, timeout, wrap=feed.wrapping)
    engine = WSConnection(ConnectionType.CLIENT)
    try:
        request = Request(
            host=origin.authority,
            target=target,
            subprotocols=list(subprotocols),
            extra_headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        )
        try:
            writer.write(engine.send(request))
        except (LocalProtocolError, UnicodeEncodeError):
            raise ValueError("invalid WebSocket request header (values withheld)") from None
        async with asyncio.timeout_at(deadline):
            await writer.drain()
            subprotocol = await _handshake(feed, engine)
    except TimeoutError:
        writer.transport.abort()
        raise ConnectTimeoutError(
            f"WebSocket handshake timed out (connect timeout {timeout or 0:g} s)"
        ) from None
    except BaseException:
        writer.transport.abort()
        raise
    return CPythonWebSocket(feed, writer, engine, subprotocol, limits)


async def _handshake(feed: ChunkFeed, engine: WSConnection) -> str | None:
    """Read until the server accepts (its subprotocol) or rejects (an exception)."""
    status: int | None = None
    body = bytearray()
    data = await _response_head(feed)
    while True:
        try:
            engine.receive_data(data or None)
            for event in engine.events():
                if isinstance(event, AcceptConnection):
                    return event.subprotocol
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    if not event.has_body:
                        raise WebSocketRejected(status, "")
                elif isinstance(event, RejectData) and status is not None:
                    body += event.data[: _REJECT_BODY_LIMIT - len(body)]
                    if event.body_finished or len(body) >= _REJECT_BODY_LIMIT:
                        raise WebSocketRejected(status, _readable(body))
        except RemoteProtocolError as exc:
            raise ConnectionError(f"WebSocket handshake failed: {exc}") from None
        if not data:
            if status is not None:
                raise WebSocketRejected(status, _readable(body))
            raise ConnectionError("the server closed the connection during the WebSocket handshake")
        data = await feed.read()


async def _response_head(feed: ChunkFeed) -> bytes:
    """The handshake response up to its blank line, and not a byte more (all there is if
    the server ends first).

    Frames the server sends right behind its 101 go back to the feed, so the
    frame reader sees every frame from its first byte (wsproto never holds any).
    """
    head = bytearray()
    while data := await feed.read():
        start = max(0, len(head) - len(_HEAD_END) + 1)
        head += data
        end = head.find(_HEAD_END, start)
        if end >= 0:
            end += len(_HEAD_END)
            feed.unread(bytes(head[end:]))
            return bytes(head[:end])
        if len(head) > HEAD_LIMIT:
            raise ConnectionError("the WebSocket handshake response head is too large")
    return bytes(head)


def _readable(body: bytes | bytearray) -> str:
    return bytes(body).decode("utf-8", "replace").strip()[:500]


class CPythonWebSocket:
    """An open client WebSocket: whole-message send and receive, close handshake."""

    def __init__(
        self,
        feed: ChunkFeed,
        writer: asyncio.StreamWriter,
        engine: WSConnection,
        subprotocol: str | None,
        limits: Limits,
    ) -> None:
        self._feed = feed
        self._writer = writer
        self._engine = engine
        self._subprotocol = subprotocol
        self._limits = limits
        self._messages: deque[Message] = deque()
        self._queued_bytes = 0
        self._readable = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._send_lock = asyncio.Lock()
        self._closing = False
        self._closed: tuple[int, str] | None = None
        self._parts: list[str | bytes | bytearray] = []
        self._parts_size = 0
        self._late_pong: Ping | None = None
        """The latest ping not answered yet because the server left our bytes unread."""
        self._pong_waiter: asyncio.Task[None] | None = None
        self._frames = FrameReader(engine, limits.max_message_size)
        self._reading = asyncio.create_task(self._read_loop())

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def close_status(self) -> WebSocketClosed | None:
        return None if self._closed is None else WebSocketClosed(*self._closed)

    async def send(self, message: Message) -> None:
        """Send one whole message; large ones go out in fragments with a drain each.

        A send cancelled between fragments leaves a message cut in half on the
        wire, so the connection is dropped and reported closed (1006).
        """
        await self.send_many((message,))

    async def send_many(self, messages: Sequence[Message]) -> None:
        """Send messages back to back: the small ones framed together and handed to the
        transport in one write (one syscall for a whole statement), then one drain;
        a message over FRAGMENT_SIZE goes out in fragments with a drain each."""
        _check_types(messages)
        async with self._send_lock:
            cut_if_stopped = False
            try:
                framed: list[bytes] = []
                for message in messages:
                    if len(message) <= FRAGMENT_SIZE:
                        framed.append(self._frame(_whole(message), True))
                        continue
                    self._write(framed)
                    for piece, last in _fragments(message):
                        self._write([self._frame(piece, last)])
                        cut_if_stopped = not last
                        await self._writer.drain()
                self._write(framed)
                await self._writer.drain()
            except (LocalProtocolError, OSError):
                self._raise_if_closed()
                raise WebSocketClosed(ABNORMAL_CLOSURE, "connection lost") from None
            except BaseException:
                if cut_if_stopped:
                    self._set_closed(ABNORMAL_CLOSURE, "a message was cut off while sending")
                    self._writer.transport.abort()
                raise

    def send_now(self, messages: Sequence[Message]) -> bool:
        """Frame the messages and hand them to the transport in one write, if the
        connection is open, no send of ours is under way, the transport is below its
        high-water mark (a drain would not wait) and they are `SEND_NOW_LIMIT` at most."""
        transport = self._writer.transport
        if (
            self._closed is not None
            or self._send_lock.locked()
            or self._engine.state is not ConnectionState.OPEN
            or transport.is_closing()
            or transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]
            or not within_send_now_limit(messages)
        ):
            return False
        _check_types(messages)
        self._write([self._frame(_whole(message), True) for message in messages])
        return True

    def _frame(self, piece: Piece, last: bool) -> bytes:
        self._raise_if_closed()
        return self._engine.send(_message_event(piece, last))

    def _write(self, framed: list[bytes]) -> None:
        """Hand what was framed so far to the transport in one write."""
        if framed:
            self._writer.write(framed[0] if len(framed) == 1 else b"".join(framed))
            framed.clear()

    async def receive(self) -> Message:
        """The next whole message; WebSocketClosed once the queue is empty and the socket closed."""
        await self._wait_readable()
        message = self._messages.popleft()
        self._queued_bytes = self._queued_bytes - len(message) if self._messages else 0
        if self._has_space():
            self._space.set()
        return message

    async def receive_many(self) -> list[Message]:
        """Every queued message at once (at least one); WebSocketClosed like `receive`.

        Taken in one step after the wait, so a cancelled call loses nothing.
        """
        await self._wait_readable()
        messages = list(self._messages)
        self._messages.clear()
        self._queued_bytes = 0
        self._space.set()
        return messages

    async def _wait_readable(self) -> None:
        while not self._messages:
            self._raise_if_closed()
            self._readable.clear()
            await self._readable.wait()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the close handshake, then drop the connection.

        Sending our close frame and waiting for the server's share one bound,
        CLOSE_HANDSHAKE_TIMEOUT: a server that stops reading cannot hold it.
        """
        try:
            async with asyncio.timeout(CLOSE_HANDSHAKE_TIMEOUT):
                if self._closed is None and not self._closing:
                    self._closing = True
                    self._space.set()
                    try:
                        await self._send_close(code, reason)
                    finally:
                        self._set_closed(code, reason)
                await asyncio.wait({self._reading})
        except TimeoutError:
            pass
        finally:
            if not self._reading.done():
                self._reading.cancel()
                self._writer.transport.abort()

    async def _send_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(LocalProtocolError, OSError):
            if self._engine.state is ConnectionState.OPEN:
                self._writer.write(self._engine.send(CloseConnection(code, reason)))
                await self._writer.drain()

    def _raise_if_closed(self) -> None:
        if self._closed is not None:
            raise WebSocketClosed(*self._closed)

    def _has_space(self) -> bool:
        limits = self._limits
        return (
            len(self._messages) < limits.max_queued_messages
            and self._queued_bytes < limits.max_queued_bytes
        )

    def _set_closed(self, code: int, reason: str) -> None:
        if self._closed is None:
            self._closed = (code, reason)
        self._readable.set()

    async def _read_loop(self) -> None:
        code, reason = ABNORMAL_CLOSURE, "connection closed without a close frame"
        try:
            ended = None
            while ended is None:
                data = await self._feed.read()
                if data:
                    ended = await self._handle_items(self._frames.receive(data))
                else:
                    self._engine.receive_data(None)
                    ended = self._handle_events()
            code, reason = ended
        except (OSError, LocalProtocolError):
            pass
        finally:
            self._set_closed(code, reason)
            if self._pong_waiter is not None:
                self._pong_waiter.cancel()
            self._writer.close()

    async def _handle_items(self, items: list[Item]) -> tuple[int, str] | None:
        """Deliver the messages the frame reader cut out; let wsproto handle the rest.

        A read's messages are queued together and wake the receiver once; the
        queue's bounds are checked after the read (so they hold to within one read).
        """
        if self._frames.plain:
            self._deliver_all(items)  # type: ignore[arg-type]  # plain: messages only
            await self._wait_for_space()
            return None
        self._frames.consumed()  # these messages are counted one by one (`_deliver`)
        for item in items:
            if item is None:
                ended = self._handle_events()
                if ended is not None:
                    return ended
            elif isinstance(item, FrameFault):
                return self._fail(item.code, item.reason)
            else:
                self._deliver(item)
        await self._wait_for_space()
        return None

    def _handle_events(self) -> tuple[int, str] | None:
        """Process buffered events; the close code and reason once the socket is closed."""
        for event in self._engine.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data)
                self._parts_size += len(event.data)
                if self._parts_size > self._limits.max_message_size:
                    return self._fail(MESSAGE_TOO_BIG, "message too big")
                if event.message_finished:
                    message = _join(self._parts)
                    self._parts, self._parts_size = [], 0
                    self._deliver(message)
            elif isinstance(event, Ping):
                self._late_pong = event
                self._send_late_pong()
            elif isinstance(event, CloseConnection):
                return self._on_close(event)
        return None

    def _send_late_pong(self) -> None:
        """Answer the latest ping now, unless too much of what we sent is still unsent.

        A backlog means the server is not reading (or a large message is going
        out): a pong per ping would grow the transport's buffer without bound,
        so only the latest ping is kept, and answered once the backlog drains
        (RFC 6455 section 5.5.3 allows answering just the most recent ping).
        """
        ping = self._late_pong
        if ping is None or self._closed is not None:
            return
        if self._backlogged():
            if self._pong_waiter is None or self._pong_waiter.done():
                self._pong_waiter = asyncio.ensure_future(self._pong_when_drained())
            return
        self._late_pong = None
        if self._engine.state is ConnectionState.OPEN:
            self._writer.write(self._engine.send(ping.response()))

    def _backlogged(self) -> bool:
        """More unsent bytes than the transport's high-water mark: it has paused
        writing, so `drain` waits until the backlog is down to its low-water mark."""
        transport = self._writer.transport
        return transport.get_write_buffer_size() > transport.get_write_buffer_limits()[1]

    async def _pong_when_drained(self) -> None:
        with contextlib.suppress(OSError):
            await self._writer.drain()
            self._send_late_pong()

    def _on_close(self, event: CloseConnection) -> tuple[int, str]:
        state = self._engine.state
        if state is ConnectionState.REMOTE_CLOSING:
            self._writer.write(self._engine.send(event.response()))
        elif state is ConnectionState.OPEN:
            return self._fail(event.code, event.reason or "protocol error")
        if event.code == ABNORMAL_CLOSURE:
            return event.code, "connection closed without a close frame"
        return event.code, event.reason or ""

    def _fail(self, code: int, reason: str) -> tuple[int, str]:
        if self._engine.state is ConnectionState.OPEN:
            self._writer.write(self._engine.send(CloseConnection(code, reason)))
        return code, reason

    def _deliver_all(self, messages: list[Message]) -> None:
        """Queue a read's messages, weighed by the frames they came in (`consumed`).

        That counts frame headers too (a few bytes a message); a queue emptied
        message by message counts zero again.
        """
        if self._closing or not messages:
            return
        self._messages.extend(messages)
        self._queued_bytes += self._frames.consumed()
        self._readable.set()

    def _deliver(self, message: Message) -> None:
        if self._closing:
            return
        self._messages.append(message)
        self._queued_bytes += len(message)
        self._readable.set()

    async def _wait_for_space(self) -> None:
        """Stop reading while the queue is over its bounds: TCP then pushes back."""
        if not self._has_space():
            self._space.clear()
            await self._space.wait()


def _check_types(messages: Sequence[object]) -> None:
    for message in messages:
        if not isinstance(message, str | bytes | bytearray | memoryview):
            raise TypeError("a WebSocket message is str or bytes")


def _whole(message: Message | bytearray | memoryview) -> str | bytes:
    """A message to frame whole: str or bytes as they are, a buffer copied to bytes."""
    return message if isinstance(message, str | bytes) else bytes(message)


def _message_event(piece: Piece, last: bool) -> Event:
    if isinstance(piece, str):
        return TextMessage(data=piece, message_finished=last)
    return BytesMessage(data=piece, message_finished=last)  # type: ignore[arg-type]


def _fragments(message: Message | bytearray | memoryview) -> Iterator[tuple[Piece, bool]]:
    """The message in frame-sized pieces, sliced lazily (views for binary data)."""
    if len(message) <= FRAGMENT_SIZE:
        yield _whole(message), True
        return
    data = message if isinstance(message, str) else memoryview(message).cast("B")
    count = len(data)
    for start in range(0, count, FRAGMENT_SIZE):
        yield data[start : start + FRAGMENT_SIZE], start + FRAGMENT_SIZE >= count


def _join(parts: list[str | bytes | bytearray]) -> Message:
    if parts and isinstance(parts[0], str):
        return "".join(cast(list[str], parts))
    if len(parts) == 1:
        return bytes(parts[0])  # type: ignore[arg-type]
    return b"".join(cast(list[bytes], parts))
