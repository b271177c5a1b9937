"""The sync face's runtime: pick the blocking adapter for the host Python.

CPython gets `SyncCPythonRuntime` (blocking sockets, stdlib `ssl`, h11), loaded
on first use like the async runtimes.
"""

from __future__ import annotations

import sys

from ppg_edge._sync.transport import Runtime
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT
from ppg_edge.core.errors import GenericError
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES


def default_runtime(
    *,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
) -> Runtime:
    """The blocking adapter for this Python, with the client's limits."""
    if sys.platform == "emscripten":
        raise GenericError(
            "the synchronous face has no runtime for Pyodide or Workers yet; use the async face"
        )
    from ppg_edge._sync.cpython_http import SyncCPythonRuntime

    return SyncCPythonRuntime(connect_timeout=connect_timeout, max_frame_bytes=max_frame_bytes)
