"""WebSocket sessions: one database session, statements pipelined and answered FIFO.

A reader task feeds every incoming message to the sans-IO SessionMachine and
wakes the statements it concerns; statements are sent as soon as they are
issued, through a chain of send tasks that keeps their messages contiguous and
in issue order even when a caller is cancelled mid-send. A statement whose
consumer stops reading (break, aclose, cancellation or timeout) is abandoned:
its remaining frames are drained and discarded and the session stays usable.
When the server selected the cancel extension (PROTOCOL.md section 6), the
driver also tells it to cancel that statement, so what runs behind it does not
wait for it to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ppg_edge._failures import TRANSPORT_ERRORS, transport_failure
from ppg_edge.answers import Deadline, exec_count, start_query, statement_deadline
from ppg_edge.closing import AsyncClosing
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT, ConnectionInfo
from ppg_edge.core.errors import ConnectTimeoutError, GenericError, WebSocketError
from ppg_edge.core.frames import Complete, Failure, Frame
from ppg_edge.core.protocol import (
    CANCEL_STATEMENT_KEY,
    CANCEL_URN,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    EXEC_KIND,
    QUERY_KIND,
    WS_SUBPROTOCOL,
    WS_SUBPROTOCOL_CANCEL,
)
from ppg_edge.core.session import PendingStatement, SessionMachine, statement_messages
from ppg_edge.core.statement import encode_statement
from ppg_edge.core.types import TypeRegistry
from ppg_edge.results import QueryResult
from ppg_edge.runtime.base import Runtime, WebSocket, WebSocketClosed, WebSocketRejected

T = TypeVar("T")

HIGH_WATER = 1 << 20
"""Bytes buffered for the statement being received before the reader pauses."""


@dataclass(frozen=True)
class Prepared:
    """A statement serialized into its messages, not yet queued or sent."""

    kind: str
    messages: list[str | bytes]


class Session(AsyncClosing):
    """An open WebSocket session; use `async with` or `await close()` (alias `aclose`)."""

    def __init__(self, socket: WebSocket, registry: TypeRegistry, timeout: float | None) -> None:
        self.registry = registry
        self.timeout = timeout
        self._socket = socket
        self.cancels = socket.subprotocol == WS_SUBPROTOCOL_CANCEL
        """True when the server takes cancel messages (PROTOCOL.md section 6)."""
        self._machine = SessionMachine()
        self._waiters: dict[PendingStatement, asyncio.Future[None]] = {}
        self._last_send: asyncio.Task[None] | None = None
        self._closing = False
        self._resume = asyncio.Event()
        self._resume.set()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(
        cls,
        runtime: Runtime,
        connection: ConnectionInfo,
        registry: TypeRegistry,
        timeout: float | None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> Session:
        """Connect, check the subprotocol and send the credentials.

        Connecting (TCP, TLS, upgrade, credentials) must finish within
        `connect_timeout` (ConnectTimeoutError), on every runtime, and within the
        statement `timeout` too (QueryTimeoutError). No acknowledgement exists, so
        bad credentials surface as a WebSocketError with close code 1008 at the
        first statement at the latest.
        """
        __tracebackhide__ = True
        connecting = _connect(runtime, connection)
        socket = await Deadline(timeout, "opening the session").wait(
            _within(connect_timeout, connecting, f"opening a session at {connection.endpoint}")
        )
        return cls(socket, registry, timeout)

    @property
    def active(self) -> bool:
        """True while the session can run statements."""
        return self._machine.open and not self._closing

    @property
    def pending(self) -> int:
        """Statements sent whose answer has not fully arrived."""
        return self._machine.pending

    def deadline(self, timeout: float | None) -> Deadline:
        """A statement's deadline: its own timeout, else the session-wide one."""
        return statement_deadline(timeout, self.timeout)

    async def query(self, sql: str, *params: Any, timeout: float | None = None) -> QueryResult:
        """Send a query now; return once its columns are known, rows still streaming."""
        __tracebackhide__ = True
        deadline = self.deadline(timeout)
        pending = self.submit(await self.prepare(QUERY_KIND, sql, params))
        return await self.query_result(pending, deadline)

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        """Send a statement now and return the number of rows it affected."""
        __tracebackhide__ = True
        deadline = self.deadline(timeout)
        pending = self.submit(await self.prepare(EXEC_KIND, sql, params))
        return await self.exec_result(pending, deadline)

    async def prepare(self, kind: str, sql: str, params: Sequence[Any]) -> Prepared:
        """Serialize a statement into its messages, before anything is queued or sent."""
        values = [self.registry.serialize(value) for value in params]
        return Prepared(kind, await statement_messages(encode_statement(kind, sql, values)))

    def submit(self, prepared: Prepared) -> PendingStatement:
        """Queue a prepared statement and send it behind every earlier one."""
        if self._closing:
            raise WebSocketError("the session is closed", CLOSE_NORMAL)
        pending = self._machine.submit(prepared.kind)
        self._last_send = asyncio.ensure_future(
            self._send_after(self._last_send, prepared.messages, pending)
        )
        return pending

    def abandon(self, pending: PendingStatement) -> None:
        """Discard a submitted statement's answer, which nobody will read."""
        self._machine.abandon(pending)
        self._resume.set()

    def _give_up(self, pending: PendingStatement) -> None:
        """Abandon a statement and, if the server takes cancel messages and its answer is
        still to come, ask the server to stop it (sent behind the statement itself)."""
        self.abandon(pending)
        if self.cancels and not pending.finished and self._machine.open and not self._closing:
            message = json.dumps({CANCEL_STATEMENT_KEY: pending.number})
            self._last_send = asyncio.ensure_future(
                self._send_after(self._last_send, [CANCEL_URN, message], None)
            )

    async def query_result(self, pending: PendingStatement, deadline: Deadline) -> QueryResult:
        """The answer to a submitted query."""
        __tracebackhide__ = True
        return await start_query(self._frames(pending, deadline), self.registry)

    async def exec_result(self, pending: PendingStatement, deadline: Deadline) -> int:
        """The affected count of a submitted exec statement."""
        __tracebackhide__ = True
        return await exec_count(self._frames(pending, deadline))

    async def _frames(
        self, pending: PendingStatement, deadline: Deadline
    ) -> AsyncIterator[list[Frame]]:
        __tracebackhide__ = True
        finished = False
        try:
            while True:
                frames = pending.pop_all()
                self._resume.set()
                if not frames:
                    await deadline.wait(self._wait(pending))
                    continue
                last = frames[-1]
                if isinstance(last, Complete | Failure):
                    finished = True
                    if len(frames) > 1:
                        yield frames[:-1]
                    if isinstance(last, Failure):
                        raise last.error
                    return
                yield frames
        finally:
            if not finished:
                self._give_up(pending)

    async def _wait(self, pending: PendingStatement) -> None:
        __tracebackhide__ = True
        if pending.buffered or pending.finished:
            return
        self._resume.set()
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[pending] = waiter
        try:
            await waiter
        finally:
            self._waiters.pop(pending, None)

    def _wake(self) -> None:
        """Wake every statement with something to read (after a failure or close)."""
        for pending in self._waiters:
            self._wake_one(pending)

    def _wake_one(self, pending: PendingStatement) -> None:
        waiter = self._waiters.get(pending)
        if waiter is not None and (pending.buffered or pending.finished) and not waiter.done():
            waiter.set_result(None)

    async def _send_after(
        self,
        previous: asyncio.Task[None] | None,
        messages: list[str | bytes],
        pending: PendingStatement | None,
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        if not self._machine.open:
            return
        try:
            for message in messages:
                await self._socket.send(message)
            if pending is not None:
                self._machine.sent(pending)
        except WebSocketClosed as closed:
            self._machine.closed(closed.code, closed.reason)
            self._wake()
        except Exception as exc:
            self._machine.fail(WebSocketError(f"sending on the session failed: {exc}"))
            self._wake()
            with contextlib.suppress(Exception):
                await self._socket.close(CLOSE_PROTOCOL_ERROR, "send failed")

    async def _read(self) -> None:
        machine = self._machine
        try:
            while machine.open:
                message = await self._socket.receive()
                head = machine.head
                code = machine.receive(message)
                if code is None and machine.open and head is not None:
                    self._wake_one(head)  # a message only ever answers the head: O(1)
                else:
                    self._wake()
                if code is not None:
                    with contextlib.suppress(Exception):
                        await self._socket.close(code, "protocol error")
                await self._backpressure()
        except WebSocketClosed as closed:
            machine.closed(closed.code, closed.reason)
        except asyncio.CancelledError:
            machine.fail(WebSocketError("the session was closed", CLOSE_NORMAL))
            raise
        except Exception as exc:
            machine.fail(WebSocketError(f"the session's WebSocket failed: {exc}"))
        finally:
            self._wake()

    async def _backpressure(self) -> None:
        """Pause reading while the statement being received has a full buffer and no
        other statement waits; reading resumes when its consumer drains the buffer,
        abandons it, or anyone starts waiting. The runtime and TCP then push back on
        the server, so a slow consumer of a large result holds bounded memory."""
        head = self._machine.head
        if head is None or head.buffered_bytes <= HIGH_WATER:
            return
        if not any(not waiter.done() for waiter in self._waiters.values()):
            self._resume.clear()
            await self._resume.wait()

    async def close(self) -> None:
        """Close the socket; statements still waiting fail with a WebSocketError."""
        if self._closing:
            return
        self._closing = True
        self._machine.fail(WebSocketError("the session was closed by the client", CLOSE_NORMAL))
        self._wake()
        with contextlib.suppress(Exception):
            await self._socket.close(CLOSE_NORMAL, "")
        for task in (self._reader, self._last_send):
            if task is not None and not task.done():
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._reader, self._last_send) if t is not None),
            return_exceptions=True,
        )

    aclose = close
    """`close` under the name every other closable object of the driver uses."""


async def _within(timeout: float | None, connecting: Awaitable[T], action: str) -> T:
    """Await a connection step, raising ConnectTimeoutError if it outlasts `timeout`."""
    if timeout is None:
        return await connecting
    try:
        async with asyncio.timeout(timeout):
            return await connecting
    except TimeoutError as exc:
        if isinstance(exc, GenericError):
            raise  # the runtime's own connect timeout: already typed
        raise ConnectTimeoutError(f"{action} did not finish within {timeout:g} s") from None


async def _connect(runtime: Runtime, connection: ConnectionInfo) -> WebSocket:
    """Open the WebSocket and send the credentials; every failure a typed error."""
    __tracebackhide__ = True
    try:
        socket = await runtime.websocket(connection.session_url(), _offer(connection))
    except WebSocketClosed as closed:
        raise _closed_error("the session could not open", closed) from None
    except WebSocketRejected as refused:
        raise _rejected_error(connection, refused) from refused
    except GenericError:
        raise
    except TRANSPORT_ERRORS as exc:
        what = f"opening a session at {connection.endpoint}"
        raise transport_failure(exc, what, session=True) from exc
    try:
        await _authenticate(socket, connection)
    except BaseException:
        with contextlib.suppress(Exception):
            await socket.close(CLOSE_PROTOCOL_ERROR, "session setup failed")
        raise
    return socket


async def _authenticate(socket: WebSocket, connection: ConnectionInfo) -> None:
    """Check the negotiated subprotocol, then send the credentials message."""
    __tracebackhide__ = True
    if socket.subprotocol not in _offer(connection):
        raise WebSocketError(f"the server did not select the {WS_SUBPROTOCOL} subprotocol")
    try:
        await socket.send(connection.auth_message())
    except WebSocketClosed as closed:
        raise _closed_error("the session closed at authentication", closed) from None
    except OSError as exc:
        raise WebSocketError(f"the session failed at authentication: {exc}") from exc


def _offer(connection: ConnectionInfo) -> list[str]:
    """The subprotocols to offer: the standard one first; the cancel extension only to an
    endpoint the caller named (a gateway), so Prisma's servers see the official offer."""
    if connection.explicit_endpoint:
        return [WS_SUBPROTOCOL, WS_SUBPROTOCOL_CANCEL]
    return [WS_SUBPROTOCOL]


def _rejected_error(connection: ConnectionInfo, refused: WebSocketRejected) -> WebSocketError:
    """A refused upgrade, keeping its HTTP status (and the server's explanation)."""
    status = "an unknown status" if refused.status is None else f"HTTP {refused.status}"
    detail = f": {refused.body}" if refused.body else ""
    message = f"the server at {connection.endpoint} refused the session with {status}{detail}"
    return WebSocketError(message, status=refused.status)


def _closed_error(message: str, closed: WebSocketClosed) -> WebSocketError:
    return WebSocketError(f"{message} ({closed.code}: {closed.reason})", closed.code, closed.reason)
