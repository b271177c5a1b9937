"""The WebSocket frame reader's fast path against frames that wsproto itself encodes.

A real wsproto server side writes the frames (whole, fragmented, with pings in
between); the bytes reach the reader split at arbitrary points, and what comes
out must be exactly the messages sent, with control frames left to a real
wsproto client engine. Rule breaks get the close code RFC 6455 asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request
from wsproto.frame_protocol import FrameProtocol

from ppg_edge.runtime import cpython_frames
from ppg_edge.runtime.cpython_frames import FrameFault, FrameReader, Item

LIMIT = 1 << 20


def open_client() -> WSConnection:
    """A client engine after a real in-memory opening handshake."""
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    assert any(isinstance(event, Request) for event in server.events())
    client.receive_data(server.send(AcceptConnection()))
    assert any(isinstance(event, AcceptConnection) for event in client.events())
    assert client.state is ConnectionState.OPEN
    return client


def server_frames() -> FrameProtocol:
    return FrameProtocol(client=False, extensions=[])


def feed(reader: FrameReader, data: bytes, cuts: list[int]) -> list[Item]:
    items: list[Item] = []
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        if cut > start:
            got = reader.receive(data[start:cut])
            assert reader.plain == all(isinstance(item, str | bytes) for item in got)
            items += got
            start = cut
    return items


messages = st.lists(
    st.one_of(st.text(max_size=300), st.binary(max_size=300)), min_size=1, max_size=12
)


@settings(max_examples=200, deadline=None)
@given(messages, st.lists(st.integers(0, 10_000), max_size=8), st.integers(1, 5), st.data())
def test_messages_survive_any_split_and_fragmentation(
    sent: list[Any], cuts: list[int], pieces: int, data: st.DataObject
) -> None:
    proto = server_frames()
    wire = bytearray()
    for index, message in enumerate(sent):
        fragmented = data.draw(st.booleans(), label=f"fragment {index}")
        step = max(1, len(message) // pieces) if fragmented else max(1, len(message))
        parts = [message[i : i + step] for i in range(0, len(message), step)] or [message]
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            if number == 1:
                wire += proto.ping(b"mid-message")
            wire += proto.send_data(part, last)
    engine = open_client()
    items = feed(FrameReader(engine, LIMIT), bytes(wire), cuts)
    assert [item for item in items if item is not None] == sent
    pings = [event for event in engine.events() if isinstance(event, Ping)]
    assert len(pings) == items.count(None)
    assert all(ping.payload == b"mid-message" for ping in pings)


@settings(max_examples=200, deadline=None)
@given(messages, st.lists(st.integers(0, 10_000), max_size=8), st.integers(1, 5))
def test_consumed_bytes_weigh_at_least_the_messages_handed_out(
    sent: list[Any], cuts: list[int], pieces: int
) -> None:
    """The receive queue's byte bound counts `consumed()` instead of each message's length:
    after every read it must cover what the messages handed out weigh, fragments cut in
    earlier reads included, and in the end be exactly the bytes of the frames."""
    proto = server_frames()
    wire = bytearray()
    for message in sent:
        step = max(1, len(message) // pieces)
        parts = [message[i : i + step] for i in range(0, len(message), step)] or [message]
        for number, part in enumerate(parts):
            wire += proto.send_data(part, number == len(parts) - 1)
    reader = FrameReader(open_client(), LIMIT)
    consumed = weighed = start = 0
    for cut in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        if cut > start:
            weighed += sum(map(len, reader.receive(bytes(wire[start:cut]))))  # type: ignore[arg-type]
            consumed += reader.consumed()
            assert consumed >= weighed
            start = cut
    assert consumed == len(wire)
    assert reader.consumed() == 0


def test_close_frame_goes_to_wsproto_after_the_messages_before_it() -> None:
    proto, engine = server_frames(), open_client()
    wire = proto.send_data("last words", True) + proto.close(1008, "bye")
    items = FrameReader(engine, LIMIT).receive(wire)
    assert items == ["last words", None]
    assert list(engine.events()) == [CloseConnection(code=1008, reason="bye")]


def test_large_frames_with_16_and_64_bit_lengths() -> None:
    proto = server_frames()
    medium, large = "m" * 70_000, b"\x00\xff" * 40_000
    wire = proto.send_data(medium, True) + proto.send_data(large, True)
    items = feed(FrameReader(open_client(), LIMIT), wire, [1, 3, 9, 70_001, 70_010])
    assert items == [medium, large]


@pytest.mark.parametrize(
    ("wire", "code"),
    [
        (b"\x00\x01x", 1002),  # a continuation frame with no message to continue
        (b"\x01\x01a\x81\x01b", 1002),  # a new text message inside a fragmented one
        (b"\x81\x02\xc3\x28", 1007),  # invalid UTF-8 in a whole text message
        (b"\x01\x01\xc3\x80\x01\x28", 1007),  # invalid UTF-8 across fragments
    ],
)
def test_rule_breaks_only_the_reader_sees(wire: bytes, code: int) -> None:
    items = FrameReader(open_client(), LIMIT).receive(wire)
    faults = [item for item in items if isinstance(item, FrameFault)]
    assert [fault.code for fault in faults] == [code]
    assert isinstance(items[-1], FrameFault)


def test_too_big_is_known_from_the_header_before_the_payload_arrives() -> None:
    reader = FrameReader(open_client(), 1000)
    assert reader.receive(b"\x81\x7e\x03\xe8" + b"y" * 10) == []  # 1000 bytes: allowed
    reader = FrameReader(open_client(), 1000)
    (fault,) = reader.receive(b"\x82\x7e\x03\xe9")  # 1001 bytes, none of them sent yet
    assert fault == FrameFault(1009, "message too big")


@pytest.mark.parametrize(
    "wire",
    [
        b"\x81\x85abcd" + bytes(b ^ k for b, k in zip(b"hello", b"abcda", strict=True)),  # masked
        b"\xc1\x01x",  # RSV1 without a negotiated extension
        b"\x83\x00",  # reserved data opcode
        b"\x09\x00",  # a fragmented ping
    ],
)
def test_malformed_frames_go_to_wsproto_which_reports_them(wire: bytes) -> None:
    engine = open_client()
    reader = FrameReader(engine, LIMIT)
    assert reader.receive(b"\x81\x02ok" + wire) == ["ok", None]
    (event,) = list(engine.events())
    assert isinstance(event, CloseConnection)
    assert event.code == 1002
    assert reader.receive(b"\x81\x02no") == [None]  # from now on every byte goes to wsproto


LEAD = "urn:prisma:query:result:datarow"
"""A session's rows come as this URN before each row's JSON: the run the reader cuts at once."""

payloads = st.one_of(
    st.text(max_size=130),
    st.text(min_size=120, max_size=400),
    st.sampled_from(
        [
            *("", "x" * 125, "x" * 126, "é" * 62, "é" * 63, "y" * 300),
            *("\u0081\u001f" + LEAD, LEAD, '{"values":["1"]}'),
        ]
    ),
)


def alternating(texts: list[str], lead: str = LEAD) -> list[str]:
    return [message for text in texts for message in (lead, text)]


def frames_of(messages: list[Any]) -> bytes:
    proto = server_frames()
    return b"".join(proto.send_data(message, True) for message in messages)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(payloads, min_size=1, max_size=40),
    st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=20)), max_size=3),
    st.lists(st.integers(0, 10_000), max_size=6),
)
def test_runs_of_a_repeated_message_survive_any_split(
    texts: list[str], others: list[Any], cuts: list[int]
) -> None:
    """Payloads holding the lead's own bytes, non-ASCII text, lengths 0 to 130 (7 and 16-bit
    headers), other messages after the run, reads cut anywhere: exactly the messages sent."""
    sent = [*alternating(texts), *others, *alternating(texts[:2])]
    items = feed(FrameReader(open_client(), LIMIT), frames_of(sent), cuts)
    assert items == sent


def forged_runs() -> st.SearchStrategy[bytes]:
    """A run's wire bytes with one byte replaced, cut or added: headers that lie,
    masked or fragmented frames, invalid UTF-8, a lead's copy in the wrong place."""
    wire = st.lists(payloads, min_size=2, max_size=12).map(
        lambda texts: frames_of(alternating(texts))
    )
    return st.tuples(wire, st.integers(0, 4_000), st.integers(0, 255), st.sampled_from("rid")).map(
        forge
    )


def forge(case: tuple[bytes, int, int, str]) -> bytes:
    wire, at, byte, how = case
    at %= len(wire)
    if how == "r":
        return wire[:at] + bytes([byte]) + wire[at + 1 :]
    if how == "i":
        return wire[:at] + bytes([byte]) + wire[at:]
    return wire[:at] + wire[at + 1 :]


@settings(max_examples=400, deadline=None)
@given(forged_runs(), st.lists(st.integers(0, 4_000), max_size=4))
def test_forged_runs_read_exactly_as_frame_by_frame(wire: bytes, cuts: list[int]) -> None:
    """Whatever the bytes, the run cutter changes nothing but speed: the same messages,
    faults and bytes left to wsproto as the frame by frame path gives."""
    fast = feed(FrameReader(open_client(), 200), wire, cuts)
    assert fast == feed(FrameReader(open_client(), 200, runs=False), wire, cuts)


@pytest.mark.parametrize(
    "padding",
    [
        pytest.param(lambda n: "", id="7-bit lengths"),
        pytest.param(lambda n: "x" * 120, id="16-bit lengths"),
        pytest.param(lambda n: "x" * (n % 7 * 20), id="both"),
        pytest.param(lambda n: "é" * 100, id="16-bit, not ASCII"),
        pytest.param(lambda n: "x" * 990, id="16-bit, near the longest a run takes"),
    ],
)
def test_a_long_run_is_cut_in_one_go(
    monkeypatch: pytest.MonkeyPatch, padding: Callable[[int], str]
) -> None:
    """1,000 rows' frames in one read: the run cutter takes all but the last pair at once,
    whether the rows' frames have 7-bit lengths (under 126 bytes), 16-bit ones, or both."""
    texts = [f'{{"values":["{n}","name-{n}{padding(n)}"]}}' for n in range(1_000)]
    taken: list[int] = []
    cut = cpython_frames._pairs

    def counting(data: Any, stop: int, items: list[Item], largest: int) -> int:
        before = len(items)
        end = cut(data, stop, items, largest)
        taken.append(len(items) - before)
        return end

    monkeypatch.setattr(cpython_frames, "_pairs", counting)
    items = FrameReader(open_client(), LIMIT).receive(frames_of(alternating(texts)))
    assert items == alternating(texts)
    assert sum(taken) > 2 * 990  # all but a few pairs, in a few growing windows
    assert len(taken) < 12


def test_messages_longer_than_a_run_takes_go_frame_by_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cutting a run scans every byte, which costs more than it saves on long messages:
    rows over `_RUN_PAYLOAD_MAX` bytes are never tried as a run, and still read exactly."""
    longest = cpython_frames._RUN_PAYLOAD_MAX
    texts = [f'{{"values":["{n}","{"x" * longest}"]}}' for n in range(50)]
    tried: list[int] = []
    cut = cpython_frames._pairs

    def counting(data: Any, stop: int, items: list[Item], largest: int) -> int:
        tried.append(largest)
        return cut(data, stop, items, largest)

    monkeypatch.setattr(cpython_frames, "_pairs", counting)
    wire = frames_of(alternating(texts))
    assert FrameReader(open_client(), LIMIT).receive(wire) == alternating(texts)
    assert tried == []
    shorter = [text[: longest - 10] + '"]}' for text in texts]
    assert (
        FrameReader(open_client(), LIMIT).receive(frames_of(alternating(shorter)))[-1]
        == shorter[-1]
    )
    assert tried and set(tried) == {longest}


LEAD_FRAME = b"\x81\x1f" + LEAD.encode()


@pytest.mark.parametrize(
    "payload",
    [
        LEAD_FRAME + b"\x81\x05abcde",  # a lead and a frame header inside invalid UTF-8
        b"\xc3\x28" * 10,  # invalid UTF-8
        b"\xc3",  # a sequence cut short
    ],
)
def test_a_bad_message_inside_a_run_is_reported_as_frame_by_frame(payload: bytes) -> None:
    good = b"\x81\x02ok"
    bad = bytes([0x81, len(payload)]) + payload
    wire = (LEAD_FRAME + good) * 3 + LEAD_FRAME + bad + (LEAD_FRAME + good) * 3
    fast = FrameReader(open_client(), LIMIT).receive(wire)
    assert fast == FrameReader(open_client(), LIMIT, runs=False).receive(wire)
    assert fast[:6] == [LEAD, "ok"] * 3
    assert fast[-1] == FrameFault(1007, "a text message is not valid UTF-8")


def test_leads_that_repeat_without_runs_cost_a_bounded_multiple_of_the_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each lead is followed by a frame with a 64-bit length (which runs do not take) whose
    payload holds the lead's frame where a 7-bit frame would end: every lead looks like a
    run's start, none is one."""
    text = "a" * 118 + "\u0081\u001f" + LEAD + "b" * 30  # U+0081 U+001F: 0xC2 0x81 0x1F
    sent = alternating([text] * 400)
    payload = text.encode()
    row = b"\x81\x7f" + len(payload).to_bytes(8, "big") + payload
    wire = (frames_of([LEAD]) + row) * 400
    looked_at: list[int] = []
    cut = cpython_frames._pairs

    def measuring(data: Any, stop: int, items: list[Item], largest: int) -> int:
        looked_at.append(len(data))
        return cut(data, stop, items, largest)

    monkeypatch.setattr(cpython_frames, "_pairs", measuring)
    assert FrameReader(open_client(), LIMIT).receive(wire) == sent
    assert len(looked_at) == 400  # every lead tried...
    assert sum(looked_at) < 12 * len(wire)  # ...each within a small window, not the rest


def test_runs_are_tried_only_where_the_same_message_comes_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows of one length have frames with equal headers: a run is tried only at the URN
    (whose copy follows the next message), never at a row (wasted work, for every row)."""
    texts = [f'{{"values":["{n:04d}"]}}' for n in range(1_000)]
    leads: list[bytes] = []
    cut = cpython_frames._pairs

    def recording(data: Any, stop: int, items: list[Item], largest: int) -> int:
        leads.append(bytes(data[:stop]))
        return cut(data, stop, items, largest)

    monkeypatch.setattr(cpython_frames, "_pairs", recording)
    sent = [texts[-1], *alternating(texts)]  # reading starts at a row: the next but one is alike
    assert FrameReader(open_client(), LIMIT).receive(frames_of(sent)) == sent
    assert set(leads) == {LEAD_FRAME}
