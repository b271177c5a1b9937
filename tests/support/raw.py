"""A raw protocol client for tests (aiohttp's client, not the driver).

Builds multipart statement bodies by hand so tests control every byte, and
collects WebSocket answers as (URN, JSON) pairs.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ppg_edge.core.protocol import (
    BINARY_PARAM_CONTENT_TYPE,
    BINARY_PARAM_URN,
    COMPLETE_URN,
    DESCRIPTOR_CONTENT_TYPE,
    DESCRIPTOR_URN,
    ERROR_URN,
    SESSION_PATH,
    STATEMENT_PATH,
    TEXT_PARAM_CONTENT_TYPE,
    TEXT_PARAM_URN,
    WS_SUBPROTOCOL,
    multipart_content_type,
)

BOUNDARY = "ppgEdgeTestBoundary7MA4YWxk"
Part = tuple[str, str, bytes]


def descriptor_part(descriptor: dict[str, Any] | str | bytes) -> Part:
    """The descriptor part (JSON-encoded unless already text/bytes)."""
    if isinstance(descriptor, dict):
        descriptor = json.dumps(descriptor)
    data = descriptor.encode() if isinstance(descriptor, str) else descriptor
    return (DESCRIPTOR_URN, DESCRIPTOR_CONTENT_TYPE, data)


def text_part(value: str | bytes) -> Part:
    """An extended text parameter part."""
    data = value.encode() if isinstance(value, str) else value
    return (TEXT_PARAM_URN, TEXT_PARAM_CONTENT_TYPE, data)


def binary_part(value: bytes) -> Part:
    """An extended binary parameter part."""
    return (BINARY_PARAM_URN, BINARY_PARAM_CONTENT_TYPE, value)


def multipart_body(parts: Iterable[Part], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body exactly as PROTOCOL.md section 3 lays it out."""
    out = bytearray()
    for name, content_type, data in parts:
        out += f"--{boundary}\r\n".encode()
        out += f'Content-Disposition: form-data; name="{name}"\r\n'.encode()
        out += f"Content-Type: {content_type}\r\n\r\n".encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def statement_parts(
    kind: str, sql: str, params: list[Any] | None = None, extended: bool = False
) -> list[Part]:
    """Parts for a statement; ``params`` hold str (text), bytes (binary) or None."""
    described: list[dict[str, Any]] = []
    extra: list[Part] = []
    for value in params or []:
        if value is None:
            described.append({"type": "text", "value": None})
        elif isinstance(value, bytes):
            if extended:
                described.append({"type": "binary", "byteSize": len(value)})
                extra.append(binary_part(value))
            else:
                described.append({"type": "binary", "value": base64.b64encode(value).decode()})
        elif extended:
            described.append({"type": "text", "byteSize": len(value.encode())})
            extra.append(text_part(value))
        else:
            described.append({"type": "text", "value": value})
    descriptor: dict[str, Any] = {kind: sql}
    if described:
        descriptor["parameters"] = described
    return [descriptor_part(descriptor), *extra]


@dataclass
class HttpAnswer:
    """A raw HTTP answer: status, headers, the body text and its NDJSON frames."""

    status: int
    headers: Any
    text: str

    @property
    def frames(self) -> list[dict[str, Any]]:
        """The body as parsed NDJSON lines (only for 200 answers)."""
        return [json.loads(line) for line in self.text.splitlines() if line]

    @property
    def rows(self) -> list[list[Any]]:
        """The values of every data row frame."""
        return [f["values"] for f in self.frames if "values" in f]

    @property
    def error(self) -> dict[str, Any] | None:
        """The error frame's object, if the statement failed."""
        return next((f["error"] for f in self.frames if "error" in f), None)


def basic_auth(user: str, password: str) -> str:
    """An ``Authorization: Basic`` value, exactly as PROTOCOL.md section 1 spells it."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class RawHttp:
    """POSTs statement bodies to a gateway with Basic auth."""

    def __init__(self, session: aiohttp.ClientSession, gateway: Any) -> None:
        self.session = session
        self.gateway = gateway

    def auth(self, user: str | None = None, password: str | None = None) -> str:
        """An Authorization header value for the gateway's role unless told otherwise."""
        return basic_auth(
            user or self.gateway.user, self.gateway.password if password is None else password
        )

    async def post(
        self,
        body: bytes | AsyncIterator[bytes],
        *,
        db: str | None = None,
        auth: str | None = None,
        headers: dict[str, str] | None = None,
        boundary: str = BOUNDARY,
        path: str = STATEMENT_PATH,
    ) -> HttpAnswer:
        """POST a raw body; returns the whole answer."""
        sent = {
            "Content-Type": multipart_content_type(boundary),
            "Authorization": auth or self.auth(),
            **(headers or {}),
        }
        params = {"db": db or self.gateway.database}
        async with self.session.post(
            self.gateway.url + path, data=body, headers=sent, params=params
        ) as response:
            text = await response.text()
            return HttpAnswer(response.status, response.headers, text)

    async def run(
        self,
        kind: str,
        sql: str,
        params: list[Any] | None = None,
        *,
        extended: bool = False,
        **kwargs: Any,
    ) -> HttpAnswer:
        """Build and POST a statement."""
        body = multipart_body(statement_parts(kind, sql, params, extended))
        return await self.post(body, **kwargs)

    async def query(self, sql: str, params: list[Any] | None = None, **kw: Any) -> HttpAnswer:
        """A ``query`` statement."""
        return await self.run("query", sql, params, **kw)

    async def exec(self, sql: str, params: list[Any] | None = None, **kw: Any) -> HttpAnswer:
        """An ``exec`` statement."""
        return await self.run("exec", sql, params, **kw)


async def open_session(
    session: aiohttp.ClientSession,
    gateway: Any,
    *,
    db: str | None = None,
    user: str | None = None,
    password: str | None = None,
    auth: bool = True,
    **kwargs: Any,
) -> aiohttp.ClientWebSocketResponse:
    """Open ``/v0/session`` with the subprotocol and send the auth message."""
    ws: aiohttp.ClientWebSocketResponse = await session.ws_connect(
        gateway.ws_url + SESSION_PATH,
        protocols=(WS_SUBPROTOCOL,),
        params={"db": db or gateway.database},
        max_msg_size=0,
        **kwargs,
    )
    if auth:
        await ws.send_str(
            json.dumps(
                {
                    "username": user or gateway.user,
                    "password": gateway.password if password is None else password,
                }
            )
        )
    return ws


async def send_statement(
    ws: aiohttp.ClientWebSocketResponse,
    kind: str,
    sql: str,
    params: list[Any] | None = None,
    extended: bool = False,
) -> None:
    """Send one statement's messages (descriptor, then each extended value)."""
    parts = statement_parts(kind, sql, params, extended)
    await ws.send_str(DESCRIPTOR_URN)
    await ws.send_str(parts[0][2].decode())
    for name, _, data in parts[1:]:
        await ws.send_str(name)
        if name == BINARY_PARAM_URN:
            await ws.send_bytes(data)
        else:
            await ws.send_str(data.decode())


async def read_answer(
    ws: aiohttp.ClientWebSocketResponse, timeout: float = 10
) -> list[tuple[str, dict[str, Any]]]:
    """Read URN/JSON pairs up to and including complete or error."""
    pairs: list[tuple[str, dict[str, Any]]] = []
    while True:
        urn = await ws.receive(timeout)
        if urn.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a URN, got {urn.type} {urn.data!r} {urn.extra!r}")
        body = await ws.receive(timeout)
        assert body.type == aiohttp.WSMsgType.TEXT, body
        pairs.append((urn.data, json.loads(body.data)))
        if urn.data in (COMPLETE_URN, ERROR_URN):
            return pairs


def answer_rows(pairs: list[tuple[str, dict[str, Any]]]) -> list[list[Any]]:
    """The values of the datarow frames of one answer."""
    return [body["values"] for _, body in pairs if "values" in body]


async def expect_close(ws: aiohttp.ClientWebSocketResponse, timeout: float = 10) -> tuple[int, str]:
    """Read until the server closes; returns (close code, reason)."""
    while True:
        message = await ws.receive(timeout)
        if message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
        ):
            return (ws.close_code or 0, message.extra or "")
