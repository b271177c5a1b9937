"""HTTP/1.1 over asyncio streams with h11 as the sans-IO engine (CPython only).

Connections are kept alive in a small per-origin pool. A connection goes back
to the pool only after its response was read to the end; anything else
(cancellation, `aclose()` mid-body, a protocol error) drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from asyncio.trsock import TransportSocket
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast
from urllib.parse import urlsplit

import h11

from ppg_edge.core.errors import ConnectTimeoutError
from ppg_edge.runtime.base import Chunk

READ_SIZE: Final = 64 * 1024
"""Bytes asked of the socket per read."""

WRITE_SLICE: Final = 256 * 1024
"""Large body chunks are written in slices of this size, each followed by a drain."""

SMALL_REQUEST: Final = 64 * 1024
"""A request whose body is declared at most this long leaves in one transport write.

Head and body written apart cost two send() calls, usually two TCP segments and
two wake-ups of the server for one statement; tests/runtime/test_cpython_http.py
counts the writes.
"""

_FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding"})
_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_SECURE_SCHEMES: Final = frozenset({"https", "wss"})


KEEPALIVE_IDLE: Final = 30
"""Seconds a connection may be silent before TCP keep-alive probes start."""

KEEPALIVE_INTERVAL: Final = 10
"""Seconds between keep-alive probes."""

KEEPALIVE_COUNT: Final = 3
"""Unanswered probes after which the OS drops the connection: a peer that vanished
(host down, network cut, NAT entry lost) is noticed within about 60 s of silence."""


@dataclass(frozen=True)
class Origin:
    """Where a connection goes; also the pool key."""

    secure: bool
    host: str
    port: int

    @property
    def authority(self) -> str:
        """The Host header value: the port only when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(url: str, schemes: frozenset[str]) -> tuple[Origin, str]:
    """Split a URL into its origin and request target (path and query)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in schemes or not parts.hostname:
        allowed = ", ".join(sorted(schemes))
        raise ValueError(f"expected an absolute URL with scheme {allowed}, got {scheme or 'none'}")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError("invalid port in URL") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Origin(scheme in _SECURE_SCHEMES, parts.hostname, port), target


def default_ssl_context() -> ssl.SSLContext:
    """Verified TLS (system trust store, hostname check) that offers only HTTP/1.1."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def enable_keepalive(sock: socket.socket | TransportSocket) -> None:
    """Turn on TCP keep-alive with our timings, each where this OS has the option.

    Probes run only while the connection is idle (nothing unacknowledged), which
    is exactly a statement waiting for its answer: a dead peer then fails the
    read instead of leaving it waiting forever. macOS names the idle time
    TCP_KEEPALIVE; an option the OS refuses keeps the system default.
    """
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    timings = (
        (idle, KEEPALIVE_IDLE),
        (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL),
        (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_COUNT),
    )
    for option, value in timings:
        if option is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


async def open_stream(
    origin: Origin,
    tls: ssl.SSLContext | None,
    timeout: float | None,
    wrap: Callable[[asyncio.StreamReaderProtocol], asyncio.Protocol] | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a TCP connection, with TLS for secure origins and keep-alive on, within
    `timeout` seconds (None: no limit).

    `wrap` puts a protocol of the caller's in front of the stream's (a WebSocket's
    `ChunkFeed`, which then receives the data instead of the StreamReader).
    """
    secure = origin.secure
    if secure and tls is None:
        tls = default_ssl_context()
    try:
        reader, writer = await asyncio.wait_for(_connect(origin, tls, wrap), timeout)
    except TimeoutError:
        raise ConnectTimeoutError(
            f"connecting to {origin.authority} timed out after {timeout or 0:g} s"
        ) from None
    except ssl.SSLError:
        raise
    except OSError as exc:
        if isinstance(exc, ConnectionError):
            raise
        raise ConnectionError(f"cannot connect to {origin.authority}: {exc}") from exc
    sock = writer.get_extra_info("socket")
    if sock is not None:
        enable_keepalive(sock)
    return reader, writer


async def _connect(
    origin: Origin,
    tls: ssl.SSLContext | None,
    wrap: Callable[[asyncio.StreamReaderProtocol], asyncio.Protocol] | None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """What `asyncio.open_connection` does, with the transport's protocol wrapped if asked."""
    secure, host = origin.secure, origin.host
    context, name = (tls, host) if secure else (None, None)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    inner = asyncio.StreamReaderProtocol(reader, loop=loop)
    protocol = inner if wrap is None else wrap(inner)
    transport, _ = await loop.create_connection(
        lambda: protocol, host, origin.port, ssl=context, server_hostname=name
    )
    return reader, asyncio.StreamWriter(transport, inner, reader, loop)


class HttpConnection:
    """One keep-alive connection: the streams plus its h11 state machine."""

    def __init__(
        self, origin: Origin, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.origin = origin
        self.reader = reader
        self.writer = writer
        self.engine = h11.Connection(h11.CLIENT)
        self.loop = asyncio.get_running_loop()
        self.idle_since = self.loop.time()
        self.reused = False
        self.bytes_received = 0

    def usable(self, idle_timeout: float) -> bool:
        """Whether an idle pooled connection may carry another request."""
        return (
            self.loop is asyncio.get_running_loop()
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            and self.engine.our_state is h11.IDLE
            and self.loop.time() - self.idle_since < idle_timeout
        )

    def write(self, event: h11.Event) -> None:
        """Serialize an event; large data goes to the transport without a copy."""
        for piece in self.serialize(event):
            self.writer.write(piece)

    def serialize(self, event: h11.Event) -> list[bytes]:
        """An event's bytes, not yet written (data passes through uncopied)."""
        return self.engine.send_with_data_passthrough(event) or []

    async def next_event(self) -> h11.Event:
        """The next response event, reading the socket as needed; errors become ConnectionError."""
        while True:
            try:
                event = self.engine.next_event()
            except h11.RemoteProtocolError as exc:
                raise ConnectionError(f"invalid or truncated HTTP response: {exc}") from None
            if event is h11.NEED_DATA:
                await self._receive()
            elif event is h11.PAUSED or isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection before a full response")
            else:
                return cast(h11.Event, event)

    async def _receive(self) -> None:
        try:
            data = await self.reader.read(READ_SIZE)
        except OSError as exc:
            raise ConnectionError(f"connection lost while reading the response: {exc}") from exc
        self.bytes_received += len(data)
        self.engine.receive_data(data)

    def abort(self) -> None:
        """Drop the connection at once (it may be half-used)."""
        if not self.writer.is_closing():
            self.writer.transport.abort()

    async def close(self) -> None:
        """Close an idle connection politely."""
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except (OSError, TimeoutError):
            self.abort()


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

    async def acquire(self, origin: Origin) -> HttpConnection:
        """An idle connection to `origin` that still looks alive, or a new one."""
        idle = self._idle.get(origin, [])
        while idle:
            conn = idle.pop()
            if conn.usable(self._idle_timeout):
                conn.reused = True
                return conn
            _discard(conn)
        return await self.connect(origin)

    async def connect(self, origin: Origin) -> HttpConnection:
        """A fresh connection, bypassing the pool."""
        reader, writer = await open_stream(origin, self._tls, self._connect_timeout)
        return HttpConnection(origin, reader, writer)

    def release(self, conn: HttpConnection) -> None:
        """Take back a connection whose exchange finished cleanly."""
        idle = self._idle.setdefault(conn.origin, [])
        if self._closed or len(idle) >= self._max_idle:
            conn.writer.close()
            return
        conn.engine.start_next_cycle()
        conn.idle_since = conn.loop.time()
        conn.bytes_received = 0
        idle.append(conn)

    async def aclose(self) -> None:
        """Close every idle connection; busy ones are closed when their exchange ends."""
        self._closed = True
        conns = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        await asyncio.gather(*(conn.close() for conn in conns), return_exceptions=True)


def _discard(conn: HttpConnection) -> None:
    with contextlib.suppress(RuntimeError):  # its event loop may be gone already
        conn.abort()


def _slices(chunk: Chunk) -> list[memoryview] | list[Chunk]:
    if len(chunk) <= WRITE_SLICE:
        return [chunk]
    view = memoryview(chunk).cast("B")
    return [view[i : i + WRITE_SLICE] for i in range(0, len(view), WRITE_SLICE)]


def request_head(
    method: str,
    origin: Origin,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: object | None,
    body_size: int | None,
) -> h11.Request:
    """The request line and headers, with our framing: Content-Length or chunked.

    Only whether there is a `body` matters here (the sync runtime shares this)."""
    names = {name.lower() for name, _ in headers}
    fields = [] if "host" in names else [("Host", origin.authority)]
    fields += [(n, v) for n, v in headers if n.lower() not in _FRAMING_HEADERS]
    if body is None:
        if method.upper() not in {"GET", "HEAD", "OPTIONS"}:
            fields.append(("Content-Length", "0"))
    elif body_size is not None:
        fields.append(("Content-Length", str(body_size)))
    else:
        fields.append(("Transfer-Encoding", "chunked"))
    try:
        return h11.Request(method=method, target=target, headers=fields)
    except h11.LocalProtocolError:
        raise ValueError("invalid HTTP method, target or header (values withheld)") from None


async def send_request(
    conn: HttpConnection, head: h11.Request, body: AsyncIterable[Chunk] | None
) -> None:
    """Write the head, then the body: a small one together with it, else chunk by chunk."""
    try:
        if body is not None and _declared_length(head) <= SMALL_REQUEST:
            await _send_small(conn, head, aiter(body))
            return
        conn.write(head)
        await conn.writer.drain()
        if body is not None:
            await _send_body(conn, aiter(body))
        conn.write(h11.EndOfMessage())
    except h11.LocalProtocolError as exc:
        raise ValueError(f"request body does not match body_size: {exc}") from None
    await conn.writer.drain()


def _declared_length(head: h11.Request) -> int:
    """The head's Content-Length, or a length beyond any limit when it streams chunked."""
    for name, value in head.headers:
        if name == b"content-length":
            return int(value)
    return 1 << 62


async def _send_small(
    conn: HttpConnection, head: h11.Request, chunks: AsyncIterator[Chunk]
) -> None:
    """Head, body and end of message in one transport write (see SMALL_REQUEST)."""
    pieces = conn.serialize(head)
    try:
        async for chunk in chunks:
            if len(chunk):
                pieces += conn.serialize(h11.Data(data=cast(bytes, chunk)))
    finally:
        await _close_source(chunks)
    pieces += conn.serialize(h11.EndOfMessage())
    conn.writer.write(b"".join(pieces))
    await conn.writer.drain()


async def _send_body(conn: HttpConnection, chunks: AsyncIterator[Chunk]) -> None:
    """Stream the chunks; the source is closed promptly even when the upload is cut."""
    try:
        async for chunk in chunks:
            for piece in _slices(chunk):
                if len(piece):
                    conn.write(h11.Data(data=cast(bytes, piece)))
                    await conn.writer.drain()
    finally:
        await _close_source(chunks)


async def _close_source(chunks: AsyncIterator[Chunk]) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


class CPythonHttpResponse:
    """A response whose body is read from the connection as it is iterated."""

    def __init__(
        self,
        conn: HttpConnection,
        head: h11.Response,
        sender: asyncio.Task[None],
        pool: ConnectionPool,
    ) -> None:
        self._conn = conn
        self._sender = sender
        self._pool = pool
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

    async def body(self) -> AsyncIterator[bytes]:
        """The body's chunks as they arrive; ConnectionError if the connection is cut."""
        if self._started or self._finished:
            raise RuntimeError("the response body can be iterated only once, before aclose()")
        self._started = True
        try:
            while not self._finished:
                event = await self._conn.next_event()
                if isinstance(event, h11.Data):
                    if event.data:
                        yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self._finish()
        finally:
            if not self._finished:
                self._drop()

    async def aclose(self) -> None:
        """Stop reading; a connection whose response was not read to the end is closed."""
        if not self._finished:
            self._drop()
        if not self._sender.done():
            await asyncio.gather(self._sender, return_exceptions=True)

    def _finish(self) -> None:
        """The response ended: reuse the connection if the request was fully sent too.

        A sender still running once its end-of-message is written is only
        awaiting its last drain, which does not stop the connection's reuse.
        """
        self._finished = True
        sender = self._sender
        engine = self._conn.engine
        if engine.our_state is not h11.DONE or engine.their_state is not h11.DONE:
            self._drop()
        elif not sender.done():
            sender.add_done_callback(_observe)
            self._pool.release(self._conn)
        elif sender.cancelled() or sender.exception() is not None:
            self._drop()
        else:
            self._pool.release(self._conn)

    def _drop(self) -> None:
        self._finished = True
        sender = self._sender
        if sender.done() and not sender.cancelled():
            sender.exception()  # mark a late upload failure as seen: the answer came first
        sender.cancel()
        _discard(self._conn)


def _observe(task: asyncio.Task[None]) -> None:
    if not task.cancelled():
        task.exception()


def _header_map(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in raw:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


async def read_head(conn: HttpConnection) -> h11.Response:
    """Wait for the final response head, skipping 1xx responses."""
    while True:
        event = await conn.next_event()
        if isinstance(event, h11.Response):
            return event


async def exchange(
    conn: HttpConnection, head: h11.Request, body: AsyncIterable[Chunk] | None, pool: ConnectionPool
) -> CPythonHttpResponse:
    """Send a request while watching for its response; return once the head is in.

    The body is sent in its own task so that an early answer (say 413) is seen
    even while the upload is still running, and a failing body iterator is
    reported instead of waiting for a response that never comes.
    """
    sender = asyncio.create_task(send_request(conn, head, body))
    receiver = asyncio.create_task(read_head(conn))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        if not receiver.done() and sender.exception() is not None:
            error = sender.exception()
            if not isinstance(error, OSError):
                raise cast(BaseException, error)
        response = await receiver
    except BaseException:
        sender.cancel()
        receiver.cancel()
        _discard(conn)
        await asyncio.gather(sender, receiver, return_exceptions=True)
        raise
    return CPythonHttpResponse(conn, response, sender, pool)
