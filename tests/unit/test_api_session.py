"""The Session's I/O layer over an in-process WebSocket: what it sends, how it reacts.

`LoopbackSocket` implements the runtime's WebSocket interface in memory; the
test plays the server by pushing messages and reading what the session sent.
Like a real socket read, `receive_many` hands over at most READ_BATCH messages.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from typing import Any

import pytest

from ppg_edge._session import SEND_EARLY, Session
from ppg_edge.core.errors import DatabaseError, ProtocolError, QueryTimeoutError, WebSocketError
from ppg_edge.core.protocol import (
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    DESCRIPTOR_URN,
    ERROR_URN,
)
from ppg_edge.core.types import default_registry
from ppg_edge.runtime.base import Message, WebSocketClosed

READ_BATCH = 64
"""Messages one `receive_many` of the loopback returns at most (a socket read's worth)."""
MANY_ROWS = 50_000


class LoopbackSocket:
    """An open WebSocket whose peer is the test."""

    subprotocol = "prisma-postgres-1.0"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.incoming: asyncio.Queue[Message | WebSocketClosed] = asyncio.Queue()
        self.closed_with: tuple[int, str] | None = None
        self.writes = 0
        self.writes_now: list[int] = []
        """Messages in each `send_now` taken."""
        self.takes_now = True
        self.drained = asyncio.Event()
        """Cleared, a `send_many` waits after writing, as for a peer that reads slowly."""
        self.drained.set()
        self.reads = 0
        self.server_close: WebSocketClosed | None = None

    async def send(self, message: Message) -> None:
        await self.send_many([message])

    async def send_many(self, messages: list[Message]) -> None:
        if self.closed_with is not None:
            raise WebSocketClosed(*self.closed_with)
        self.writes += 1
        self.sent.extend(messages)
        await self.drained.wait()

    def send_now(self, messages: list[Message]) -> bool:
        if self.closed_with is not None or not self.takes_now:
            return False
        self.writes_now.append(len(messages))
        self.sent.extend(messages)
        return True

    async def receive(self) -> Message:
        item = await self.incoming.get()
        if isinstance(item, WebSocketClosed):
            self.incoming.put_nowait(item)
            raise item
        return item

    async def receive_many(self) -> list[Message]:
        messages = [await self.receive()]
        self.reads += 1
        while len(messages) < READ_BATCH and not self.incoming.empty():
            item = self.incoming.get_nowait()
            if isinstance(item, WebSocketClosed):
                self.incoming.put_nowait(item)
                break
            messages.append(item)
        return messages

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed_with is None:
            self.closed_with = (code, reason)
            self.incoming.put_nowait(WebSocketClosed(code, reason))

    @property
    def close_status(self) -> WebSocketClosed | None:
        """The close pushed by the test (the server) or made by the session, if any."""
        return self.server_close or (
            None if self.closed_with is None else WebSocketClosed(*self.closed_with)
        )

    def push(self, *messages: Message) -> None:
        for message in messages:
            if isinstance(message, WebSocketClosed):
                self.server_close = message
            self.incoming.put_nowait(message)

    def answer_rows(self, *values: str) -> None:
        self.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "v", "typeOid": 23}]}))
        for value in values:
            self.push(DATAROW_URN, json.dumps({"values": [value]}))
        self.push(COMPLETE_URN, json.dumps({"complete": True}))

    def descriptors(self) -> list[dict[str, Any]]:
        return [
            json.loads(self.sent[i + 1])  # type: ignore[arg-type]
            for i, message in enumerate(self.sent)
            if message == DESCRIPTOR_URN
        ]


@pytest.fixture
async def pair() -> Any:
    socket = LoopbackSocket()
    session = Session(socket, default_registry(), None)  # type: ignore[arg-type]
    yield socket, session
    await session.close()


async def test_concurrent_statements_are_sent_at_once_and_answered_fifo(pair: Any) -> None:
    socket, session = pair
    tasks = [asyncio.ensure_future(session.query(f"SELECT {n}")) for n in range(3)]
    await asyncio.sleep(0.01)
    assert [d["query"] for d in socket.descriptors()] == ["SELECT 0", "SELECT 1", "SELECT 2"]
    for n in range(3):
        socket.answer_rows(str(n))
    results = await asyncio.gather(*tasks)
    rows = [[r.values for r in await res.rows.collect()] for res in results]
    assert rows == [[[0]], [[1]], [[2]]]


async def test_error_frame_is_delivered_to_a_late_reader(pair: Any) -> None:
    socket, session = pair
    result_task = asyncio.ensure_future(session.query("SELECT"))
    await asyncio.sleep(0.01)  # sent: only now may the server answer
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "v", "typeOid": 23}]}))
    result = await result_task
    socket.push(DATAROW_URN, json.dumps({"values": ["1"]}))
    socket.push(ERROR_URN, json.dumps({"error": {"message": "m", "code": "22012"}}))
    await asyncio.sleep(0.05)  # everything arrived before anyone reads
    assert (await result.rows.__anext__()).values == [1]
    with pytest.raises(DatabaseError) as caught:
        await result.rows.__anext__()
    assert caught.value.code == "22012"


@pytest.mark.parametrize(
    "bad", [b"\x00binary", "urn:prisma:query:result:nope", '{"complete": true}']
)
async def test_rule_break_closes_1002_and_fails_everything(pair: Any, bad: Message) -> None:
    socket, session = pair
    first = asyncio.ensure_future(session.exec("SELECT 1"))
    second = asyncio.ensure_future(session.exec("SELECT 2"))
    await asyncio.sleep(0.01)
    socket.push(bad)
    for task in (first, second):
        with pytest.raises(ProtocolError):
            await task
    assert socket.closed_with is not None and socket.closed_with[0] == 1002
    assert not session.active


async def test_server_close_fails_pending_with_its_code(pair: Any) -> None:
    socket, session = pair
    pending = asyncio.ensure_future(session.query("SELECT 1"))
    await asyncio.sleep(0.01)
    socket.push(WebSocketClosed(1008, "authentication failed"))  # type: ignore[arg-type]
    with pytest.raises(WebSocketError) as caught:
        await pending
    assert (caught.value.close_code, caught.value.reason) == (1008, "authentication failed")
    with pytest.raises(WebSocketError) as caught:
        await session.exec("SELECT 1")
    assert caught.value.close_code == 1008


async def test_cancelled_and_timed_out_statements_leave_the_session_consistent(pair: Any) -> None:
    socket, session = pair
    cancelled = asyncio.ensure_future(session.query("SELECT 'cancelled'"))
    timed_out = asyncio.ensure_future(session.exec("SELECT 'slow'", timeout=0.05))
    kept = asyncio.ensure_future(session.query("SELECT 'kept'"))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    with pytest.raises(QueryTimeoutError):
        await timed_out
    socket.answer_rows("1", "2", "3")  # the cancelled query's answer, discarded
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "n", "typeOid": 23}]}))
    socket.push(DATAROW_URN, json.dumps({"values": ["7"]}))
    socket.push(COMPLETE_URN, json.dumps({"complete": True}))  # the timed-out exec's answer
    socket.answer_rows("42")
    result = await kept
    assert [row.values for row in await result.rows.collect()] == [[42]]
    assert session.active and session.pending == 0


async def test_abandoned_stream_is_drained(pair: Any) -> None:
    socket, session = pair
    first = asyncio.ensure_future(session.query("SELECT g"))
    await asyncio.sleep(0.01)
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "v", "typeOid": 23}]}))
    socket.push(DATAROW_URN, json.dumps({"values": ["1"]}))
    result = await first
    assert (await result.rows.__anext__()).values == [1]
    await result.rows.aclose()  # mid-stream: the rest must be drained and dropped
    socket.push(DATAROW_URN, json.dumps({"values": ["2"]}))
    socket.push(ERROR_URN, json.dumps({"error": {"message": "late", "code": "22012"}}))
    second = asyncio.ensure_future(session.exec("SELECT 1"))
    await asyncio.sleep(0.01)  # sent before its answer comes
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "n", "typeOid": 23}]}))
    socket.push(DATAROW_URN, json.dumps({"values": ["5"]}))
    socket.push(COMPLETE_URN, json.dumps({"complete": True}))
    assert await second == 5


async def test_client_close_fails_waiting_statements(pair: Any) -> None:
    socket, session = pair
    pending = asyncio.ensure_future(session.query("SELECT 1"))
    await asyncio.sleep(0.01)
    await session.close()
    with pytest.raises(WebSocketError):
        await pending
    assert socket.closed_with == (1000, "")
    assert not session.active


async def test_nothing_is_read_that_no_consumer_asked_for(pair: Any) -> None:
    """Pull-based: a consumer that stops asking leaves the rest unread (bounded memory);
    reading resumes as it asks again."""
    socket, session = pair
    started = asyncio.ensure_future(session.query("SELECT g"))
    await asyncio.sleep(0.01)
    socket.answer_rows(*(str(n) for n in range(MANY_ROWS)))
    result = await started
    await asyncio.sleep(0.05)
    assert socket.incoming.qsize() >= 2 * MANY_ROWS - 2 * READ_BATCH  # at most a read taken
    assert socket.reads <= 2
    values = [row.values[0] async for row in result.rows]
    assert values == list(range(MANY_ROWS))
    assert session.pending == 0


async def test_waiting_statement_is_never_blocked_by_an_unread_result(pair: Any) -> None:
    socket, session = pair
    big = asyncio.ensure_future(session.query("SELECT g"))
    await asyncio.sleep(0.01)
    socket.answer_rows(*(str(n) for n in range(MANY_ROWS)))
    result = await big
    await asyncio.sleep(0.05)
    small = asyncio.ensure_future(session.exec("SELECT 1"))
    await asyncio.sleep(0.01)
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "n", "typeOid": 23}]}))
    socket.push(DATAROW_URN, json.dumps({"values": ["9"]}))
    socket.push(COMPLETE_URN, json.dumps({"complete": True}))
    assert await asyncio.wait_for(small, 5) == 9  # gather-style use must not deadlock
    assert len(await result.rows.collect()) == MANY_ROWS


class _CountingParked(OrderedDict[Any, Any]):
    """The session's table of parked consumers, counting full walks over it."""

    walks = 0

    def __iter__(self) -> Any:
        type(self).walks += 1
        return super().__iter__()

    def items(self) -> Any:
        type(self).walks += 1
        return super().items()

    def values(self) -> Any:
        type(self).walks += 1
        return super().values()


async def test_a_message_wakes_only_its_statement_whatever_is_in_flight(pair: Any) -> None:
    """Burst cost: each batch wakes the statements it answered, not every waiter."""
    socket, session = pair
    session._parked = _CountingParked()
    tasks = [asyncio.ensure_future(session.query(f"SELECT {i}")) for i in range(50)]
    await asyncio.sleep(0.05)  # all 50 wait for their answers
    assert len(session._parked) == 49  # one reads, the others park
    for i in range(50):
        socket.answer_rows(str(i))
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    values = [[row.values for row in await r.rows.collect()] for r in results]
    assert values == [[[i]] for i in range(50)]
    assert _CountingParked.walks == 0  # 300 messages, no walk over the parked consumers
    assert socket.reads <= 300 // READ_BATCH + 3  # read in batches, not message by message


async def test_a_statement_goes_out_in_one_write(pair: Any) -> None:
    socket, session = pair
    task = asyncio.ensure_future(session.query("SELECT $1", "x" * 5000))  # extended parameter
    await asyncio.sleep(0.01)
    assert socket.writes == 1 and len(socket.sent) == 4
    socket.answer_rows("1")
    assert [row.values for row in await (await task).rows.collect()] == [[1]]


async def test_a_burst_leaves_as_it_is_made_not_after_its_last_statement(pair: Any) -> None:
    """`asyncio.gather` makes every statement before the sender task runs: every
    SEND_EARLY of them go at once, in order, the rest with the sender."""
    socket, session = pair
    count = 2 * SEND_EARLY + 5
    tasks = [asyncio.ensure_future(session.query(f"SELECT {n}")) for n in range(count)]
    await asyncio.sleep(0)  # each task made its statement; the sender has not run yet
    assert socket.writes_now == [2 * SEND_EARLY] * 2 and socket.writes == 0
    await asyncio.sleep(0.01)
    assert socket.writes == 1
    assert [d["query"] for d in socket.descriptors()] == [f"SELECT {n}" for n in range(count)]
    for n in range(count):
        socket.answer_rows(str(n))
    results = await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert [[row.values for row in await r.rows.collect()] for r in results] == [
        [[n]] for n in range(count)
    ]


async def test_an_early_send_never_overtakes_a_send_under_way(pair: Any) -> None:
    """While the sender waits for the peer to take its write, later statements queue
    behind it, however many; a socket refusing `send_now` gets them all from the sender."""
    socket, session = pair
    socket.drained.clear()
    first = asyncio.ensure_future(session.query("SELECT first"))
    await asyncio.sleep(0.01)  # the sender wrote it and waits
    later = [asyncio.ensure_future(session.query(f"SELECT {n}")) for n in range(2 * SEND_EARLY)]
    await asyncio.sleep(0.01)
    assert socket.writes_now == [] and socket.writes == 1
    socket.takes_now = False
    socket.drained.set()
    await asyncio.sleep(0.01)
    assert socket.writes == 2  # all the later ones, in one write
    queries = [d["query"] for d in socket.descriptors()]
    assert queries == ["SELECT first"] + [f"SELECT {n}" for n in range(2 * SEND_EARLY)]
    for n in range(2 * SEND_EARLY + 1):
        socket.answer_rows(str(n))
    await asyncio.wait_for(asyncio.gather(first, *later), 10)


async def test_rows_for_a_parked_consumer_wake_it_while_another_reads(pair: Any) -> None:
    """The reader reads for a later statement; a run of rows for an earlier one must wake
    that one's consumer at once, not when the reader's own answer comes."""
    socket, session = pair
    first = asyncio.ensure_future(session.query("SELECT a"))
    second = asyncio.ensure_future(session.query("SELECT b"))
    await asyncio.sleep(0.01)
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "v", "typeOid": 23}]}))
    result = await first
    await asyncio.sleep(0.01)  # `second` now reads the socket, waiting for its answer
    more = asyncio.ensure_future(result.rows.__anext__())
    await asyncio.sleep(0.01)  # `first` parks behind that reader
    for n in range(5):
        socket.push(DATAROW_URN, json.dumps({"values": [str(n)]}))
    assert (await asyncio.wait_for(more, 5)).values == [0]
    socket.push(COMPLETE_URN, json.dumps({"complete": True}))
    assert [row.values for row in await result.rows.collect()] == [[1], [2], [3], [4]]
    socket.answer_rows("7")
    assert [row.values for row in await (await second).rows.collect()] == [[7]]


async def test_a_malformed_row_in_a_run_fails_its_statement_with_the_careful_error(
    pair: Any,
) -> None:
    socket, session = pair
    task = asyncio.ensure_future(session.query("SELECT v"))
    await asyncio.sleep(0.01)
    socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "v", "typeOid": 23}]}))
    for value in ("1", 2, "3"):  # 2 is a number: no row value
        socket.push(DATAROW_URN, json.dumps({"values": [value]}))
    socket.push(COMPLETE_URN, json.dumps({"complete": True}))
    result = await task
    with pytest.raises(ProtocolError, match="values must be a list of strings and nulls"):
        await result.rows.collect()


async def test_a_burst_of_statements_shares_its_writes_in_issue_order(pair: Any) -> None:
    socket, session = pair
    tasks = [asyncio.ensure_future(session.exec(f"SELECT {n}")) for n in range(50)]
    await asyncio.sleep(0.05)
    assert [d["exec"] for d in socket.descriptors()] == [f"SELECT {n}" for n in range(50)]
    assert socket.writes <= 2  # not one write per statement
    for n in range(50):
        socket.push(DESCRIPTION_URN, json.dumps({"columns": [{"name": "n", "typeOid": 23}]}))
        socket.push(DATAROW_URN, json.dumps({"values": [str(n)]}))
        socket.push(COMPLETE_URN, json.dumps({"complete": True}))
    assert await asyncio.wait_for(asyncio.gather(*tasks), 10) == list(range(50))


async def test_a_close_while_idle_is_seen_without_a_statement(pair: Any) -> None:
    """Nothing reads an idle session; its `active` still turns False when the server
    closes it (an idle timeout), and a new statement fails with the server's code."""
    socket, session = pair
    task = asyncio.ensure_future(session.query("SELECT 1"))
    await asyncio.sleep(0.01)
    socket.answer_rows("1")
    assert [row.values for row in await (await task).rows.collect()] == [[1]]
    assert session.active and session.pending == 0
    socket.push(WebSocketClosed(1001, "idle timeout"))  # type: ignore[arg-type]
    assert not session.active
    with pytest.raises(WebSocketError) as caught:
        await session.exec("SELECT 1")
    assert (caught.value.close_code, caught.value.reason) == (1001, "idle timeout")


async def test_answers_that_came_before_a_close_are_still_read(pair: Any) -> None:
    socket, session = pair
    task = asyncio.ensure_future(session.query("SELECT 1"))
    await asyncio.sleep(0.01)
    socket.answer_rows("5", "6")
    socket.push(WebSocketClosed(1012, "restart"))  # type: ignore[arg-type]
    assert not session.active  # no new statement can go out
    with pytest.raises(WebSocketError) as caught:
        await session.exec("SELECT 2")
    assert caught.value.close_code == 1012
    result = await asyncio.wait_for(task, 5)
    assert [row.values for row in await result.rows.collect()] == [[5], [6]]
