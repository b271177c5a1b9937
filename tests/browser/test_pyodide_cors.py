"""Cross-origin behaviour seen from a real page: the gateway's allow-list decides.

The test page and the gateway listen on different ports, so every statement
is a CORS request with a preflight (Authorization and a multipart profile
Content-Type are not "simple"). Browsers apply CORS to fetch only; the gateway
checks a WebSocket's Origin itself when it has an allow-list.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.timeout(600)  # the first test boots Pyodide and runs the suite


async def test_page_and_gateway_are_different_origins(
    cors_gateway: Any, static_site: Any, origin_probe: Any
) -> None:
    assert cors_gateway.url.startswith("http://127.0.0.1:")
    assert cors_gateway.url != static_site.origin
    seen = await origin_probe(cors_gateway)
    assert seen["http"] == {"rows": [{"one": 1}]}
    assert seen["websocket"] == {"rows": [[1]]}


async def test_without_an_allow_list_fetch_is_blocked(
    gateway_factory: Any, origin_probe: Any
) -> None:
    seen = await origin_probe(gateway_factory())
    error = seen["http"]["error"]
    assert error["type"] == "ConnectionFailedError"
    assert "Failed to fetch" in error["message"]
    assert "CORS" in error["message"]
    # WebSockets are not subject to CORS, and without a list the gateway takes any origin.
    assert seen["websocket"] == {"rows": [[1]]}


async def test_an_origin_off_the_list_is_refused_on_both_transports(
    gateway_factory: Any, origin_probe: Any
) -> None:
    seen = await origin_probe(gateway_factory(allow_origin=["http://elsewhere.invalid"]))
    assert seen["http"]["error"]["type"] == "ConnectionFailedError"
    assert "CORS" in seen["http"]["error"]["message"]
    websocket = seen["websocket"]["error"]
    assert websocket["type"] == "WebSocketError"
    assert "handshake" in websocket["message"]
