"""Blocking definitions that replace the asyncio-specific parts of ppg_edge/_session.py.

`scripts/generate_sync.py` writes ppg_edge/_sync/session.py from the async
session and puts each definition below in place of the one of the same name
(and drops the ones in DROP). Only what asyncio does differs: opening within
two bounds, parking a consumer (impossible with one thread: nothing else runs
while a consumer reads), holding sends until a consumer reads under its deadline
instead of a chain of send tasks, and a close with no send task to wait for. The
imports are merged into the generated module.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Protocol

from ppg_edge._sync.concurrency import ConnectBound, Deadline
from ppg_edge._sync.transport import Message, Runtime, WebSocket
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT, ConnectionInfo
from ppg_edge.core.errors import WebSocketError
from ppg_edge.core.protocol import CLOSE_NORMAL, WS_SUBPROTOCOL_CANCEL
from ppg_edge.core.session import Outbox, PendingStatement, SessionMachine
from ppg_edge.core.types import TypeRegistry
from ppg_edge.rows import RowFactory, values_row


class Waiter(Protocol):
    """What the generated wake-up code calls on a parked consumer (none ever is)."""

    def done(self) -> bool: ...

    def set_result(self, result: None) -> None: ...


DROP = (
    "SyncSession._send_queued",
    "SyncSession._send_now",
    "SyncSession.close=",
    "SEND_EARLY=",
    "_within",
)
"""Definitions of the generated module that have no sync counterpart (`name=`: an assignment)."""


class SyncSession:
    """The replacements, as methods of the generated SyncSession."""

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
        """True while the consumer reads the socket (parking is for other threads only)."""
        self._parked: OrderedDict[PendingStatement, Waiter] = OrderedDict()
        """Always empty: with one thread, no consumer waits while another reads."""
        self._outbox = Outbox()
        """Statements (and cancels) submitted but not sent yet: see `_send_later`."""
        self._closing = False

    @classmethod
    def open(
        cls,
        runtime: Runtime,
        connection: ConnectionInfo,
        registry: TypeRegistry,
        timeout: float | None,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    ) -> SyncSession:
        """Connect, check the subprotocol and send the credentials.

        Connecting (TCP, TLS, upgrade, credentials) must finish within
        `connect_timeout` (ConnectTimeoutError) and within the statement
        `timeout` too (QueryTimeoutError). No acknowledgement exists, so bad
        credentials surface as a WebSocketError with close code 1008 at the
        first statement at the latest.
        """
        __tracebackhide__ = True
        connecting = ConnectBound(connect_timeout, f"opening a session at {connection.endpoint}")
        socket = Deadline(timeout, "opening the session").run(
            connecting.run,
            _connect,  # noqa: F821 - the generated module's own
            runtime,
            connection,
        )
        return cls(socket, registry, timeout)

    def _park(self, pending: PendingStatement) -> None:
        """Another consumer is reading: with one thread that cannot be, so two threads
        share this session, which a sync session does not allow."""
        raise WebSocketError("a synchronous session was used from two threads at once")

    def _send_later(self, messages: list[Message], pending: PendingStatement | None) -> None:
        """Hold the messages until a consumer reads: a blocking send outside any deadline
        could wait forever on a server that stopped reading, while the reader runs under
        its statement's deadline. So what was submitted leaves at the next read, in one
        write (a batch's BEGIN, statements and COMMIT together), in submission order."""
        self._outbox.add(messages, pending)

    def _flush_sends(self) -> None:
        """Send every held statement in one write; then they may be answered."""
        if self._outbox:
            self._send(*self._outbox.take())

    def _read_for(self, pending: PendingStatement) -> None:
        """Send what is held, then be the reader until `pending` has something."""
        self._flush_sends()
        self._reading = True
        try:
            while not (pending.buffered or pending.finished) and self._machine.open:
                self._read_once()
        finally:
            self._reading = False
            self._hand_over()

    def close(self) -> None:
        """Close the socket; statements still waiting fail with a WebSocketError."""
        if self._closing:
            return
        self._closing = True
        self._outbox.clear()  # never sent: their statements fail with the session
        self._machine.fail(WebSocketError("the session was closed by the client", CLOSE_NORMAL))
        self._wake_answered()
        with contextlib.suppress(Exception):
            self._socket.close(CLOSE_NORMAL, "")
