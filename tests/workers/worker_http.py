"""A tiny HTTP client for the emulated Workers (stdlib only, one connection per call)."""

from __future__ import annotations

import http.client
import json
from typing import Any
from urllib.parse import urlsplit

REQUEST_TIMEOUT = 60.0


def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to the emulated Worker: status, lower-case headers, body."""
    address = urlsplit(base)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=REQUEST_TIMEOUT)
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {} if payload is None else {"content-type": "application/json"}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def call_json(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    status, headers, data = call(base, method, path, body)
    assert headers["content-type"] == "application/json"
    return status, json.loads(data)
