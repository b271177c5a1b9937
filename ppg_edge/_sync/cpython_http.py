"""Blocking HTTP/1.1 for the sync face on CPython: `socket`, stdlib `ssl` and h11.

Hand-written rather than generated: the async runtime sends a body and
watches for the response in two tasks, which has no blocking counterpart
without threads. Here the request is sent whole, then the response read; a
server that answers early and closes (say 413 on a large upload) is still
heard, because a failed send is followed by an attempt to read its answer.
URL parsing, request heads, TLS defaults and keep-alive options are the async
runtime's own functions, so both faces frame and secure requests alike.

Every blocking socket operation waits at most the running statement's time
left (`concurrency.time_left`), and raises `concurrency.Expired` when that runs
out; connecting waits at most the connect timeout too, and the tighter of the
two decides which timeout error it is.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Final, cast

import h11

from ppg_edge._sync.concurrency import Expired, time_left
from ppg_edge._sync.transport import Body, Chunk, Headers, ReplayableBody, WebSocket
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT
from ppg_edge.core.errors import ConnectTimeoutError
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES
from ppg_edge.runtime.cpython_http import (
    READ_SIZE,
    WRITE_SLICE,
    Origin,
    default_ssl_context,
    enable_keepalive,
    parse_url,
    request_head,
)

_HTTP_SCHEMES: Final = frozenset({"http", "https"})
_WS_SCHEMES: Final = frozenset({"ws", "wss"})


def _bound(*limits: float | None) -> float | None:
    known = [limit for limit in limits if limit is not None]
    return min(known) if known else None


def open_socket(origin: Origin, tls: ssl.SSLContext | None, timeout: float | None) -> socket.socket:
    """TCP (and TLS for secure origins) within `timeout` and the statement's time left."""
    start = time.monotonic()
    statement = time_left()
    limit = _bound(timeout, statement)
    connect_bound = statement is None or (timeout is not None and timeout <= statement)
    try:
        sock = socket.create_connection((origin.host, origin.port), limit)
        try:
            # As asyncio does for its TCP transports: without it, a request head and
            # body in two writes wait out Nagle and the peer's delayed ACK (~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            enable_keepalive(sock)
            if origin.secure:
                sock.settimeout(None if limit is None else max(0.001, limit - _since(start)))
                sock = (tls or default_ssl_context()).wrap_socket(sock, server_hostname=origin.host)
        except BaseException:
            sock.close()
            raise
    except TimeoutError:
        if connect_bound:
            raise ConnectTimeoutError(
                f"connecting to {origin.authority} timed out after {timeout or 0:g} s"
            ) from None
        raise Expired from None
    except ssl.SSLError:
        raise
    except OSError as exc:
        if isinstance(exc, ConnectionError):
            raise
        raise ConnectionError(f"cannot connect to {origin.authority}: {exc}") from exc
    return sock


def _since(start: float) -> float:
    return time.monotonic() - start


class HttpConnection:
    """One keep-alive connection: a blocking socket plus its h11 state machine."""

    def __init__(self, origin: Origin, sock: socket.socket) -> None:
        self.origin = origin
        self.sock = sock
        self.engine = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()
        self.reused = False
        self.bytes_received = 0
        self.closed = False
        self._out: list[bytes] = []
        self._out_size = 0

    def usable(self, idle_timeout: float) -> bool:
        """Whether an idle pooled connection may carry another request.

        An idle connection has nothing to read: a readable one was closed by the
        server (or sent something unasked), so it is not reused.
        """
        if self.closed or self.engine.our_state is not h11.IDLE:
            return False
        if time.monotonic() - self.idle_since >= idle_timeout:
            return False
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def _wait(self) -> None:
        self.sock.settimeout(time_left())

    def write(self, event: h11.Event) -> None:
        """Serialize an event; small pieces gather until `flush` (or WRITE_SLICE of them),
        so a small request leaves in one write; a large piece goes out in slices."""
        for piece in self.engine.send_with_data_passthrough(event) or ():
            if len(piece) < WRITE_SLICE:
                self._out.append(bytes(piece))
                self._out_size += len(piece)
                if self._out_size >= WRITE_SLICE:
                    self.flush()
                continue
            self.flush()
            for part in _slices(piece):
                self._send_all(part)

    def flush(self) -> None:
        """Send what `write` gathered."""
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            self._out_size = 0
            self._send_all(data)

    def _send_all(self, data: Chunk) -> None:
        self._wait()
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise Expired from None

    def next_event(self) -> h11.Event:
        """The next response event, reading the socket as needed; errors become ConnectionError."""
        while True:
            try:
                event = self.engine.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConnectionError(f"invalid or truncated HTTP response: {exc}") from None
            if event is h11.NEED_DATA:
                self._receive()
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection before a full response")
            else:
                return cast(h11.Event, event)

    def _receive(self) -> None:
        self._wait()
        try:
            data = self.sock.recv(READ_SIZE)
        except TimeoutError:
            raise Expired from None
        except OSError as exc:
            raise ConnectionError(f"connection lost while reading the response: {exc}") from exc
        self.bytes_received += len(data)
        self.engine.receive_data(data)

    def close(self) -> None:
        """Drop the connection (it may be half-used)."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()


def _slices(chunk: Chunk) -> Iterable[Chunk]:
    if len(chunk) <= WRITE_SLICE:
        return [chunk]
    view = memoryview(chunk).cast("B")
    return [view[i : i + WRITE_SLICE] for i in range(0, len(view), WRITE_SLICE)]


class ConnectionPool:
    """Idle keep-alive connections per origin, at most `max_idle` each."""

    def __init__(
        self,
        tls: ssl.SSLContext | None,
        connect_timeout: float | None,
        max_idle: int,
        idle_timeout: float,
    ) -> None:
        self._tls = tls
        self._connect_timeout = connect_timeout
        self._max_idle = max_idle
        self._idle_timeout = idle_timeout
        self._idle: dict[Origin, list[HttpConnection]] = {}
        self._closed = False
        self._lock = threading.Lock()
        """Threads may share a client over HTTP: each takes its own connection."""

    def acquire(self, origin: Origin) -> HttpConnection:
        """An idle connection to `origin` that still looks alive, or a new one."""
        while (conn := self._take(origin)) is not None:
            if conn.usable(self._idle_timeout):
                conn.reused = True
                return conn
            conn.close()
        return self.connect(origin)

    def _take(self, origin: Origin) -> HttpConnection | None:
        with self._lock:
            idle = self._idle.get(origin)
            return idle.pop() if idle else None

    def connect(self, origin: Origin) -> HttpConnection:
        """A fresh connection, bypassing the pool."""
        return HttpConnection(origin, open_socket(origin, self._tls, self._connect_timeout))

    def release(self, conn: HttpConnection) -> None:
        """Take back a connection whose exchange finished cleanly."""
        conn.engine.start_next_cycle()
        conn.idle_since = time.monotonic()
        conn.bytes_received = 0
        with self._lock:
            idle = self._idle.setdefault(conn.origin, [])
            if not self._closed and len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def idle_count(self) -> int:
        """Idle connections kept (what a test of reuse looks at)."""
        return sum(len(idle) for idle in self._idle.values())

    def close(self) -> None:
        """Close every idle connection; busy ones close when their exchange ends."""
        with self._lock:
            self._closed = True
            conns = [conn for idle in self._idle.values() for conn in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


class SyncHttpResponse:
    """A response whose body is read from the connection as it is iterated."""

    def __init__(
        self, conn: HttpConnection, head: h11.Response, pool: ConnectionPool, sent: bool
    ) -> None:
        self._conn = conn
        self._pool = pool
        self._sent = sent
        self._status = head.status_code
        self._headers = _header_map(head.headers)
        self._started = False
        self._finished = False

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def body(self) -> Iterator[bytes]:
        """The body's chunks as they arrive; ConnectionError if the connection is cut."""
        if self._started or self._finished:
            raise RuntimeError("the response body can be iterated only once, before close()")
        self._started = True
        try:
            while not self._finished:
                event = self._conn.next_event()
                if isinstance(event, h11.Data):
                    if event.data:
                        yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self._finish()
        finally:
            if not self._finished:
                self._drop()

    def close(self) -> None:
        """Stop reading; a connection whose response was not read to the end is closed."""
        if not self._finished:
            self._drop()

    def _finish(self) -> None:
        self._finished = True
        engine = self._conn.engine
        clean = engine.our_state is h11.DONE and engine.their_state is h11.DONE
        if clean and self._sent:
            self._pool.release(self._conn)
        else:
            self._conn.close()

    def _drop(self) -> None:
        self._finished = True
        self._conn.close()


def _header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


def _read_head(conn: HttpConnection) -> h11.Response:
    """Wait for the final response head, skipping 1xx responses."""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            return event


def _send(conn: HttpConnection, head: h11.Request, body: Body) -> None:
    conn.write(head)
    if body is not None:
        chunks = iter(body)
        try:
            for chunk in chunks:
                if len(chunk):
                    conn.write(h11.Data(data=cast(bytes, chunk)))
        except h11.LocalProtocolError as exc:
            raise ValueError(f"request body does not match body_size: {exc}") from None
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
    try:
        conn.write(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:
        raise ValueError(f"request body does not match body_size: {exc}") from None
    conn.flush()


def exchange(
    conn: HttpConnection, head: h11.Request, body: Body, pool: ConnectionPool
) -> SyncHttpResponse:
    """Send the request, then return once the response head is in.

    A send cut by the server (it answered early and closed) still reads the
    answer it sent; with none, the send's error is raised.
    """
    sent = True
    try:
        try:
            _send(conn, head, body)
        except OSError as exc:
            sent = False
            try:
                response = _read_head(conn)
            except OSError:
                raise ConnectionError(f"the request could not be sent: {exc}") from exc
            return SyncHttpResponse(conn, response, pool, sent)
        return SyncHttpResponse(conn, _read_head(conn), pool, sent)
    except BaseException:
        conn.close()
        raise


class SyncCPythonRuntime:
    """HTTP/1.1 with a keep-alive pool over blocking sockets (the sync face's CPython runtime).

    The options are the async `CPythonRuntime`'s: `ssl_context` replaces the
    default verified context, `connect_timeout` bounds TCP+TLS setup.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        max_idle_per_origin: int = 8,
        idle_timeout: float = 30.0,
        max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
    ) -> None:
        self._tls = ssl_context
        self._connect_timeout = connect_timeout
        self._max_frame_bytes = max_frame_bytes
        self.pool = ConnectionPool(ssl_context, connect_timeout, max_idle_per_origin, idle_timeout)

    def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> SyncHttpResponse:
        """Send a request; return once the response head is in (body still streaming).

        A pooled connection that turns out dead before any response byte is
        retried once on a fresh connection when the body can be sent again.
        """
        origin, target = parse_url(url, _HTTP_SCHEMES)
        head = request_head(method, origin, target, headers, body, body_size)
        conn = self.pool.acquire(origin)
        try:
            return exchange(conn, head, body, self.pool)
        except ConnectionError:
            replayable = body is None or isinstance(body, ReplayableBody)
            if not (replayable and conn.reused and conn.bytes_received == 0):
                raise
        return exchange(self.pool.connect(origin), head, body, self.pool)

    def websocket(self, url: str, subprotocols: Sequence[str], headers: Headers = ()) -> WebSocket:
        """Open a WebSocket (`ws://` or `wss://`) within the connect timeout.

        Raises WebSocketRejected (a ConnectionError with `.status`) when the
        server answers the upgrade with another HTTP status.
        """
        from ppg_edge._sync.cpython_websocket import open_websocket

        origin, target = parse_url(url, _WS_SCHEMES)
        return open_websocket(
            origin,
            target,
            subprotocols,
            headers,
            self._tls,
            self._connect_timeout,
            self._max_frame_bytes,
        )

    def close(self) -> None:
        """Close the idle pooled connections; later requests open new ones."""
        self.pool.close()
