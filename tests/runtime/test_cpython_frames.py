"""The WebSocket frame reader's fast path against frames that wsproto itself encodes.

A real wsproto server side writes the frames (whole, fragmented, with pings in
between); the bytes reach the reader split at arbitrary points, and what comes
out must be exactly the messages sent, with control frames left to a real
wsproto client engine. Rule breaks get the close code RFC 6455 asks for.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request
from wsproto.frame_protocol import FrameProtocol

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
