"""TLS of the CPython runtime against an aiohttp server with a throwaway self-signed cert."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web

from ppg_edge.core.protocol import WS_SUBPROTOCOL
from ppg_edge.runtime.cpython import CPythonRuntime

ServeApp = Callable[..., Awaitable[str]]


def server_context(files: tuple[Path, Path], seen: dict[str, object]) -> ssl.SSLContext:
    """Server TLS that records the SNI name the client sent."""
    cert, key = files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["http/1.1"])

    def record(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        seen["sni"] = name

    context.sni_callback = record
    return context


def tls_app(seen: dict[str, object]) -> web.Application:
    async def hello(request: web.Request) -> web.Response:
        transport = request.transport
        ssl_object = transport.get_extra_info("ssl_object") if transport else None
        seen["alpn"] = ssl_object.selected_alpn_protocol() if ssl_object else None
        return web.Response(text="secure hello")

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=[WS_SUBPROTOCOL])
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/ws", echo)
    return app


async def test_self_signed_certificate_is_rejected_by_default(
    serve_app: ServeApp, tls_files: tuple[Path, Path]
) -> None:
    seen: dict[str, object] = {}
    base = await serve_app(tls_app(seen), server_context(tls_files, seen))
    runtime = CPythonRuntime(connect_timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"self.signed|verify failed"):
        await runtime.request("GET", base + "/", [], None)
    with pytest.raises(ssl.SSLCertVerificationError):
        await runtime.websocket(base.replace("https", "wss") + "/ws", [WS_SUBPROTOCOL])
    await runtime.aclose()


async def test_trusted_certificate_with_sni_and_alpn(
    serve_app: ServeApp, tls_files: tuple[Path, Path]
) -> None:
    seen: dict[str, object] = {}
    base = await serve_app(tls_app(seen), server_context(tls_files, seen), host="localhost")
    trusting = ssl.create_default_context(cafile=str(tls_files[0]))
    trusting.set_alpn_protocols(["http/1.1"])
    runtime = CPythonRuntime(ssl_context=trusting, connect_timeout=5)
    response = await runtime.request("GET", base + "/", [], None)
    assert response.status == 200
    assert b"".join([c async for c in response.body()]) == b"secure hello"
    assert seen == {"sni": "localhost", "alpn": "http/1.1"}
    ws = await runtime.websocket(base.replace("https", "wss") + "/ws", [WS_SUBPROTOCOL])
    await ws.send("over tls")
    assert await ws.receive() == "over tls"
    await ws.close()
    await runtime.aclose()


async def test_default_context_verifies_against_the_trust_store_and_offers_alpn(
    serve_app: ServeApp, tls_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, object] = {}
    base = await serve_app(tls_app(seen), server_context(tls_files, seen))
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))  # the store the default uses
    runtime = CPythonRuntime(connect_timeout=5)
    response = await runtime.request("GET", base + "/", [], None)
    assert b"".join([c async for c in response.body()]) == b"secure hello"
    assert seen["alpn"] == "http/1.1"
    assert seen["sni"] is None  # no SNI for an IP address; the cert's IP SAN is checked
    await runtime.aclose()


async def test_certificate_for_another_name_is_rejected(
    serve_app: ServeApp, other_tls_files: tuple[Path, Path]
) -> None:
    seen: dict[str, object] = {}
    base = await serve_app(tls_app(seen), server_context(other_tls_files, seen))
    trusting = ssl.create_default_context(cafile=str(other_tls_files[0]))
    runtime = CPythonRuntime(ssl_context=trusting, connect_timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|doesn't match"):
        await runtime.request("GET", base + "/", [], None)
    await runtime.aclose()
