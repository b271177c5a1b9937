"""The WebSocket session state machine: messages in, per-statement frames out, FIFO."""

from __future__ import annotations

import json

import pytest

from ppg_edge._parameter_streams import session_messages
from ppg_edge.core.errors import DatabaseError, ProtocolError, ValidationError, WebSocketError
from ppg_edge.core.frames import Column, Complete, DataRow, Description, Failure
from ppg_edge.core.parameters import (
    BINARY,
    TEXT,
    bounded_byte_stream_parameter,
    byte_array_parameter,
)
from ppg_edge.core.protocol import (
    BINARY_PARAM_URN,
    CLOSE_PROTOCOL_ERROR,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    DESCRIPTOR_URN,
    ERROR_URN,
    INLINE_PARAMETER_LIMIT,
    TEXT_PARAM_URN,
)
from ppg_edge.core.session import PendingStatement, SessionMachine, statement_messages
from ppg_edge.core.statement import encode_statement

DESC = [DESCRIPTION_URN, json.dumps({"columns": [{"name": "a", "typeOid": 25}]})]
COMPLETE = [COMPLETE_URN, json.dumps({"complete": True})]


def row(value: str | None) -> list[str]:
    return [DATAROW_URN, json.dumps({"values": [value]})]


def error(code: str) -> list[str]:
    payload = {"error": {"message": "boom", "code": code, "severity": "ERROR"}}
    return [ERROR_URN, json.dumps(payload)]


def feed(machine: SessionMachine, messages: list[str | bytes]) -> list[int | None]:
    return [machine.receive(message) for message in messages]


def submitted(machine: SessionMachine, kind: str | None = None) -> PendingStatement:
    """A statement whose every message went out, as the session reports it."""
    pending = machine.submit(kind)
    machine.sent(pending)
    return pending


def drain(pending: PendingStatement) -> list[object]:
    out: list[object] = []
    while frames := pending.pop_all():
        out.extend(frames)
    return out


async def test_statement_messages_in_order() -> None:
    big_text = "t" * (INLINE_PARAMETER_LIMIT + 1)
    big_bytes = byte_array_parameter(bytes(range(256)) * 5, BINARY)
    stream = bounded_byte_stream_parameter([b"ab", b"c"], TEXT, 3)
    messages = await session_messages(
        encode_statement("query", "$1 $2 $3 $4", ["small", big_text, big_bytes, stream])
    )
    assert messages[0] == DESCRIPTOR_URN
    assert json.loads(messages[1])["parameters"][0] == {"type": "text", "value": "small"}  # type: ignore[arg-type]
    assert messages[2:] == [
        TEXT_PARAM_URN,
        big_text,
        BINARY_PARAM_URN,
        bytes(range(256)) * 5,
        TEXT_PARAM_URN,
        "abc",
    ]


async def test_bad_stream_fails_before_anything_is_queued() -> None:
    stream = bounded_byte_stream_parameter([b"ab"], TEXT, 3)
    with pytest.raises(ValidationError):
        await session_messages(encode_statement("query", "$1", [stream]))


def test_fifo_answers_go_to_their_statements() -> None:
    machine = SessionMachine()
    first, second = submitted(machine), submitted(machine)
    assert feed(machine, [*DESC, *row("1"), *COMPLETE, *DESC, *row("2")]) == [None] * 10
    assert drain(first) == [Description((Column("a", 25),)), DataRow(["1"]), Complete()]
    assert first.finished and not second.finished
    assert drain(second) == [Description((Column("a", 25),)), DataRow(["2"])]
    feed(machine, COMPLETE)
    assert drain(second) == [Complete()]
    assert machine.pending == 0


def test_error_frame_is_kept_however_late_the_consumer_reads() -> None:
    machine = SessionMachine()
    failing, after = submitted(machine), submitted(machine)
    feed(machine, [*DESC, *row("x"), *error("22012"), *error("25P02")])
    # Nobody read anything yet; both answers are buffered in full.
    frames = drain(after)
    assert len(frames) == 1 and isinstance(frames[0], Failure)
    assert frames[0].error.code == "25P02"
    frames = drain(failing)
    assert isinstance(frames[-1], Failure)
    assert isinstance(frames[-1].error, DatabaseError) and frames[-1].error.code == "22012"


def test_abandoned_statement_is_drained_and_discarded() -> None:
    machine = SessionMachine()
    abandoned, kept = submitted(machine), submitted(machine)
    feed(machine, [*DESC, *row("1")])
    machine.abandon(abandoned)
    assert abandoned.buffered == 0
    feed(machine, [*row("2"), *row("3"), *COMPLETE, *COMPLETE])
    assert abandoned.buffered == 0 and abandoned.finished
    assert drain(kept) == [Complete()]


def test_rows_of_an_abandoned_statement_are_not_parsed() -> None:
    machine = SessionMachine()
    abandoned, kept = submitted(machine), submitted(machine)
    feed(machine, [*DESC, *row("1")])
    machine.abandon(abandoned)
    # Text that is no JSON at all proves the discarded rows never reach a parser.
    assert feed(machine, [DATAROW_URN, "not json {", DATAROW_URN, ""]) == [None] * 4
    assert feed(machine, [*COMPLETE, *row("x")]) == [None, None, None, CLOSE_PROTOCOL_ERROR]
    assert abandoned.finished and abandoned.buffered == 0
    with pytest.raises(ProtocolError, match="data row arrived before the row description"):
        drain(kept)


@pytest.mark.parametrize("before", [[], [*DESC, *COMPLETE]])
def test_an_abandoned_statement_still_checks_where_rows_may_come(before: list[str]) -> None:
    machine = SessionMachine()
    abandoned = submitted(machine)
    if before:
        later = submitted(machine)
        feed(machine, before)  # the first statement finished; `later` is now the head
        abandoned = later
    machine.abandon(abandoned)
    assert feed(machine, [DATAROW_URN, "skipped"]) == [None, CLOSE_PROTOCOL_ERROR]
    assert isinstance(machine.error, ProtocolError)


@pytest.mark.parametrize(
    "messages",
    [
        ["urn:prisma:query:result:unknown"],
        ['{"complete": true}'],
        [b"\x00binary"],
        [COMPLETE_URN, "not json"],
        [DATAROW_URN, json.dumps({"values": ["x"]})],  # row before description
        [COMPLETE_URN, json.dumps({"values": []})],  # payload does not match URN
    ],
)
def test_rule_breaks_close_with_1002_and_fail_everything(messages: list[str | bytes]) -> None:
    machine = SessionMachine()
    pending, waiting = submitted(machine), submitted(machine)
    results = feed(machine, messages)
    assert results[-1] == CLOSE_PROTOCOL_ERROR
    assert not machine.open and machine.pending == 0
    for statement in (pending, waiting):
        with pytest.raises(ProtocolError):
            drain(statement)
    with pytest.raises(ProtocolError):
        machine.submit()


def test_frame_with_nothing_pending_is_a_violation() -> None:
    machine = SessionMachine()
    assert feed(machine, COMPLETE) == [CLOSE_PROTOCOL_ERROR, None]  # the URN alone is wrong
    assert isinstance(machine.error, ProtocolError)
    machine = SessionMachine()
    done = submitted(machine)
    assert feed(machine, [*COMPLETE, *COMPLETE]) == [None, None, CLOSE_PROTOCOL_ERROR, None]
    assert drain(done) == [Complete()]


def test_close_fails_every_pending_statement_with_its_code() -> None:
    machine = SessionMachine()
    first, second = submitted(machine), submitted(machine)
    feed(machine, [*DESC, *row("1")])
    machine.closed(1008, "authentication failed")
    frames = first.pop_all()
    assert isinstance(frames[1], DataRow) and len(frames) == 2
    for pending in (first, second):
        with pytest.raises(WebSocketError) as caught:
            pending.pop_all()
        assert caught.value.close_code == 1008
        assert caught.value.reason == "authentication failed"
    with pytest.raises(WebSocketError):
        machine.submit()
    # Messages after the end are ignored rather than reopening anything.
    assert feed(machine, COMPLETE) == [None, None]


def test_a_frame_for_a_statement_not_yet_sent_is_a_violation() -> None:
    """No server answers what it has not received: while a statement's messages are
    still going out, any result frame belongs to nothing and would shift the FIFO."""
    machine = SessionMachine()
    done = submitted(machine)
    unsent = machine.submit()
    assert feed(machine, [*COMPLETE, *COMPLETE]) == [None, None, CLOSE_PROTOCOL_ERROR, None]
    assert drain(done) == [Complete()]
    with pytest.raises(ProtocolError, match="before the statement"):
        drain(unsent)
    machine = SessionMachine()
    pending = machine.submit()
    machine.sent(pending)
    assert feed(machine, COMPLETE) == [None, None]
    assert drain(pending) == [Complete()]


EXEC_DESC = [DESCRIPTION_URN, json.dumps({"columns": [{"name": "rowsAffected", "typeOid": 23}]})]


@pytest.mark.parametrize(
    "answer",
    [
        COMPLETE,  # no description, no count
        [*EXEC_DESC, *COMPLETE],  # no count
        [*EXEC_DESC, *row("1"), *row("2")],  # two counts
        [*DESC[:1], json.dumps({"columns": []}), *COMPLETE],  # no column for the count
        [*EXEC_DESC, *row("x")],  # not a count
    ],
)
def test_an_answer_that_does_not_fit_an_exec_ends_the_session(answer: list[str]) -> None:
    machine = SessionMachine()
    statement, behind = submitted(machine, "exec"), submitted(machine, "query")
    assert CLOSE_PROTOCOL_ERROR in feed(machine, answer)
    for pending in (statement, behind):
        with pytest.raises(ProtocolError):
            drain(pending)
    assert not machine.open


def test_an_exec_answer_that_fits_is_delivered() -> None:
    machine = SessionMachine()
    statement = submitted(machine, "exec")
    assert feed(machine, [*EXEC_DESC, *row("3"), *COMPLETE]) == [None] * 6
    assert drain(statement) == [
        Description((Column("rowsAffected", 23),)),
        DataRow(["3"]),
        Complete(),
    ]


@pytest.mark.parametrize("nesting", ["[" * 100_000, '{"a":' * 100_000])
def test_deeply_nested_json_is_a_protocol_error(nesting: str) -> None:
    machine = SessionMachine()
    pending = submitted(machine)
    assert feed(machine, [DESCRIPTION_URN, nesting]) == [None, CLOSE_PROTOCOL_ERROR]
    with pytest.raises(ProtocolError, match="nested too deeply"):
        drain(pending)


def test_statement_messages_take_pulled_stream_bytes_in_order() -> None:
    first = bounded_byte_stream_parameter([], TEXT, 2)
    second = bounded_byte_stream_parameter([], BINARY, 2)
    statement = encode_statement("query", "$1 $2", [first, second])
    messages = statement_messages(statement, [b"hi", b"\x00\x01"])
    assert messages[2:] == [TEXT_PARAM_URN, "hi", BINARY_PARAM_URN, b"\x00\x01"]
    with pytest.raises(ValidationError, match="not valid UTF-8"):
        statement_messages(statement, [b"\xff\xfe", b""])
