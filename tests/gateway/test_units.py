"""The gateway's pure parts: descriptor parsing, the WebSocket assembler, the command line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from ppg_edge.core.protocol import BINARY_PARAM_URN, DATAROW_URN, DESCRIPTOR_URN, TEXT_PARAM_URN
from ppg_edge_gateway.config import parse_config
from ppg_edge_gateway.errors import ProtocolViolation
from ppg_edge_gateway.execute import _DUMPS, _compact_encoder, row_block
from ppg_edge_gateway.http_statement import media_type
from ppg_edge_gateway.statement import parse_descriptor
from ppg_edge_gateway.upstream import Credentials, Upstream
from ppg_edge_gateway.ws_assembler import StatementAssembler
from ppg_edge_gateway.ws_session import close_reason
from ppg_edge_gateway.ws_socket import pair_frames

ASCII = st.characters(max_codepoint=127)


def test_descriptor_with_inline_and_extended_parameters() -> None:
    statement = parse_descriptor(
        json.dumps(
            {
                "query": "SELECT $1, $2, $3, $4",
                "parameters": [
                    {"type": "text", "value": "é"},
                    {"type": "binary", "value": "AAE="},
                    {"type": "text", "value": None},
                    {"type": "binary", "byteSize": 3},
                ],
            }
        )
    )
    assert statement.kind == "query"
    assert statement.values == ["é".encode(), b"\x00\x01", None, None]
    assert statement.formats == [0, 1, 0, 1]
    assert [(e.index, e.format, e.byte_size) for e in statement.extended] == [(3, "binary", 3)]
    statement.fill(statement.extended[0], b"abc")
    assert statement.values[3] == b"abc"


def test_descriptor_limits() -> None:
    with pytest.raises(ProtocolViolation, match="at most 65535"):
        parse_descriptor(
            json.dumps({"exec": "x", "parameters": [{"type": "text", "value": "1"}] * 65536})
        )
    with pytest.raises(ProtocolViolation, match="NUL"):
        parse_descriptor(json.dumps({"query": "SELECT '\x00'"}))
    with pytest.raises(ProtocolViolation, match="unknown keys"):
        parse_descriptor(json.dumps({"query": "SELECT 1", "extra": 1}))


def test_invalid_utf8_text_is_marked_for_a_22021_error() -> None:
    statement = parse_descriptor(
        json.dumps({"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 2}]})
    )
    statement.fill(statement.extended[0], b"\xff\xfe")
    assert statement.invalid_text is not None and "UTF8" in statement.invalid_text


def test_assembler_builds_statements_in_order() -> None:
    assembler = StatementAssembler()
    assert assembler.idle
    assert assembler.text(DESCRIPTOR_URN) is None
    assert not assembler.idle
    descriptor = {
        "exec": "SELECT $1, $2",
        "parameters": [{"type": "text", "byteSize": 2}, {"type": "binary", "byteSize": 1}],
    }
    assert assembler.text(json.dumps(descriptor)) is None
    assert assembler.text(TEXT_PARAM_URN) is None
    assert assembler.text("ab") is None
    assert assembler.text(BINARY_PARAM_URN) is None
    statement = assembler.binary(b"\x09")
    assert statement is not None and statement.values == [b"ab", b"\x09"]
    assert assembler.idle
    assert assembler.text(DESCRIPTOR_URN) is None
    simple = assembler.text(json.dumps({"query": "SELECT 1"}))
    assert simple is not None and simple.sql == "SELECT 1"


def test_close_reason_fits_a_close_frame() -> None:
    reason = close_reason("é" * 200)
    assert len(reason) <= 123
    reason.decode("utf-8")
    assert close_reason("short") == b"short"


def test_command_line() -> None:
    config = parse_config(
        [
            "--upstream",
            "postgres://db.example:6543",
            "--listen",
            "0.0.0.0:9000",
            "--allow-origin",
            "http://a",
            "--allow-origin",
            "http://b",
            "--max-body-size",
            "2m",
            "--statement-timeout",
            "1.5",
        ]
    )
    assert (config.upstream_host, config.upstream_port) == ("db.example", 6543)
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 9000)
    assert config.allow_origins == ["http://a", "http://b"]
    assert config.max_body_size == 2 * 1024 * 1024
    assert config.cors_origin("http://b") == "http://b" and config.cors_origin("http://c") is None
    assert config.origin_refused("http://c") and not config.origin_refused(None)
    defaults = parse_config(["--upstream", "postgresql://localhost"])
    assert (defaults.upstream_port, defaults.listen_host, defaults.listen_port) == (
        5432,
        "127.0.0.1",
        8787,
    )
    assert defaults.upstream_sslmode == "prefer"
    tls = parse_config(["--upstream", "postgres://db:5433/ignored?sslmode=verify-full"])
    assert (tls.upstream_host, tls.upstream_port, tls.upstream_sslmode) == (
        "db",
        5433,
        "verify-full",
    )
    for bad in (["--max-body-size", "lots"], ["--upstream", "postgres://x?sslmode=maybe"]):
        with pytest.raises(SystemExit):
            parse_config(["--upstream", "postgres://x", *bad])


def test_options_make_session_defaults_and_secrets_stay_out_of_reprs() -> None:
    options = Upstream("h", 1, statement_timeout_ms=1500).options()
    assert "-c TimeZone=UTC" in options and "-c statement_timeout=1500" in options
    assert "hunter2" not in repr(Credentials("u", "hunter2", "d"))


@pytest.mark.parametrize(
    "rows",
    [
        [["1", "a"], [None, "b"], ["3", None]],
        [['},{"values":[', None], ["a\nb", '"x"'], ["}\n{", "\\"]],
        [["a],[b", None], ["x", "]"], ["[", "],["]],
        [["x\\"], ['"],["'], ["]"]],
        [[], [], []],
        [["only"]],
    ],
)
def test_row_block_holds_one_frame_per_line(rows: list[list[str | None]]) -> None:
    urn, text = row_block(rows)
    assert urn == DATAROW_URN
    assert [json.loads(line) for line in text.split(b"\n")] == [{"values": row} for row in rows]


VALUE_TEXT = st.text() | st.text(ASCII) | st.sampled_from(['"', "\\", "\x7f", "\n", "],[", ""])


@given(st.lists(st.lists(st.none() | VALUE_TEXT, max_size=4), max_size=6))
@example([["a\n", "b"]])
@example([["\x1f"], ["x"]])
@example([['"', "q"]])
@example([["\\"]])
@example([[], ["x"]])
def test_row_block_is_json_dumps_per_row(rows: list[list[str | None]]) -> None:
    """Both paths of the block encoder (split at seams, one by one) are exact JSON."""
    lines = [json.dumps({"values": row}, ensure_ascii=False, separators=(",", ":")) for row in rows]
    assert row_block(rows) == (DATAROW_URN, "\n".join(lines).encode())


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("multipart/form-data; boundary=x", "multipart/form-data"),
        (' Multipart/Form-Data ;boundary="a;b"', "multipart/form-data"),
        ("multipart/form-data", "multipart/form-data"),
        ("multipart/form-datax; boundary=x", "multipart/form-datax"),
        ("text/plain", "text/plain"),
        ("", ""),
    ],
)
def test_media_type_of_a_content_type_header(header: str, expected: str) -> None:
    assert media_type(header) == expected


@pytest.mark.parametrize(
    "option",
    [
        ["--max-connections", "-1"],
        ["--max-connections", "0"],
        ["--max-sessions", "0"],
        ["--queue-timeout", "0"],
        ["--queue-timeout", "nan"],
        ["--statement-timeout", "-1"],
        ["--statement-timeout", "inf"],
        ["--statement-timeout", "9999999"],
        ["--idle-timeout", "-0.5"],
        ["--max-buffered-bytes", "0"],
        ["--max-body-size", "2m", "--max-buffered-bytes", "1m"],
    ],
)
def test_out_of_range_numbers_are_usage_errors(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(["--upstream", "postgres://x", *option])
    assert caught.value.code == 2
    assert option[-2] in capsys.readouterr().err


def test_zero_timeouts_mean_none() -> None:
    config = parse_config(
        ["--upstream", "postgres://x", "--statement-timeout", "0", "--idle-timeout", "0"]
    )
    assert (config.statement_timeout, config.idle_timeout) == (0.0, 0.0)
    assert config.max_buffered_bytes == 4 * config.max_body_size


def _changed_signature(markers: Any, default: Any) -> Any:
    """What a future CPython's private encoder factory might look like."""
    return lambda value, indent: ["wrong"]


def _wrong_output(*args: Any) -> Any:
    """A private encoder factory that works but encodes differently."""
    return lambda value, indent: ["[]"]


@pytest.mark.parametrize("factory", [_changed_signature, _wrong_output])
def test_row_encoder_falls_back_when_the_private_c_encoder_changes(
    monkeypatch: pytest.MonkeyPatch, factory: Any
) -> None:
    with monkeypatch.context() as patched:
        # Only while choosing: the public encoder itself relies on the real one.
        patched.setattr(json.encoder, "c_make_encoder", factory)
        encode = _compact_encoder()
    assert encode is _DUMPS
    assert encode(["é", None, '"q"']) == '["é",null,"\\"q\\""]'


def test_row_encoder_uses_the_c_encoder_when_it_works() -> None:
    encode = _compact_encoder()
    assert encode(["a", None]) == '["a",null]'
    assert getattr(json.encoder, "c_make_encoder", None) is None or encode is not _DUMPS


@given(
    st.lists(
        st.tuples(st.sampled_from([DATAROW_URN, "urn:é"]), st.lists(st.text() | st.text(ASCII))),
        max_size=3,
    ),
    st.sampled_from([0, 125, 126, 2047, 2048, 65535, 65536]),
)
def test_pair_frames_decode_as_the_urn_text_pairs(
    pairs: list[tuple[str, list[str]]], pad: int
) -> None:
    """A URN message before each UTF-8 text, ASCII or not, every length encoding (7,
    16 and 64 bits): one write of many frames is what a client reads as those messages."""
    pairs = [*pairs, (DATAROW_URN, ["y" * pad, "z"])]
    expected = [message for urn, texts in pairs for text in texts for message in (urn, text)]
    framed = pair_frames([(urn, [text.encode() for text in texts]) for urn, texts in pairs])
    client = FrameProtocol(client=True, extensions=[])
    client.receive_bytes(framed)
    frames = list(client.received_frames())
    assert [frame.opcode for frame in frames] == [Opcode.TEXT] * len(expected)
    assert [frame.payload for frame in frames] == expected
    assert all(frame.frame_finished and frame.message_finished for frame in frames)
