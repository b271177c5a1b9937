"""The sync face's runtime: pick the blocking adapter for the host Python.

CPython gets `SyncCPythonRuntime` (blocking sockets, stdlib `ssl`, h11, wsproto);
Pyodide and Cloudflare Workers get their async runtime behind `BridgedRuntime`,
which blocks through JSPI (`pyodide.ffi.run_sync`). Loaded on first use.
"""

from __future__ import annotations

import sys

from ppg_edge._sync.transport import Runtime
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES


def default_runtime(
    *,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
) -> Runtime:
    """The blocking adapter for this Python, with the client's limits."""
    if sys.platform == "emscripten":
        from ppg_edge._sync.bridged import BridgedRuntime, jspi_block
        from ppg_edge.runtime import default_runtime as host_runtime

        host = host_runtime(connect_timeout=connect_timeout, max_frame_bytes=max_frame_bytes)
        return BridgedRuntime(host, jspi_block)
    from ppg_edge._sync.cpython_http import SyncCPythonRuntime

    return SyncCPythonRuntime(connect_timeout=connect_timeout, max_frame_bytes=max_frame_bytes)
