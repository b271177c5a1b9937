"""HTTP/1.1 of the CPython runtime against real aiohttp and raw TCP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from ppg_edge.runtime.base import HttpResponse, ReplayableBody
from ppg_edge.runtime.cpython import ConnectTimeoutError, CPythonRuntime
from ppg_edge.runtime.cpython_http import (
    KEEPALIVE_COUNT,
    KEEPALIVE_IDLE,
    KEEPALIVE_INTERVAL,
    SMALL_REQUEST,
)

ServeApp = Callable[..., Awaitable[str]]
ServeRaw = Callable[..., Awaitable[int]]
MiB = 1024 * 1024


async def read_all(response: HttpResponse) -> bytes:
    return b"".join([chunk async for chunk in response.body()])


async def pattern_chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """`total` bytes of a repeating pattern, produced lazily."""
    block = bytes(range(256)) * (size // 256)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def counting_app(peers: list[object]) -> web.Application:
    """Echo-ish endpoints that record each request's client socket (one per connection)."""

    async def upload(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        digest, count = hashlib.sha256(), 0
        with contextlib.suppress(ConnectionResetError):  # tests that abort mid-upload
            async for chunk in request.content.iter_any():
                digest.update(chunk)
                count += len(chunk)
        return web.json_response(
            {
                "count": count,
                "sha256": digest.hexdigest(),
                "chunked": request.headers.get("Transfer-Encoding") == "chunked",
                "length": request.headers.get("Content-Length"),
            }
        )

    async def stream(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        response = web.StreamResponse(headers={"X-Mixed-Case": "Yes"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):  # tests that hang up mid-body
            for i in range(int(request.query.get("n", "5"))):
                await response.write(f"line {i}\n".encode())
                await asyncio.sleep(0.01)
            await response.write_eof()
        return response

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    app = web.Application(client_max_size=200 * MiB)
    app.router.add_post("/upload", upload)
    app.router.add_get("/stream", stream)
    app.router.add_get("/slow", slow)
    return app


async def test_streamed_response_arrives_piecewise(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(counting_app([]))
    response = await runtime.request("GET", f"{base}/stream?n=5", [], None)
    assert response.status == 200
    assert response.headers["x-mixed-case"] == "Yes"
    assert all(name == name.lower() for name in response.headers)
    chunks = [chunk async for chunk in response.body()]
    assert len(chunks) >= 2
    assert b"".join(chunks) == b"".join(f"line {i}\n".encode() for i in range(5))


async def test_keep_alive_reuses_one_connection(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    peers: list[object] = []
    base = await serve_app(counting_app(peers))
    for _ in range(4):
        response = await runtime.request("GET", f"{base}/stream?n=2", [], None)
        await read_all(response)
    for size in (1000, 8 * MiB, 1000):  # a large upload's last drain does not spoil reuse
        response = await runtime.request("POST", f"{base}/upload", [], pattern_chunks(size))
        assert (await read_all(response)).startswith(b'{"count": %d' % size)
    await read_all(await runtime.request("GET", f"{base}/stream?n=1", [], None))
    assert len(peers) == 8
    assert len(set(peers)) == 1


async def test_chunked_upload_of_50_mib_in_constant_memory(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(counting_app([]))
    total = 50 * MiB
    expected = hashlib.sha256()
    async for chunk in pattern_chunks(total):
        expected.update(chunk)
    tracemalloc.start()
    try:
        response = await runtime.request(
            "POST",
            f"{base}/upload",
            [("Content-Type", "application/octet-stream")],
            pattern_chunks(total),
        )
        result = await response_json(response)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == {
        "count": total,
        "sha256": expected.hexdigest(),
        "chunked": True,
        "length": None,
    }
    assert peak < 16 * MiB, f"peak traced memory {peak / MiB:.1f} MiB while uploading 50 MiB"


async def test_content_length_upload_with_a_huge_single_chunk(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(counting_app([]))
    data = bytearray(b"x" * (3 * MiB + 5))

    async def one_chunk() -> AsyncIterator[memoryview]:
        yield memoryview(data)

    response = await runtime.request("POST", f"{base}/upload", [], one_chunk(), len(data))
    result = await response_json(response)
    assert result["count"] == len(data)
    assert result["length"] == str(len(data))
    assert result["chunked"] is False
    assert result["sha256"] == hashlib.sha256(data).hexdigest()


async def test_a_small_request_leaves_in_one_write_a_large_one_streams(
    runtime: CPythonRuntime, serve_app: ServeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = await serve_app(counting_app([]))
    writes: list[int] = []
    write = asyncio.StreamWriter.write

    def counted(self: asyncio.StreamWriter, data: bytes | bytearray | memoryview) -> None:
        writes.append(len(data))
        write(self, data)

    monkeypatch.setattr(asyncio.StreamWriter, "write", counted)
    for size, many in ((SMALL_REQUEST, False), (SMALL_REQUEST + 1, True)):
        writes.clear()
        response = await runtime.request(
            "POST", f"{base}/upload", [], pattern_chunks(size, 4096), size
        )
        assert (await response_json(response))["count"] == size
        assert (len(writes) > 1) is many, writes
        assert sum(writes) > size


async def test_body_shorter_than_body_size_is_a_value_error(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(counting_app([]))
    with pytest.raises(ValueError, match="body_size"):
        await runtime.request("POST", f"{base}/upload", [], pattern_chunks(10), 20)


async def test_failing_body_iterator_propagates(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    base = await serve_app(counting_app([]))

    async def broken() -> AsyncIterator[bytes]:
        yield b"abc"
        raise LookupError("source failed")

    with pytest.raises(LookupError, match="source failed"):
        await asyncio.wait_for(runtime.request("POST", f"{base}/upload", [], broken()), 5)


async def response_json(response: HttpResponse) -> dict[str, object]:
    assert response.status == 200
    value = json.loads(await read_all(response))
    assert isinstance(value, dict)
    return value


async def test_aclose_mid_body_drops_the_connection(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    peers: list[object] = []
    base = await serve_app(counting_app(peers))
    response = await runtime.request("GET", f"{base}/stream?n=50", [], None)
    async for _ in response.body():
        break
    await response.aclose()
    response = await runtime.request("GET", f"{base}/stream?n=2", [], None)
    assert await read_all(response) == b"line 0\nline 1\n"
    assert len(set(peers)) == 2


async def test_cancelled_request_leaves_nothing_in_the_pool(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    peers: list[object] = []
    base = await serve_app(counting_app(peers))
    await read_all(await runtime.request("GET", f"{base}/stream?n=1", [], None))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(runtime.request("GET", f"{base}/slow", [], None), 0.2)
    response = await runtime.request("GET", f"{base}/stream?n=1", [], None)
    assert await read_all(response) == b"line 0\n"
    assert len(set(peers)) == 2  # the slow one's connection was not reused


async def test_cancelled_body_iteration_drops_the_connection(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    peers: list[object] = []
    base = await serve_app(counting_app(peers))
    response = await runtime.request("GET", f"{base}/stream?n=500", [], None)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read_all(response), 0.1)
    await read_all(await runtime.request("GET", f"{base}/stream?n=1", [], None))
    assert len(set(peers)) == 2


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_connection_cut_mid_body_is_a_connection_error(
    runtime: CPythonRuntime, serve_raw: ServeRaw, framing: str
) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if framing == "length":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"a" * 1000)
        else:
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"
                + b"a" * 1000
                + b"\r\n"
            )
        await writer.drain()
        writer.close()

    port = await serve_raw(cut)
    response = await runtime.request("GET", f"http://127.0.0.1:{port}/", [], None)
    received = bytearray()
    with pytest.raises(ConnectionError):
        async for chunk in response.body():
            received += chunk
    assert received == b"a" * 1000


def stale_server(answers: list[int]) -> Callable[..., Awaitable[None]]:
    """Answers the first request on a connection, then hangs up on the second one."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = _content_length(head)
        await reader.readexactly(length)
        answers.append(length)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()

    return handler


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def test_stale_connection_is_retried_when_there_is_no_body(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    answers: list[int] = []
    port = await serve_raw(stale_server(answers))
    url = f"http://127.0.0.1:{port}/"
    assert await read_all(await runtime.request("GET", url, [], None)) == b"ok"
    assert await read_all(await runtime.request("GET", url, [], None)) == b"ok"
    assert answers == [0, 0]


async def test_stale_connection_with_a_body_raises(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    answers: list[int] = []
    port = await serve_raw(stale_server(answers))
    url = f"http://127.0.0.1:{port}/"
    assert await read_all(await runtime.request("GET", url, [], None)) == b"ok"
    with pytest.raises(ConnectionError):
        await runtime.request("POST", url, [], pattern_chunks(10), 10)
    assert answers == [0]


async def test_stale_connection_with_a_replayable_body_is_resent_once(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    answers: list[int] = []
    starts: list[int] = []

    def fresh_body() -> AsyncIterator[bytes]:
        starts.append(len(starts))
        return pattern_chunks(10)

    port = await serve_raw(stale_server(answers))
    url = f"http://127.0.0.1:{port}/"
    assert await read_all(await runtime.request("GET", url, [], None)) == b"ok"
    body = ReplayableBody(fresh_body)
    assert await read_all(await runtime.request("POST", url, [], body, 10)) == b"ok"
    assert answers == [0, 10]
    assert starts == [0, 1]  # the stale try and the one on a fresh connection


def close_after_first_answer(answers: list[int]) -> Callable[..., Awaitable[None]]:
    """Answers one request with keep-alive, then closes the connection at once."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        answers.append(len(await reader.readexactly(_content_length(head))))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    return handler


async def test_server_closing_after_each_answer_never_fails_a_replayable_post(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    answers: list[int] = []
    port = await serve_raw(close_after_first_answer(answers))
    url = f"http://127.0.0.1:{port}/"
    for _ in range(5):
        body = ReplayableBody(lambda: pattern_chunks(10))
        assert await read_all(await runtime.request("POST", url, [], body, 10)) == b"ok"
    assert answers == [10] * 5


async def test_a_replayable_body_failing_on_a_fresh_connection_is_not_resent(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    starts: list[int] = []

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.transport.abort()

    def fresh_body() -> AsyncIterator[bytes]:
        starts.append(len(starts))
        return pattern_chunks(10)

    port = await serve_raw(hang_up)
    with pytest.raises(ConnectionError):
        await runtime.request(
            "POST", f"http://127.0.0.1:{port}/", [], ReplayableBody(fresh_body), 10
        )
    assert starts == [0]


async def test_early_error_response_is_returned_during_upload(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n"
            b"Connection: close\r\n\r\ntoo big!"
        )
        await writer.drain()
        await asyncio.sleep(0.2)

    closed: list[bool] = []

    async def endless() -> AsyncIterator[bytes]:
        try:
            async for chunk in pattern_chunks(200 * MiB):
                yield chunk
        finally:
            closed.append(True)

    port = await serve_raw(refuse)
    response = await runtime.request("POST", f"http://127.0.0.1:{port}/", [], endless())
    assert response.status == 413
    assert await read_all(response) == b"too big!"
    await response.aclose()
    assert closed == [True]  # the unfinished upload's source was closed, not left hanging


async def test_connect_timeout(serve_raw: ServeRaw) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    port = await serve_raw(silent)
    rt = CPythonRuntime(connect_timeout=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ConnectTimeoutError) as info:
        await rt.request("GET", f"https://127.0.0.1:{port}/", [], None)
    assert isinstance(info.value, ConnectionError)
    assert isinstance(info.value, TimeoutError)
    assert loop.time() - started < 3
    await rt.aclose()


async def test_refused_connection_and_bad_urls(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    port = await serve_raw(close_at_once)
    with pytest.raises(ConnectionError):
        await runtime.request("GET", f"http://127.0.0.1:{port}/", [], None)
    with pytest.raises(ValueError, match="scheme"):
        await runtime.request("GET", "ftp://127.0.0.1/", [], None)
    with pytest.raises(ValueError, match="withheld") as info:
        await runtime.request(
            "GET", f"http://127.0.0.1:{port}/", [("Authorization", "Basic secret\r\nX: y")], None
        )
    assert "secret" not in str(info.value)


async def test_concurrent_requests_use_separate_connections(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    peers: list[object] = []
    base = await serve_app(counting_app(peers))

    async def fetch() -> bytes:
        return await read_all(await runtime.request("GET", f"{base}/stream?n=3", [], None))

    bodies = await asyncio.gather(fetch(), fetch(), fetch())
    assert list(bodies) == [b"line 0\nline 1\nline 2\n"] * 3
    await read_all(await runtime.request("GET", f"{base}/stream?n=1", [], None))
    assert len(set(peers)) == 3


async def test_body_after_aclose_is_refused(runtime: CPythonRuntime, serve_app: ServeApp) -> None:
    async def text(request: web.Request) -> web.Response:
        return web.Response(text="x" * 100)

    app = web.Application()
    app.router.add_get("/", text)
    base = await serve_app(app)
    response = await runtime.request("GET", base + "/", [], None)
    await response.aclose()
    with pytest.raises(RuntimeError):
        async for _ in response.body():
            pass


async def test_idle_connection_closed_by_the_server_is_not_reused(
    runtime: CPythonRuntime, serve_raw: ServeRaw
) -> None:
    connections: list[int] = []

    async def one_shot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        head = await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(_content_length(head))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()  # keep-alive timeout on the server side

    port = await serve_raw(one_shot)
    url = f"http://127.0.0.1:{port}/"
    assert await read_all(await runtime.request("POST", url, [], pattern_chunks(5), 5)) == b"ok"
    await asyncio.sleep(0.2)
    assert await read_all(await runtime.request("POST", url, [], pattern_chunks(5), 5)) == b"ok"
    assert len(connections) == 2


def keepalive_options(sock: socket.socket) -> dict[str, int]:
    """The socket's keep-alive switch and, where this OS has them, its timings."""
    seen = {"SO_KEEPALIVE": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)}
    for name in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT"):
        option = getattr(socket, name, None)
        if option is not None:
            seen[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
    return seen


EXPECTED_KEEPALIVE = {
    "SO_KEEPALIVE": 1,
    "TCP_KEEPIDLE": KEEPALIVE_IDLE,
    "TCP_KEEPINTVL": KEEPALIVE_INTERVAL,
    "TCP_KEEPCNT": KEEPALIVE_COUNT,
}


async def test_http_and_websocket_sockets_have_tcp_keepalive(
    runtime: CPythonRuntime, serve_app: ServeApp
) -> None:
    async def hello(request: web.Request) -> web.StreamResponse:
        if request.path == "/ws":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.receive()
            return ws
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/{path:.*}", hello)
    base = await serve_app(app)
    response = await runtime.request("GET", base + "/", [], None)
    assert await read_all(response) == b"hi"
    pooled = [conn for idle in runtime._pool._idle.values() for conn in idle]
    assert len(pooled) == 1
    ws = await runtime.websocket(base.replace("http", "ws", 1) + "/ws", [])
    sockets = [pooled[0].writer.get_extra_info("socket"), ws._writer.get_extra_info("socket")]  # type: ignore[attr-defined]
    for sock in sockets:
        seen = keepalive_options(sock)
        assert seen == {name: EXPECTED_KEEPALIVE[name] for name in seen}
        assert seen["SO_KEEPALIVE"] == 1
    await ws.close()
