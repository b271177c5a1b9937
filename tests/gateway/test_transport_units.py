"""The transport's pure parts: frame gate, log redaction, reasons, limits (issue 8: 6, 7, 9, 11)."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys

import pytest
from aiohttp.http_exceptions import BadHttpMessage, InvalidURLError, LineTooLong

from ppg_edge.core.protocol import CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR
from ppg_edge_gateway.config import FD_RESERVE, GatewayConfig, parse_config
from ppg_edge_gateway.connections import bad_request_reason, close_frame, keep_alive
from ppg_edge_gateway.frame_gate import FrameGate
from ppg_edge_gateway.log_redaction import RedactSecrets, redact
from ppg_edge_gateway.wire_text import close_reason, safe_text
from tests.support.raw_ws import OP_PING, frame, text_frame


class Recorder:
    """Stands in for aiohttp's parser: records what the gate lets through."""

    def __init__(self) -> None:
        self.data = b""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.data += data
        return False, b""

    def feed_eof(self) -> None:
        pass


def gate(limit: int = 100) -> tuple[FrameGate, Recorder, list[tuple[int, str]]]:
    failures: list[tuple[int, str]] = []
    parser = Recorder()
    return (
        FrameGate(parser, lambda code, reason: failures.append((code, reason)), limit),
        parser,
        failures,
    )


def test_gate_passes_masked_frames_fed_a_byte_at_a_time() -> None:
    stream = text_frame("a" * 90) + frame(0x1, b"x" * 300) + frame(OP_PING, b"p")
    stream += frame(0x2, b"y" * 70_000)
    checked, parser, failures = gate()
    for index in range(len(stream)):
        checked.feed_data(stream[index : index + 1])
    assert failures == [] and parser.data == stream


def test_gate_refuses_an_unmasked_frame_and_passes_nothing_after() -> None:
    checked, parser, failures = gate()
    checked.feed_data(text_frame("ok") + text_frame("bad", mask=False) + text_frame("later"))
    assert failures == [(CLOSE_PROTOCOL_ERROR, "protocol error: client frames must be masked")]
    assert parser.data == b""
    checked.feed_data(text_frame("more"))
    assert parser.data == b""


def test_gate_caps_only_the_first_message_across_its_fragments() -> None:
    checked, _, failures = gate(100)
    checked.feed_data(text_frame("a" * 60, fin=False) + frame(OP_PING, b"") + frame(0, b"b" * 50))
    assert failures and failures[0][0] == CLOSE_MESSAGE_TOO_BIG and "auth message" in failures[0][1]
    later, _, none = gate(100)
    later.feed_data(text_frame("a" * 100) + text_frame("b" * 10_000))
    assert none == []


def test_gate_refuses_an_oversized_announcement_before_its_payload() -> None:
    checked, parser, failures = gate(100)
    checked.feed_data(text_frame(b"", declared=1 << 40)[:14])
    assert failures and failures[0][0] == CLOSE_MESSAGE_TOO_BIG and parser.data == b""


def test_close_frame_carries_code_and_a_bounded_reason() -> None:
    data = close_frame(1002, "é" * 200)
    assert data[0] == 0x88 and data[1] == len(data) - 2 <= 125
    assert int.from_bytes(data[2:4], "big") == 1002


def test_text_with_lone_surrogates_can_be_sent() -> None:
    text = "boundary missed for Content-Type: multipart/form-data; bound\udcffary=B"
    assert "\\udcff" in safe_text(text)
    safe_text(text).encode("utf-8")
    assert close_reason("user \udcff unknown").decode("utf-8") == "user \\udcff unknown"


def test_bad_request_reasons_never_quote_the_request() -> None:
    secret = "Basic cHBnX3Rlc3Q6aHVudGVyMi16enp6"
    too_long = LineTooLong(secret.encode() + b"...", 8190)
    assert bad_request_reason(too_long) == "a request line or header is longer than 8190 bytes"
    llhttp = BadHttpMessage(f"Invalid header value char:\n\n  b'X: {secret}'\n     ^")
    assert bad_request_reason(llhttp) == "Invalid header value char"
    url = InvalidURLError("Invalid char in url path:\n\n  b'GET /?password=hunter2'\n   ^")
    assert bad_request_reason(url) == "Invalid char in url path"
    for exc in (too_long, llhttp, url):
        assert "cHBn" not in bad_request_reason(exc) and "hunter2" not in bad_request_reason(exc)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Got more than 8190 bytes when reading: b'Basic cHBnX3Rlc3Q6aHVudGVy...'.", "cHBn"),
        ("header Authorization: Basic cHBnOnNlY3JldA== seen", "cHBn"),
        ("Authorization: Bearer eyJhbGciOi.abc", "eyJh"),
        ("connection failed: host=db password=hunter2 dbname=x", "hunter2"),
        ('{"username": "ppg", "password": "hun\\"ter2"}', "ter2"),
        ("could not reach postgres://ppg:hunter2@db:5432/ppg", "hunter2"),
    ],
)
def test_redaction_masks_credentials(text: str, secret: str) -> None:
    assert secret not in redact(text) and "[redacted]" in redact(text)


def test_redaction_filter_cleans_message_traceback_and_control_characters() -> None:
    try:
        raise ValueError("bad Authorization: Basic cHBnOnNlY3JldA==")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "user=%s", ("x\nFAKE ERROR line",), exc_info
    )
    assert RedactSecrets().filter(record)
    text = logging.Formatter("%(message)s").format(record)
    assert "cHBnOnNlY3JldA" not in text
    assert text.splitlines()[0] == "user=x\\nFAKE ERROR line"


def test_client_limit_leaves_room_for_upstream_connections() -> None:
    config = GatewayConfig()
    assert config.client_limit(1024) <= 1024 - FD_RESERVE
    assert config.client_limit(1024) + min(config.client_limit(1024), 200) <= 1024 - FD_RESERVE
    assert config.client_limit(100_000) == 100_000 - FD_RESERVE - 200
    assert config.client_limit(10) == 1
    assert parse_config(["--embedded", "--max-clients", "7"]).client_limit(1024) == 7


def test_transport_flags_and_defaults() -> None:
    config = parse_config(["--embedded"])
    assert (config.auth_timeout, config.header_timeout, config.body_timeout) == (5.0, 10.0, 60.0)
    assert config.heartbeat <= 30 / 1.5 and config.max_unauthenticated == 256
    flags = "--embedded --auth-timeout 2 --header-timeout 3 --body-timeout 4 --heartbeat 0"
    custom = parse_config([*flags.split(), "--max-unauthenticated", "9"])
    assert (custom.auth_timeout, custom.header_timeout, custom.body_timeout) == (2, 3, 4)
    assert (custom.heartbeat, custom.max_unauthenticated) == (0, 9)
    for bad in (["--auth-timeout", "0"], ["--header-timeout", "-1"], ["--max-clients", "0"]):
        with pytest.raises(SystemExit):
            parse_config(["--embedded", *bad])


async def test_keep_alive_probes_are_set_on_accepted_sockets() -> None:
    accepted: list[asyncio.BaseTransport] = []

    class Keep(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            keep_alive(transport, 20)
            accepted.append(transport)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Keep, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    while not accepted:
        await asyncio.sleep(0.01)
    sock = accepted[0].get_extra_info("socket")
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
    if hasattr(socket, "TCP_KEEPIDLE"):
        idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        probes = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        assert idle == 20 and idle + probes * interval <= 1.5 * 20 + 1
    writer.close()
    accepted[0].close()
    server.close()
