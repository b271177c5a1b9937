"""Byte-level WebSocket and HTTP clients for tests that must send what no library would.

Frames are built by hand (masked or not, reserved bits, any opcode) so tests can
check how the gateway answers protocol violations; ``read_close`` returns the
close code and reason the gateway sent.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from dataclasses import dataclass
from typing import Any

from ppg_edge.core.protocol import SESSION_PATH, WS_SUBPROTOCOL

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    mask: bool = True,
    rsv: int = 0,
    declared: int | None = None,
) -> bytes:
    """One client frame; ``declared`` overrides the length field (payload then may be short)."""
    length = len(payload) if declared is None else declared
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mask_bit = 0x80 if mask else 0
    if length < 126:
        head.append(mask_bit | length)
    elif length < 65536:
        head.append(mask_bit | 126)
        head += struct.pack("!H", length)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", length)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    masked = bytes(byte ^ key[index % 4] for index, byte in enumerate(payload))
    return bytes(head) + key + masked


def text_frame(text: str | bytes, **kwargs: Any) -> bytes:
    """A text frame (bytes are sent as they are, valid UTF-8 or not)."""
    data = text.encode() if isinstance(text, str) else text
    return frame(OP_TEXT, data, **kwargs)


@dataclass
class ServerFrame:
    """A frame from the server (never masked)."""

    opcode: int
    payload: bytes

    @property
    def close(self) -> tuple[int, str]:
        """(code, reason) of a close frame."""
        if len(self.payload) < 2:
            return (1005, "")
        code = struct.unpack("!H", self.payload[:2])[0]
        return (code, self.payload[2:].decode("utf-8", "replace"))


class RawWebSocket:
    """A WebSocket opened by hand on a plain TCP stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, database: str, *, subprotocol: bool = True) -> RawWebSocket:
        """Connect and upgrade ``/v0/session?db=database``; raises if the upgrade fails."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {SESSION_PATH}?db={database} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {WS_SUBPROTOCOL}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        if not head.startswith(b"HTTP/1.1 101"):
            writer.close()
            raise AssertionError(f"upgrade refused: {head!r}")
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        """Write raw bytes (one or more frames, or a part of one)."""
        self.writer.write(data)
        await self.writer.drain()

    async def auth(self, user: str, password: str) -> None:
        """Send the auth message as one masked text frame."""
        await self.send(text_frame(json.dumps({"username": user, "password": password})))

    async def read_frame(self, timeout: float = 10) -> ServerFrame | None:
        """The next server frame, or None at EOF."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), timeout)
            length = head[1] & 0x7F
            if length == 126:
                length = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif length == 127:
                length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            payload = await asyncio.wait_for(self.reader.readexactly(length), timeout)
        except asyncio.IncompleteReadError:
            return None
        return ServerFrame(head[0] & 0x0F, payload)

    async def read_close(self, timeout: float = 10) -> tuple[int, str] | None:
        """Skip frames until the server's close frame: its (code, reason); None at EOF."""
        while (received := await self.read_frame(timeout)) is not None:
            if received.opcode == OP_CLOSE:
                return received.close
        return None

    async def at_eof(self, timeout: float = 10) -> bool:
        """True once the server has closed the TCP stream (reads and drops anything before)."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except (ConnectionError, TimeoutError):
            return False
        return True

    def close(self) -> None:
        """Drop the TCP connection without a close handshake."""
        self.writer.close()


async def raw_http(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes to the gateway and read everything it answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(-1), timeout)
    finally:
        writer.close()


async def read_http_answer(reader: asyncio.StreamReader, timeout: float = 10) -> bytes:
    """One HTTP answer with a Content-Length body (the connection may stay open after it)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await asyncio.wait_for(reader.readexactly(length), timeout)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP answer (0 when there is none)."""
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else 0


def body_of(answer: bytes) -> bytes:
    """The body of a raw, non-chunked HTTP answer."""
    return answer.partition(b"\r\n\r\n")[2]
