"""The CPython runtime speaking the raw protocol to the real gateway and PostgreSQL.

Bodies and messages are built by hand from the protocol constants, so these
tests check the transport alone, independent of the driver's encoders.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ppg_edge.core.protocol import (
    COMPLETE_URN,
    DATABASE_QUERY_PARAM,
    DATAROW_URN,
    DESCRIPTION_URN,
    DESCRIPTOR_CONTENT_TYPE,
    DESCRIPTOR_URN,
    NDJSON,
    SESSION_PATH,
    STATEMENT_PATH,
    TEXT_PARAM_CONTENT_TYPE,
    TEXT_PARAM_URN,
    WS_SUBPROTOCOL,
    multipart_content_type,
)
from ppg_edge.runtime.base import HttpResponse, WebSocket, WebSocketClosed
from ppg_edge.runtime.cpython import CPythonRuntime

BOUNDARY = "runtime-test-boundary"


def statement_url(gateway: Any) -> str:
    return f"{gateway.url}{STATEMENT_PATH}?{DATABASE_QUERY_PARAM}={gateway.database}"


def session_url(gateway: Any) -> str:
    base = gateway.url.replace("http", "ws", 1)
    return f"{base}{SESSION_PATH}?{DATABASE_QUERY_PARAM}={gateway.database}"


def auth_headers(gateway: Any, password: str | None = None) -> list[tuple[str, str]]:
    secret = f"{gateway.user}:{gateway.password if password is None else password}"
    return [
        ("Authorization", "Basic " + base64.b64encode(secret.encode()).decode()),
        ("Content-Type", multipart_content_type(BOUNDARY)),
    ]


def multipart(descriptor: dict[str, Any], text_params: list[str]) -> list[bytes]:
    """The statement body as several chunks, one per header block and value."""
    chunks = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{DESCRIPTOR_URN}"\r\n'
        f"Content-Type: {DESCRIPTOR_CONTENT_TYPE}\r\n\r\n".encode(),
        json.dumps(descriptor).encode(),
    ]
    for value in text_params:
        chunks += [
            f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="{TEXT_PARAM_URN}"\r\n'
            f"Content-Type: {TEXT_PARAM_CONTENT_TYPE}\r\n\r\n".encode(),
            value.encode(),
        ]
    chunks.append(f"\r\n--{BOUNDARY}--\r\n".encode())
    return chunks


async def iterate(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def ndjson(response: HttpResponse) -> list[dict[str, Any]]:
    data = b"".join([chunk async for chunk in response.body()])
    return [json.loads(line) for line in data.splitlines() if line]


async def test_chunked_statement_with_an_extended_parameter(
    gateway: Any, runtime: CPythonRuntime
) -> None:
    big = "é" * 3000
    descriptor = {
        "query": "SELECT $1::int + 1 AS n, length($2::text) AS len",
        "parameters": [
            {"type": "text", "value": "41"},
            {"type": "text", "byteSize": len(big.encode())},
        ],
    }
    for body_size in (None, sum(len(c) for c in multipart(descriptor, [big]))):
        response = await runtime.request(
            "POST",
            statement_url(gateway),
            auth_headers(gateway),
            iterate(multipart(descriptor, [big])),
            body_size,
        )
        assert response.status == 200
        assert response.headers["content-type"].startswith(NDJSON)
        frames = await ndjson(response)
        assert [c["name"] for c in frames[0]["columns"]] == ["n", "len"]
        assert frames[1:] == [{"values": ["42", "3000"]}, {"complete": True}]


async def test_streamed_rows_and_bad_credentials(gateway: Any, runtime: CPythonRuntime) -> None:
    descriptor = {"query": "SELECT g FROM generate_series(1, 50000) AS g"}
    response = await runtime.request(
        "POST", statement_url(gateway), auth_headers(gateway), iterate(multipart(descriptor, []))
    )
    assert response.status == 200
    frames = await ndjson(response)
    assert len(frames) == 50002
    assert frames[-2] == {"values": ["50000"]}
    assert frames[-1] == {"complete": True}
    response = await runtime.request(
        "POST",
        statement_url(gateway),
        auth_headers(gateway, "wrong-password"),
        iterate(multipart(descriptor, [])),
    )
    assert response.status == 401
    text = b"".join([chunk async for chunk in response.body()]).decode()
    assert text and "wrong-password" not in text


async def exchange(ws: WebSocket, descriptor: dict[str, Any]) -> list[tuple[str, Any]]:
    """Send one statement on a session and collect its answer frames up to the end."""
    await ws.send(DESCRIPTOR_URN)
    await ws.send(json.dumps(descriptor))
    frames: list[tuple[str, Any]] = []
    while not frames or frames[-1][0] not in {COMPLETE_URN, "urn:prisma:query:result:error"}:
        urn = await ws.receive()
        payload = await ws.receive()
        assert isinstance(urn, str) and isinstance(payload, str)
        frames.append((urn, json.loads(payload)))
    return frames


async def test_websocket_session_with_pipelined_statements(
    gateway: Any, runtime: CPythonRuntime
) -> None:
    ws = await runtime.websocket(session_url(gateway), [WS_SUBPROTOCOL])
    assert ws.subprotocol == WS_SUBPROTOCOL
    await ws.send(json.dumps({"username": gateway.user, "password": gateway.password}))
    await ws.send(DESCRIPTOR_URN)
    await ws.send(json.dumps({"exec": "SELECT set_config('app.x', 'kept', false)"}))
    big = "z" * 5000
    await ws.send(DESCRIPTOR_URN)
    await ws.send(
        json.dumps(
            {
                "query": "SELECT current_setting('app.x') AS x, $1::text = $1 AS ok",
                "parameters": [{"type": "text", "byteSize": len(big)}],
            }
        )
    )
    await ws.send(TEXT_PARAM_URN)
    await ws.send(big)
    answers = []
    for _ in range(6):  # both statements were sent before reading: three pairs each
        urn, payload = await ws.receive(), await ws.receive()
        assert isinstance(payload, str)
        answers.append((urn, json.loads(payload)))
    assert [urn for urn, _ in answers] == [DESCRIPTION_URN, DATAROW_URN, COMPLETE_URN] * 2
    assert answers[1][1]["values"][0].isdigit()
    assert answers[4][1] == {"values": ["kept", "t"]}
    frames = await exchange(ws, {"query": "SELECT current_setting('app.x') AS x"})
    assert frames[1] == (DATAROW_URN, {"values": ["kept"]})
    await ws.close()


async def test_websocket_bad_credentials_close_with_1008(
    gateway: Any, runtime: CPythonRuntime
) -> None:
    ws = await runtime.websocket(session_url(gateway), [WS_SUBPROTOCOL])
    await ws.send(json.dumps({"username": gateway.user, "password": "wrong-password"}))
    with pytest.raises(WebSocketClosed) as info:
        await ws.receive()
    assert info.value.code == 1008
    assert "wrong-password" not in info.value.reason
    await ws.close()
