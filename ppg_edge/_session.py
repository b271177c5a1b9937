"""WebSocket sessions: one database session, statements pipelined and answered FIFO.

Reading is pulled, not pushed: no task reads in the background. A statement's
consumer that needs frames reads the socket itself, one batch of messages at a
time (`receive_many`: all that one socket read completed), and feeds the
sans-IO SessionMachine; frames for other statements wait in their own buffers,
and only the statements whose frames arrived are woken (O(1) per statement,
whatever is in flight). While one consumer reads, the others park; when it has
what it needs it hands reading over to the oldest parked one. So nothing is
read that nobody asked for: a slow consumer of a large result holds one batch,
and the runtime and TCP push back on the server (backpressure for free).

Statements are sent as soon as they are issued, in issue order with each one's
messages contiguous, by one sender task (so a caller cancelled mid-send cannot
cut a statement in half): what was queued by the time it runs goes out in one
`send_many`, one transport write on CPython, so a burst shares its writes.
A statement whose consumer stops reading (break, aclose, cancellation or
timeout) is abandoned: its remaining frames are discarded as whoever reads next
passes them, and the session stays usable. When the server selected the cancel
extension (PROTOCOL.md section 6), the driver also tells it to cancel that
statement, so what runs behind it does not wait for it to finish.

Only `async def`/`await` are used, and what is asyncio's (futures to park and
wake, the sender task) sits in a few small methods, so the module can be turned
into its synchronous twin mechanically.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ppg_edge._answers import Deadline, exec_count, start_query, statement_deadline
from ppg_edge._closing import AsyncClosing
from ppg_edge._failures import TRANSPORT_ERRORS, session_failure, transport_failure
from ppg_edge._parameter_streams import session_messages
from ppg_edge._results import QueryResult
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT, ConnectionInfo
from ppg_edge.core.errors import ConnectTimeoutError, GenericError, WebSocketError
from ppg_edge.core.frames import Complete, Failure
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
from ppg_edge.core.session import AnswerItem, Outbox, PendingStatement, SessionMachine
from ppg_edge.core.statement import encode_statement
from ppg_edge.core.types import TypeRegistry
from ppg_edge.rows import RowFactory, check_factory, values_row
from ppg_edge.runtime.base import Message, Runtime, WebSocket, WebSocketClosed, WebSocketRejected

T = TypeVar("T")

SEND_EARLY = 16
"""Statements queued at once that leave without waiting for the sender task (see
`Session._send_later`). On the workload of `benchmarks/compare.py --only burst` (2,000
statements made by `asyncio.gather`), the first bytes left about 7 ms in instead of 80,
and alternating rounds gave a median of 8,985 statements/s against 7,320 without early
sends (7,577 against 7,173 once the gateway batched a pipeline's answers). 4 to 64
measured alike within the noise; 16 writes 125 times for 2,000 statements."""


@dataclass(frozen=True)
class Prepared:
    """A statement serialized into its messages, not yet queued or sent."""

    kind: str
    messages: list[Message]


class Session(AsyncClosing):
    """An open WebSocket session; use `async with` or `await close()` (alias `aclose`)."""

    def __init__(self, socket: WebSocket, registry: TypeRegistry, timeout: float | None) -> None:
        self.registry = registry
        self.timeout = timeout
        self.row_factory: RowFactory = values_row
        """How `query()` builds rows unless a statement says otherwise (the client's)."""
        self._socket = socket
        self.cancels = socket.subprotocol == WS_SUBPROTOCOL_CANCEL
        """True when the server takes cancel messages (PROTOCOL.md section 6)."""
        self._machine = SessionMachine()
        self._reading = False
        """True while some statement's consumer reads the socket for everyone."""
        self._parked: OrderedDict[PendingStatement, asyncio.Future[None]] = OrderedDict()
        """Consumers waiting for frames while another reads, oldest first."""
        self._outbox = Outbox()
        """Messages of statements submitted and not yet handed to the socket, in order."""
        self._sender: asyncio.Task[None] | None = None
        self._sending = False
        """True while the sender task waits on the socket: nothing may be written before
        its messages are all out."""
        self._closing = False

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
        self._notice_close()
        return self._machine.open and not self._closing and self._socket.close_status is None

    def _notice_close(self) -> None:
        """Take in a close that came while nobody read (an idle timeout, a restart).

        Nothing reads while no statement waits, so the socket is asked. With no
        statement pending, nothing queued can be an answer: the session ends with
        the server's code. Otherwise the pending statements' consumers read what
        came before the close, and meet it after.
        """
        machine = self._machine
        closed = self._socket.close_status
        if closed is not None and machine.open and not machine.pending and not self._reading:
            machine.closed(closed.code, closed.reason)

    @property
    def pending(self) -> int:
        """Statements sent whose answer has not fully arrived."""
        return self._machine.pending

    def deadline(self, timeout: float | None) -> Deadline:
        """A statement's deadline: its own timeout, else the session-wide one."""
        return statement_deadline(timeout, self.timeout)

    async def query(
        self,
        sql: str,
        *params: Any,
        timeout: float | None = None,
        row_factory: RowFactory | None = None,
    ) -> QueryResult:
        """Send a query now; return once its columns are known, rows still streaming."""
        __tracebackhide__ = True
        deadline = self.deadline(timeout)
        pending = self.submit(await self.prepare(QUERY_KIND, sql, params))
        return await self.query_result(pending, deadline, row_factory)

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        """Send a statement now and return the number of rows it affected."""
        __tracebackhide__ = True
        deadline = self.deadline(timeout)
        pending = self.submit(await self.prepare(EXEC_KIND, sql, params))
        return await self.exec_result(pending, deadline)

    async def prepare(self, kind: str, sql: str, params: Sequence[Any]) -> Prepared:
        """Serialize a statement into its messages, before anything is queued or sent."""
        values = [self.registry.serialize(value) for value in params]
        return Prepared(kind, await session_messages(encode_statement(kind, sql, values)))

    def submit(self, prepared: Prepared) -> PendingStatement:
        """Queue a prepared statement and send it behind every earlier one."""
        if self._closing:
            raise WebSocketError("the session is closed", CLOSE_NORMAL)
        self._notice_close()
        closed = self._socket.close_status
        if closed is not None and self._machine.open:  # answers still to read: keep them
            raise _closed_error("the session's WebSocket closed", closed)
        pending = self._machine.submit(prepared.kind)
        self._send_later(prepared.messages, pending)
        return pending

    def abandon(self, pending: PendingStatement) -> None:
        """Discard a submitted statement's answer, which nobody will read."""
        self._machine.abandon(pending)

    def _give_up(self, pending: PendingStatement) -> None:
        """Abandon a statement and, if the server takes cancel messages and its answer is
        still to come, ask the server to stop it (sent behind the statement itself)."""
        self.abandon(pending)
        if self.cancels and not pending.finished and self._machine.open and not self._closing:
            message = json.dumps({CANCEL_STATEMENT_KEY: pending.number})
            self._send_later([CANCEL_URN, message], None)

    async def query_result(
        self, pending: PendingStatement, deadline: Deadline, row_factory: RowFactory | None = None
    ) -> QueryResult:
        """The answer to a submitted query, its rows built by `row_factory` (else the
        session's)."""
        __tracebackhide__ = True
        factory = self.row_factory if row_factory is None else check_factory(row_factory)
        return await start_query(self._frames(pending, deadline), self.registry, factory)

    async def exec_result(self, pending: PendingStatement, deadline: Deadline) -> int:
        """The affected count of a submitted exec statement."""
        __tracebackhide__ = True
        return await exec_count(self._frames(pending, deadline))

    async def _frames(
        self, pending: PendingStatement, deadline: Deadline
    ) -> AsyncIterator[list[AnswerItem]]:
        __tracebackhide__ = True
        finished = False
        try:
            while True:
                frames = pending.pop_all()
                if not frames:
                    await deadline.wait(self._fill(pending))
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

    async def _fill(self, pending: PendingStatement) -> None:
        """Return once `pending` has something to read: read the socket for everyone,
        or, while another consumer does, wait to be woken by it."""
        __tracebackhide__ = True
        while not (pending.buffered or pending.finished):
            machine = self._machine
            if machine.error is not None:
                raise machine.error  # a statement the failure did not reach (never queued)
            if self._reading:
                await self._park(pending)
            else:
                await self._read_for(pending)

    async def _read_for(self, pending: PendingStatement) -> None:
        """Be the reader until `pending` has something; then hand reading over."""
        self._reading = True
        try:
            while not (pending.buffered or pending.finished) and self._machine.open:
                await self._read_once()
        finally:
            self._reading = False
            self._hand_over()

    async def _read_once(self) -> None:
        """One batch of messages from the socket into the machine; wake whom it answered."""
        machine = self._machine
        try:
            messages = await self._socket.receive_many()
        except WebSocketClosed as closed:
            machine.closed(closed.code, closed.reason)
        except Exception as exc:
            machine.fail(session_failure(exc, "the session's WebSocket failed"))
        else:
            code = machine.receive_many(messages)
            if code is not None:
                self._wake_answered()
                with contextlib.suppress(Exception):
                    await self._socket.close(code, "protocol error")
        self._wake_answered()

    async def _park(self, pending: PendingStatement) -> None:
        """Wait until the reader brings `pending` something or hands reading over."""
        waiter = asyncio.get_running_loop().create_future()
        self._parked[pending] = waiter
        try:
            await waiter
        except BaseException:
            if not self._reading:  # a hand-over may have come with the cancellation: pass it on
                self._hand_over()
            raise
        finally:
            if self._parked.get(pending) is waiter:
                del self._parked[pending]

    def _wake_answered(self) -> None:
        """Wake exactly the parked consumers whose statements got something."""
        for pending in self._machine.answered():
            waiter = self._parked.pop(pending, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _hand_over(self) -> None:
        """The reader is done: wake the longest-parked consumer to read next."""
        while self._parked:
            _, waiter = self._parked.popitem(last=False)
            if not waiter.done():
                waiter.set_result(None)
                return

    def _send_later(self, messages: list[Message], pending: PendingStatement | None) -> None:
        """Queue a statement's messages behind every earlier one's; one sender task sends
        them, so the caller's cancellation cannot cut a statement in half (which would
        end the session), and a burst of statements shares its writes.

        The sender runs only after every task made ready with it, so in a burst of
        `asyncio.gather` the server would sit idle until the last statement is made:
        once `SEND_EARLY` statements wait, they leave at once if the socket can take
        them without waiting (`_send_now`)."""
        self._outbox.add(messages, pending)
        if len(self._outbox) >= SEND_EARLY and self._send_now():
            return
        if self._sender is None or self._sender.done():
            self._sender = asyncio.ensure_future(self._send_queued())

    def _send_now(self) -> bool:
        """Hand the queued statements to the socket without waiting; False if it can't
        take them so (the sender task sends them, or meets the socket's failure)."""
        if self._sending or not self._machine.open:
            return False
        messages, statements = self._outbox.contents()
        try:
            if not self._socket.send_now(messages):
                return False
        except (OSError, WebSocketClosed):
            return False
        self._outbox.clear()
        for pending in statements:
            self._machine.sent(pending)
        return True

    async def _send_queued(self) -> None:
        """Send what is queued, all of it in one `send_many`, until nothing is left."""
        while self._outbox:
            messages, statements = self._outbox.take()
            self._sending = True
            try:
                await self._send(messages, statements)
            finally:
                self._sending = False

    async def _send(self, messages: list[Message], statements: list[PendingStatement]) -> None:
        """Statements' messages in one write; a failure ends the session."""
        machine = self._machine
        if not machine.open:
            return
        try:
            await self._socket.send_many(messages)
            for pending in statements:
                machine.sent(pending)
        except WebSocketClosed as closed:
            machine.closed(closed.code, closed.reason)
            self._wake_answered()
        except Exception as exc:
            machine.fail(session_failure(exc, "sending on the session failed"))
            self._wake_answered()
            with contextlib.suppress(Exception):
                await self._socket.close(CLOSE_PROTOCOL_ERROR, "send failed")

    async def close(self) -> None:
        """Close the socket; statements still waiting fail with a WebSocketError."""
        if self._closing:
            return
        self._closing = True
        self._machine.fail(WebSocketError("the session was closed by the client", CLOSE_NORMAL))
        self._wake_answered()
        with contextlib.suppress(Exception):
            await self._socket.close(CLOSE_NORMAL, "")
        self._outbox.clear()
        sending = self._sender
        if sending is not None and not sending.done():
            sending.cancel()
            await asyncio.gather(sending, return_exceptions=True)

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
        what = f"cannot open a session at {connection.endpoint}"
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
        raise session_failure(exc, "the session failed at authentication") from exc


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
