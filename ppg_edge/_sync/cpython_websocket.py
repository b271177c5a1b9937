"""A blocking RFC 6455 WebSocket client for the sync face: `socket`, `ssl` and wsproto.

Hand-written like `cpython_http`: the async client reads in a background task
into a bounded queue; here nothing reads in the background. `receive_many`
reads the socket when nothing is queued, and hands over every message that
read completed, so what waits unread is at most one read's worth and TCP
pushes back on the server. Pings are answered as they are read; closing never
waits longer than CLOSE_HANDSHAKE_TIMEOUT. Frames are split by the async
runtime's `FrameReader`, and messages framed and joined by its helpers.

Every blocking socket operation waits at most the running statement's time
left (`concurrency.time_left`), so a statement timeout interrupts a read.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import time
from collections import deque
from collections.abc import Sequence
from typing import cast

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from ppg_edge._sync.concurrency import Expired, time_left
from ppg_edge._sync.cpython_http import open_socket
from ppg_edge._sync.transport import Message, WebSocketClosed, WebSocketRejected
from ppg_edge.core.config import CLOSE_HANDSHAKE_TIMEOUT
from ppg_edge.core.errors import ConnectTimeoutError
from ppg_edge.runtime.cpython_frames import FrameFault, FrameReader
from ppg_edge.runtime.cpython_http import READ_SIZE, Origin
from ppg_edge.runtime.cpython_websocket import (
    _REJECT_BODY_LIMIT,
    ABNORMAL_CLOSURE,
    FRAGMENT_SIZE,
    HEAD_LIMIT,
    MESSAGE_TOO_BIG,
    _fragments,
    _join,
    _message_event,
    _readable,
)


def open_websocket(
    origin: Origin,
    target: str,
    subprotocols: Sequence[str],
    headers: Sequence[tuple[str, str]],
    tls: ssl.SSLContext | None,
    timeout: float | None,
    max_message_size: int,
) -> SyncWebSocket:
    """Connect and run the opening handshake, all within `timeout` seconds (None: no limit)."""
    until = None if timeout is None else time.monotonic() + timeout
    sock = open_socket(origin, tls, timeout)
    engine = WSConnection(ConnectionType.CLIENT)
    try:
        request = Request(
            host=origin.authority,
            target=target,
            subprotocols=list(subprotocols),
            extra_headers=[(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers],
        )
        try:
            data = engine.send(request)
        except (LocalProtocolError, UnicodeEncodeError):
            raise ValueError("invalid WebSocket request header (values withheld)") from None
        handshake = _Handshake(sock, engine, until)
        handshake.send(data)
        subprotocol, rest = handshake.run()
    except TimeoutError:
        sock.close()
        if not handshake.connect_bound():
            raise Expired from None  # the statement's bound ran out first
        raise ConnectTimeoutError(
            f"WebSocket handshake timed out (connect timeout {timeout or 0:g} s)"
        ) from None
    except BaseException:
        sock.close()
        raise
    websocket = SyncWebSocket(sock, engine, subprotocol, max_message_size)
    websocket.feed(rest)
    return websocket


class _Handshake:
    """The opening handshake's blocking reads and writes, within the connect bound."""

    def __init__(self, sock: socket.socket, engine: WSConnection, until: float | None) -> None:
        self.sock = sock
        self.engine = engine
        self.until = until

    def connect_bound(self) -> bool:
        """Whether the connect timeout (not the statement's) is what ran out."""
        return self.until is not None and time.monotonic() >= self.until - 0.005

    def _wait(self) -> None:
        own = None if self.until is None else max(0.001, self.until - time.monotonic())
        statement = time_left()
        known = [limit for limit in (own, statement) if limit is not None]
        self.sock.settimeout(min(known) if known else None)

    def send(self, data: bytes) -> None:
        self._wait()
        self.sock.sendall(data)

    def recv(self) -> bytes:
        self._wait()
        return self.sock.recv(READ_SIZE)

    def run(self) -> tuple[str | None, bytes]:
        """The server's subprotocol and the bytes after its 101; rejections raise."""
        head = bytearray()
        while (end := head.find(b"\r\n\r\n")) < 0:
            data = self.recv()
            if not data:
                raise ConnectionError(
                    "the server closed the connection during the WebSocket handshake"
                )
            head += data
            if len(head) > HEAD_LIMIT:
                raise ConnectionError("the WebSocket handshake response head is too large")
        rest = bytes(head[end + 4 :])
        return self._outcome(bytes(head[: end + 4]), rest)

    def _outcome(self, head: bytes, rest: bytes) -> tuple[str | None, bytes]:
        status: int | None = None
        body = bytearray()
        data: bytes = head
        while True:
            try:
                self.engine.receive_data(data or None)
                for event in self.engine.events():
                    if isinstance(event, AcceptConnection):
                        return event.subprotocol, rest
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
                raise WebSocketRejected(status, _readable(body))
            data, rest = (rest, b"") if rest else (self.recv(), b"")


class SyncWebSocket:
    """An open client WebSocket: whole-message blocking send and receive, close handshake."""

    def __init__(
        self,
        sock: socket.socket,
        engine: WSConnection,
        subprotocol: str | None,
        max_message_size: int,
    ) -> None:
        self._sock = sock
        self._engine = engine
        self._subprotocol = subprotocol
        self._max_message_size = max_message_size
        self._messages: deque[Message] = deque()
        self._closed: tuple[int, str] | None = None
        self._parts: list[str | bytes | bytearray] = []
        self._parts_size = 0
        self._frames = FrameReader(engine, max_message_size)

    @property
    def subprotocol(self) -> str | None:
        return self._subprotocol

    @property
    def close_status(self) -> WebSocketClosed | None:
        """How the socket closed, once it has; None while open.

        Nothing reads a sync socket between statements, so this takes in what has
        already arrived, without waiting: a close the server sent while the
        session sat idle (its idle timeout, a restart) is seen before a statement
        is sent into it. Messages read on the way stay queued for `receive`.
        """
        if self._closed is None:
            self._poll()
        return None if self._closed is None else WebSocketClosed(*self._closed)

    def _poll(self) -> None:
        """Feed whatever the socket holds right now, never blocking."""
        while self._closed is None:
            buffered = isinstance(self._sock, ssl.SSLSocket) and self._sock.pending() > 0
            if not buffered and not select.select([self._sock], [], [], 0)[0]:
                return
            try:
                self._sock.settimeout(0)
                data = self._sock.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
                return
            except OSError:
                self._drop(ABNORMAL_CLOSURE, "connection lost")
                return
            if not data:
                self._engine.receive_data(None)
                self._end(self._handle_events() or (ABNORMAL_CLOSURE, "connection closed"))
                return
            self.feed(data)

    def send(self, message: Message) -> None:
        """Send one whole message (large ones in fragments)."""
        self.send_many((message,))

    def send_many(self, messages: Sequence[Message]) -> None:
        """Send messages back to back, the small ones framed together in one write.

        A send interrupted between fragments (a timeout) leaves a message cut in
        half on the wire, so the connection is dropped and reported closed (1006).
        """
        for message in messages:
            if not isinstance(message, str | bytes | bytearray | memoryview):
                raise TypeError("a WebSocket message is str or bytes")
        try:
            framed: list[bytes] = []
            for message in messages:
                if len(message) <= FRAGMENT_SIZE:
                    whole = message if isinstance(message, str | bytes) else bytes(message)
                    framed.append(self._frame(whole, True))
                    continue
                self._write(framed)
                for piece, last in _fragments(message):
                    self._write([self._frame(piece, last)])
            self._write(framed)
        except LocalProtocolError:
            if self._closed is not None:
                raise WebSocketClosed(*self._closed) from None
            raise WebSocketClosed(ABNORMAL_CLOSURE, "connection lost") from None
        except OSError as exc:
            # A send cut short may leave half a frame on the wire: the socket is done.
            self._drop(ABNORMAL_CLOSURE, "connection lost while sending")
            if isinstance(exc, TimeoutError):
                raise Expired from None
            raise WebSocketClosed(ABNORMAL_CLOSURE, "connection lost") from None

    def _frame(self, piece: str | bytes | memoryview, last: bool) -> bytes:
        if self._closed is not None:
            raise WebSocketClosed(*self._closed)
        return self._engine.send(_message_event(piece, last))

    def _write(self, framed: list[bytes]) -> None:
        if framed:
            self._sock.settimeout(time_left())
            self._sock.sendall(framed[0] if len(framed) == 1 else b"".join(framed))
            framed.clear()

    def receive(self) -> Message:
        """The next whole message; WebSocketClosed once none is left and the socket closed."""
        self._fill()
        return self._messages.popleft()

    def receive_many(self) -> list[Message]:
        """Every message the last read completed (at least one); WebSocketClosed like `receive`."""
        self._fill()
        messages = list(self._messages)
        self._messages.clear()
        return messages

    def _fill(self) -> None:
        """Read until a message is queued or the socket is closed."""
        while not self._messages:
            self._raise_if_closed()
            self._sock.settimeout(time_left())
            try:
                data = self._sock.recv(READ_SIZE)
            except TimeoutError:
                raise Expired from None  # nothing was read: the socket stays usable
            except OSError:
                self._drop(ABNORMAL_CLOSURE, "connection lost")
                continue
            if data:
                self.feed(data)
            else:
                self._engine.receive_data(None)
                self._end(self._handle_events() or (ABNORMAL_CLOSURE, "connection closed"))

    def feed(self, data: bytes) -> None:
        """Process received bytes: queue the messages, answer pings, see the close."""
        if not data:
            return
        items = self._frames.receive(data)
        if self._frames.plain:  # whole messages only: the common case, queued at once
            self._messages.extend(cast(list[Message], items))
            return
        for item in items:
            if item is None:
                ended = self._handle_events()
                if ended is not None:
                    self._end(ended)
                    return
            elif isinstance(item, FrameFault):
                self._end(self._fail(item.code, item.reason))
                return
            else:
                self._messages.append(item)

    def _handle_events(self) -> tuple[int, str] | None:
        for event in self._engine.events():
            if isinstance(event, TextMessage | BytesMessage):
                self._parts.append(event.data)
                self._parts_size += len(event.data)
                if self._parts_size > self._max_message_size:
                    return self._fail(MESSAGE_TOO_BIG, "message too big")
                if event.message_finished:
                    self._messages.append(_join(self._parts))
                    self._parts, self._parts_size = [], 0
            elif isinstance(event, Ping):
                self._send_quietly(event.response())
            elif isinstance(event, CloseConnection):
                return self._on_close(event)
        return None

    def _on_close(self, event: CloseConnection) -> tuple[int, str]:
        state = self._engine.state
        if state is ConnectionState.REMOTE_CLOSING:
            self._send_quietly(event.response())
        elif state is ConnectionState.OPEN:
            return self._fail(event.code, event.reason or "protocol error")
        if event.code == ABNORMAL_CLOSURE:
            return event.code, "connection closed without a close frame"
        return event.code, event.reason or ""

    def _fail(self, code: int, reason: str) -> tuple[int, str]:
        self._send_quietly(CloseConnection(code, reason))
        return code, reason

    def _send_quietly(self, event: Ping | CloseConnection | object) -> None:
        """Send a control frame; a socket that cannot take it is closing anyway."""
        with contextlib.suppress(LocalProtocolError, OSError):
            if self._engine.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                data = self._engine.send(event)  # type: ignore[arg-type]
                self._sock.settimeout(CLOSE_HANDSHAKE_TIMEOUT)
                self._sock.sendall(data)

    def _end(self, ended: tuple[int, str]) -> None:
        if self._closed is None:
            self._closed = ended
        with contextlib.suppress(OSError):
            self._sock.close()

    def _drop(self, code: int, reason: str) -> None:
        self._end((code, reason))

    def _raise_if_closed(self) -> None:
        if self._closed is not None and not self._messages:
            raise WebSocketClosed(*self._closed)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Run the close handshake within CLOSE_HANDSHAKE_TIMEOUT, then drop the connection."""
        if self._closed is not None:
            return
        until = time.monotonic() + CLOSE_HANDSHAKE_TIMEOUT
        self._send_quietly(CloseConnection(code, reason))
        with contextlib.suppress(OSError):
            while self._engine.state is not ConnectionState.CLOSED:
                self._sock.settimeout(max(0.001, until - time.monotonic()))
                data = self._sock.recv(READ_SIZE)
                if not data:
                    break
                self._engine.receive_data(data)
                list(self._engine.events())  # the server's close frame ends the loop
        self._end((code, reason))
