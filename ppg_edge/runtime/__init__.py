"""Runtime adapters: pick the one that matches the host Python.

Adapters are imported lazily so that CPython never loads browser or Workers
code, and Pyodide never loads the asyncio-socket client.
"""

from __future__ import annotations

import sys

from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES
from ppg_edge.runtime.base import Runtime


def default_runtime(
    *,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
) -> Runtime:
    """The adapter for the Python this code runs in, with the client's limits.

    `connect_timeout` bounds TCP, TLS and the WebSocket upgrade where the runtime
    sees them (CPython: all three; Pyodide: the upgrade; Workers: none, the
    session's own bound still applies). `max_frame_bytes` caps one incoming
    WebSocket message where the runtime assembles messages itself (CPython).
    """
    if sys.platform == "emscripten":
        from ppg_edge.runtime.cloudflare import CloudflareRuntime, in_cloudflare_workers

        if in_cloudflare_workers():
            return CloudflareRuntime()
        from ppg_edge.runtime.pyodide import PyodideRuntime

        return PyodideRuntime(connect_timeout)
    from ppg_edge.runtime.cpython import CPythonRuntime, Limits

    limits = Limits(max_message_size=max_frame_bytes)
    return CPythonRuntime(connect_timeout=connect_timeout, websocket_limits=limits)
