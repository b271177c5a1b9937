"""The WebSocket session state machine (PROTOCOL.md section 4), without any I/O.

The caller sends the auth message, then per statement calls `submit` and queues
`statement_messages` in an `Outbox` (no other statement's messages in between),
which it hands to the socket in one write, calling `sent` for each statement
whose last message went; it feeds the
received messages to `receive_many` (all that one socket read completed) or
`receive`, learns from `answered()` which statements got something, reads each
statement's frames with `PendingStatement.pop_all`, and reports the socket's end
with `closed`. Answers are
matched to statements by position (FIFO), so a stray frame would shift every later
answer by one: a frame while no statement is pending, or for a statement not yet
wholly sent (no server can answer what it has not received), or one that does not
fit its statement's kind, is a protocol error that ends the session. Each
statement keeps its own buffer, so a frame, an error above all, waits there
however late its consumer reads.
The data rows of an abandoned statement are checked for their place but never
parsed, so dropping a large result costs little. A message that breaks the
rules makes `receive` return CLOSE_PROTOCOL_ERROR: the caller closes the socket
with that code; everything pending has then already failed with a ProtocolError.

Rows are decoded in batches, as over HTTP (core/answer.py): a run of data rows
within one batch of messages, for a query, goes through one `json.loads` and is
buffered as one `RowRun`, whose values the result's row function checks as it
builds the rows. Anything unusual in the run (a payload that is not a plain
`{"values": [...]}`, bad JSON, a newline in a payload) sends it down the
careful path instead, message by message, so errors are that path's own. A run
whose values then turn out malformed (a width or a value type) fails its
statement with the careful path's ProtocolError when its rows are read: the
frame order, and so the FIFO, was intact, so the session stays open.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator, Sequence

from ppg_edge.core.answer import RowRun, row_run
from ppg_edge.core.errors import GenericError, ProtocolError, ValidationError, WebSocketError
from ppg_edge.core.frames import Frame, FrameOrder, decode_ws_frame
from ppg_edge.core.parameters import TEXT, BoundedByteStreamParameter, Bytes
from ppg_edge.core.protocol import (
    BINARY_PARAM_URN,
    CLOSE_PROTOCOL_ERROR,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    DESCRIPTOR_URN,
    ERROR_URN,
    EXEC_KIND,
    RESULT_URNS,
    TEXT_PARAM_URN,
)
from ppg_edge.core.statement import EncodedStatement, ExtendedParameter
from ppg_edge.core.wirejson import decode_json

_OTHER_URNS = (COMPLETE_URN, ERROR_URN, DESCRIPTION_URN)

AnswerItem = Frame | RowRun
"""What a statement's buffer hands out: frames, or a run of rows decoded at once."""


class PendingStatement:
    """One statement's answer as it arrives: a buffer of frames ending in an outcome."""

    def __init__(self, number: int, kind: str | None = None) -> None:
        self.number = number
        self.kind = kind
        self._items: deque[AnswerItem | GenericError] = deque()
        self._order = FrameOrder(kind)
        self._batched = kind != EXEC_KIND
        self.abandoned = False
        self.finished = False
        self.sent = False
        """True once every message of the statement was handed to the socket."""
        self.buffered_bytes = 0
        """Roughly how much of the answer is buffered (message lengths), for back-pressure."""

    def pop_all(self) -> list[AnswerItem]:
        """Every buffered frame (or run of rows), oldest first (empty when nothing is buffered).

        Raises the statement's error when only the error is left.
        """
        frames: list[AnswerItem] = []
        items = self._items
        self.buffered_bytes = 0
        while items:
            item = items[0]
            if isinstance(item, GenericError):
                if frames:
                    break
                raise item
            frames.append(item)
            items.popleft()
        return frames

    @property
    def buffered(self) -> int:
        """Frames (and a final error) waiting to be read."""
        return len(self._items)

    def _push(self, frame: Frame, size: int) -> None:
        self._order.check(frame)
        self.finished = self._order.finished
        if not self.abandoned:
            self._items.append(frame)
            self.buffered_bytes += size

    def _takes_runs(self) -> bool:
        """True when rows may come now and may be buffered as a run (a query's)."""
        return self._batched and self.sent and not self.finished and self._order.columns is not None

    def _push_run(self, run: RowRun, size: int) -> None:
        if not self.abandoned:
            self._items.append(run)
            self.buffered_bytes += size

    def _discard_row(self) -> None:
        """A data row of an abandoned statement: its place is checked, its text never parsed."""
        self._order.expect_row()

    def _fail(self, error: GenericError) -> None:
        self.finished = True
        if not self.abandoned:
            self._items.append(error)


class Outbox:
    """Statements' messages submitted and not yet handed to the socket, in order.

    A face hands them all to the socket in one write, then tells the machine each
    statement was `sent`. A cancel's messages come with no statement.
    """

    def __init__(self) -> None:
        self._queued: list[tuple[Sequence[str | bytes], PendingStatement | None]] = []

    def __len__(self) -> int:
        return len(self._queued)

    def add(self, messages: Sequence[str | bytes], pending: PendingStatement | None) -> None:
        self._queued.append((messages, pending))

    def contents(self) -> tuple[list[str | bytes], list[PendingStatement]]:
        """Every queued message in order, and the statements they complete."""
        messages = [message for queued, _ in self._queued for message in queued]
        return messages, [pending for _, pending in self._queued if pending is not None]

    def take(self) -> tuple[list[str | bytes], list[PendingStatement]]:
        """`contents`, no longer queued."""
        taken = self.contents()
        self._queued = []
        return taken

    def clear(self) -> None:
        self._queued = []


class SessionMachine:
    """Pairs outgoing statements with incoming URN/JSON messages, first in first out."""

    def __init__(self) -> None:
        self._pending: deque[PendingStatement] = deque()
        self._urn: str | None = None
        self._count = 0
        self._answered: list[PendingStatement] = []
        self.error: GenericError | None = None

    @property
    def pending(self) -> int:
        """How many statements still await their answer."""
        return len(self._pending)

    @property
    def head(self) -> PendingStatement | None:
        """The statement whose answer is arriving now."""
        return self._pending[0] if self._pending else None

    @property
    def open(self) -> bool:
        return self.error is None

    def submit(self, kind: str | None = None) -> PendingStatement:
        """Queue a statement whose messages the caller sends next, before any other's.

        `kind` (query or exec) lets the machine check the answer's shape as it arrives.
        """
        if self.error is not None:
            raise self.error
        self._count += 1
        pending = PendingStatement(self._count, kind)
        self._pending.append(pending)
        return pending

    def sent(self, pending: PendingStatement) -> None:
        """The statement's last message was handed to the socket: it may be answered now."""
        pending.sent = True

    def abandon(self, pending: PendingStatement) -> None:
        """The consumer stopped reading: drop its buffer, discard its later frames."""
        pending.abandoned = True
        pending._items.clear()
        pending.buffered_bytes = 0

    def answered(self) -> list[PendingStatement]:
        """The statements that got frames (or their end) since the last call, each once.

        Messages answer statements in order, so this is a handful per batch, not
        a walk over everything in flight: the caller wakes only these.
        """
        answered, self._answered = self._answered, []
        return answered

    def receive(self, message: str | bytes) -> int | None:
        """Apply one incoming message; return a close code if the socket must be closed."""
        return self.receive_many((message,))

    def receive_many(self, messages: Sequence[str | bytes]) -> int | None:
        """Apply messages in order (what one socket read completed); a close code if the
        socket must be closed. Runs of data rows are decoded a run at a time."""
        if self.error is not None:
            return None
        index, count = 0, len(messages)
        try:
            while index < count:
                if self._urn is None and messages[index] == DATAROW_URN:
                    used = self._row_run(messages, index)
                    if used:
                        index += used
                        continue
                self._receive(messages[index])
                index += 1
        except ProtocolError as error:
            self.fail(error)
            return CLOSE_PROTOCOL_ERROR
        return None

    def _row_run(self, messages: Sequence[str | bytes], start: int) -> int:
        """Buffer the run of data rows at `start` in one go; the messages used (0: none,
        the careful path takes them)."""
        head = self._pending[0] if self._pending else None
        if head is None or not head._takes_runs():
            return 0
        pairs = (len(messages) - start) // 2
        rows = _leading_rows(messages[start : start + 2 * pairs : 2])
        if rows < 2:
            return 0
        payloads = messages[start + 1 : start + 2 * rows : 2]
        if head.abandoned:
            if {*map(type, payloads)} != {str}:
                return 0
            head._order.expect_rows(rows)
            self._answer(head)
            return 2 * rows
        columns = head._order.columns or ()
        run = _decode_run(payloads, len(columns))  # type: ignore[arg-type]  # None unless str
        if run is None:
            return 0
        head._order.expect_rows(rows)
        head._push_run(run, len(run.text))
        self._answer(head)
        return 2 * rows

    def _answer(self, pending: PendingStatement) -> None:
        answered = self._answered
        if not answered or answered[-1] is not pending:
            answered.append(pending)

    def _receive(self, message: str | bytes) -> None:
        if not isinstance(message, str):
            raise ProtocolError("the server sent a binary WebSocket message")
        if self._urn is None:
            if message not in RESULT_URNS:
                raise ProtocolError(f"the server sent {message[:60]!r} where a URN was expected")
            self._answering()
            self._urn = message
            return
        urn, self._urn = self._urn, None
        head = self._answering()
        if urn == DATAROW_URN and head.abandoned:
            head._discard_row()
            self._answer(head)
            return
        head._push(decode_ws_frame(urn, decode_json(message, "a message")), len(message))
        self._answer(head)
        if head.finished:
            self._pending.popleft()

    def _answering(self) -> PendingStatement:
        """The statement a result frame arriving now belongs to, if it can belong to any."""
        if not self._pending:
            raise ProtocolError("the server sent a result while no statement was pending")
        head = self._pending[0]
        if not head.sent:
            raise ProtocolError(
                "the server sent a result before the statement it would answer was sent"
            )
        return head

    def closed(self, code: int | None, reason: str = "") -> None:
        """The socket closed: every statement still waiting fails with a WebSocketError."""
        detail = f" ({code}: {reason})" if code is not None else ""
        self.fail(WebSocketError(f"the session's WebSocket closed{detail}", code, reason))

    def fail(self, error: GenericError) -> None:
        """End the session: fail every pending statement and refuse new ones."""
        if self.error is None:
            self.error = error
        for pending in self._drain():
            pending._fail(error)
            self._answer(pending)

    def _drain(self) -> Iterator[PendingStatement]:
        while self._pending:
            yield self._pending.popleft()


def _leading_rows(urns: Sequence[str | bytes]) -> int:
    """How many of `urns` (the URN places of a batch) are data rows before any other."""
    stop = len(urns)
    # The usual batch: rows only, one pass. A frame reader's run repeats one object, and
    # `count` takes an object for equal to itself without comparing its text.
    if stop and urns[0] == DATAROW_URN and urns.count(urns[0]) == stop:
        return stop
    for other in _OTHER_URNS:
        with contextlib.suppress(ValueError):
            stop = urns.index(other, 0, stop)
    if urns[:stop].count(DATAROW_URN) == stop:
        return stop
    for index, urn in enumerate(urns):  # something that is no URN at all: find it
        if urn != DATAROW_URN:
            return index
    return stop


def _decode_run(payloads: list[str], width: int) -> RowRun | None:
    """The payloads of a run of data rows decoded as one, or None if anything is unusual.

    Joined by line breaks they are the NDJSON lines of an HTTP answer's rows, and
    `row_run` decodes those with one JSON call, exactly (see there). A payload
    holding a line break of its own is left to the careful path, so that every
    line is one message: a message holding two rows would otherwise pass for two.
    `row_run` takes only text whose every line break separates two rows, so the
    run holds as many rows as there were payloads exactly when no payload had one.
    """
    try:
        text = "\n".join(payloads)
    except TypeError:  # a binary message: the careful path says so
        return None
    run = row_run(text, width)
    return run if run is not None and run.count == len(payloads) else None


def statement_messages(
    statement: EncodedStatement, pulled: Sequence[Bytes] = ()
) -> list[str | bytes]:
    """Every message of one statement: descriptor URN and JSON, then each parameter.

    `pulled` holds, in order, the bytes the face read from each stream parameter
    (see `ExtendedParameter.stream`); the face reads them in full before anything
    is sent, so a bad stream fails the statement without half of it on the wire.
    """
    streamed = iter(pulled)
    messages: list[str | bytes] = [DESCRIPTOR_URN, statement.descriptor]
    for parameter in statement.extended:
        messages.append(TEXT_PARAM_URN if parameter.format == TEXT else BINARY_PARAM_URN)
        data = parameter.data
        if isinstance(data, BoundedByteStreamParameter):
            data = next(streamed)
        messages.append(parameter_message(parameter, data))
    return messages


def parameter_message(parameter: ExtendedParameter, data: Bytes) -> str | bytes:
    """A parameter as one whole WebSocket message (text frames carry UTF-8 text)."""
    if parameter.format == TEXT:
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError("a text parameter is not valid UTF-8") from exc
    return bytes(data)
