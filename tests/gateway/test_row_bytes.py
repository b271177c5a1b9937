"""Rows streamed as libpq's bytes, and session frames built from them in one pass.

The gateway joins a row set's bytes into its datarow lines when that is exact
JSON and frames each line for a session without decoding it; these tests hold
both to what the encoder and aiohttp's own writer produce.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
from typing import Any

import aiohttp
import pytest
from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_websocket import WebSocketWriter
from hypothesis import example, given
from hypothesis import strategies as st

from ppg_edge.core.protocol import COMPLETE_URN, DATAROW_URN, DESCRIPTION_URN
from ppg_edge_gateway.execute import (
    RawRow,
    RowLines,
    _row_getter,
    decoded,
    plain_block,
    row_block,
)
from ppg_edge_gateway.ws_socket import _LEAD_SIZES, Enclosed, pair_frames
from tests.support.raw import RawHttp, answer_rows, open_session, read_answer, send_statement

SPECIAL = ["", '"', "\\", "\x00", "\x01", "\t", "\n", "\x1f", "\x7f", "\u2028", "\xa0", "é ✓"]
SPECIAL += ["],[", '"],["']
VALUE = st.text() | st.text(st.characters(max_codepoint=127)) | st.sampled_from(SPECIAL)


def _line(row: list[str | None]) -> bytes:
    return json.dumps({"values": row}, ensure_ascii=False, separators=(",", ":")).encode()


def _raw(row: list[str | None]) -> RawRow:
    return tuple(None if value is None else value.encode() for value in row)


def _plain(value: str | None) -> bool:
    """True for a value whose JSON is its text in quotes."""
    return value is not None and not any(c in '"\\' or c < " " for c in value)


@given(st.lists(st.lists(st.none() | VALUE, max_size=4), max_size=6))
@example([["a", "b"], ["é", ""]])
@example([["\x1f"], ["x"]])
@example([['"', "q"]])
@example([["\\"]])
@example([[], ["x"]])
@example([["x", None]])
@example([["\x00", None], [None, "é"]])
def test_rows_of_bytes_are_json_dumps_per_row(rows: list[list[str | None]]) -> None:
    """Joined as they are when every value allows it, else decoded and encoded: either way
    the encoder's exact bytes."""
    raw = [_raw(row) for row in rows]
    lines = [_line(row) for row in rows]
    expected = (DATAROW_URN, b"\n".join(lines))
    joinable = all(row and all(map(_plain, row)) for row in rows)
    block = plain_block(raw)
    if not rows:
        assert block == expected
    elif not joinable:
        assert block is None
    else:
        assert block is not None
        urn, joined = block
        assert isinstance(joined, RowLines)
        assert (urn, joined.text) == expected
        enclosed = Enclosed(joined.bodies, RowLines.OPENING, RowLines.CLOSING)
        assert enclosed.messages() == lines
    assert row_block(decoded(raw)) == expected


@pytest.mark.parametrize("bad", [b"\xff", b"a\xc3", b"\xed\xa0\x80", b"\xc0\xaf"])
def test_rows_of_invalid_utf8_are_refused_as_decoding_does(bad: bytes) -> None:
    """Not UTF-8 (a stray byte, a cut sequence, an encoded surrogate, an overlong form):
    never joined, and decoding raises as psycopg's text loader does."""
    with pytest.raises(UnicodeDecodeError):
        bad.decode("utf-8")
    assert plain_block([(b"ok",), (bad,)]) is None
    with pytest.raises(UnicodeDecodeError):
        decoded([(b"ok",), (bad,)])


@pytest.mark.parametrize("width", [0, 1, 4, 70])
def test_row_getter_takes_every_column_of_row_zero(width: int) -> None:
    def get_value(row: int, column: int) -> bytes | None:
        assert row == 0
        return None if column % 3 == 2 else str(column).encode()

    assert _row_getter(width)(get_value) == tuple(get_value(0, c) for c in range(width))


async def _aiohttp_frames(messages: list[str]) -> bytes:
    """What aiohttp's server writer puts on a real socket for these text messages."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    with ours, theirs:
        transport, protocol = await loop.connect_accepted_socket(lambda: BaseProtocol(loop), ours)
        writer = WebSocketWriter(protocol, transport)
        for message in messages:
            await writer.send_frame(message.encode(), aiohttp.WSMsgType.TEXT)
        transport.close()
        chunks = []
        while chunk := await asyncio.wait_for(loop.sock_recv(theirs, 1 << 20), 10):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
@pytest.mark.parametrize("filler", ["x", "é", "✓"])
async def test_pair_frames_are_aiohttps_frames_of_the_messages(size: int, filler: str) -> None:
    """Same bytes as aiohttp's ``send_str`` per message, for every length encoding
    (7, 16 and 64 bits), ASCII or not; the long payload is ``size`` bytes."""
    long = filler * (size // len(filler.encode())) + "y" * (size % len(filler.encode()))
    assert len(long.encode()) == size
    pairs = [
        (DESCRIPTION_URN, ['{"columns":[]}']),
        (DATAROW_URN, [long, "", "a" * 125, "é" * 63, "z"]),
        (COMPLETE_URN, ['{"complete":true}']),
    ]
    messages = [message for urn, texts in pairs for text in texts for message in (urn, text)]
    framed = pair_frames([(urn, [text.encode() for text in texts]) for urn, texts in pairs])
    assert framed == await _aiohttp_frames(messages)


TRICKY = ["plain", "é ✓", '"q"', "\\", "\x01", "\t", "\x7f", "\u2028", "", "é" * 70, "x" * 70000]


def _text_array(values: list[str | None]) -> str:
    def item(value: str | None) -> str:
        if value is None:
            return "NULL"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return "{" + ",".join(map(item, values)) + "}"


ROWS_SQL = (
    "SELECT v, g::text AS n FROM generate_series(1, 40) g,"
    " unnest($1::text[]) WITH ORDINALITY AS u(v, o) ORDER BY g, o"
)


@pytest.mark.parametrize("values", [TRICKY, [*TRICKY, None]], ids=["no-null", "null"])
async def test_streamed_rows_are_exact_over_http_and_session(
    http: RawHttp, client: aiohttp.ClientSession, gateway: Any, values: list[str | None]
) -> None:
    """Hundreds of rows (the streaming path after the first) of values the join must not
    take as they are, among ones it must: each line is the encoder's, on both faces."""
    expected = [[value, str(g)] for g in range(1, 41) for value in values]
    answer = await http.query(ROWS_SQL, [_text_array(values)])
    lines = answer.text.encode().split(b"\n")
    assert lines[1:-2] == [_line(row) for row in expected]
    assert lines[-2:] == [b'{"complete":true}', b""]
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", ROWS_SQL, [_text_array(values)])
    assert answer_rows(await read_answer(ws)) == expected
    await ws.close()


async def test_streamed_bytea_stays_base64(http: RawHttp) -> None:
    """A row set with a bytea column keeps psycopg's conversion for every streamed row."""
    answer = await http.query(r"SELECT g, '\x00ff'::bytea, NULL FROM generate_series(1, 600) g")
    blob = base64.b64encode(b"\x00\xff").decode()
    assert answer.rows == [[str(g), blob, None] for g in range(1, 601)]


async def test_a_null_late_in_a_long_row_set_keeps_every_line_exact(
    http: RawHttp, client: aiohttp.ClientSession, gateway: Any
) -> None:
    """Batches joined as bytes, then one with a null (decoded), then psycopg's loaders for
    the rest of the row set: thousands of rows, several batches, every line the encoder's."""
    sql = (
        "SELECT g::text, CASE WHEN g % 2500 = 0 THEN NULL ELSE 'é' || g END"
        " FROM generate_series(1, 9000) g"
    )
    expected = [[str(g), None if g % 2500 == 0 else f"é{g}"] for g in range(1, 9001)]
    answer = await http.query(sql)
    assert answer.text.encode().split(b"\n")[1:-2] == [_line(row) for row in expected]
    ws = await open_session(client, gateway)
    await send_statement(ws, "query", sql)
    assert answer_rows(await read_answer(ws)) == expected
    await ws.close()


_BOUND = _LEAD_SIZES - len(RowLines.OPENING) - len(RowLines.CLOSING)
"""The first inner size whose message the enclosed table does not hold."""


@given(
    st.lists(
        st.sampled_from([0, 1, 108, 110, 111, _BOUND - 1, _BOUND, 70_000]).map(lambda n: b"v" * n)
        | st.text(max_size=40).map(str.encode),
        max_size=8,
    ),
    st.sampled_from([(RowLines.OPENING, RowLines.CLOSING), (b"", b""), ("é[".encode(), b"]")]),
    st.sampled_from([DATAROW_URN, "urn:é"]),
)
@example(
    [b"v" * (_BOUND - 1), b"v" * _BOUND, b""], (RowLines.OPENING, RowLines.CLOSING), DATAROW_URN
)
def test_enclosed_texts_are_framed_as_their_messages(
    inners: list[bytes], ends: tuple[bytes, bytes], urn: str
) -> None:
    """Framed from the table (each header, the opening and the previous closing in one
    piece) or, with a message too long for it, one by one: the same bytes as the whole
    messages, between other pairs, on either side of every length encoding's bound."""
    enclosed = Enclosed(inners, *ends)
    around = [(DESCRIPTION_URN, [b"{}"]), (urn, [b"a", b"b"])]
    framed = pair_frames([around[0], (urn, enclosed), around[1]])
    assert framed == pair_frames([around[0], (urn, enclosed.messages()), around[1]])


async def test_a_batch_of_rows_goes_out_as_aiohttp_would_send_its_lines() -> None:
    """A real batch from ``plain_block``, framed from its bodies, against aiohttp's writer
    sending each line after the data-row URN."""
    rows = [_raw([str(n), f"name-{n}" + "é" * (n % 70), "2024-01-01"]) for n in range(200)]
    block = plain_block(rows)
    assert block is not None and isinstance(block[1], RowLines)
    lines = block[1].text.decode().split("\n")
    enclosed = Enclosed(block[1].bodies, RowLines.OPENING, RowLines.CLOSING)
    messages = [message for line in lines for message in (DATAROW_URN, line)]
    assert pair_frames([(DATAROW_URN, enclosed)]) == await _aiohttp_frames(messages)
