"""Runtime adapters: pick the one that matches the host Python.

Adapters are imported lazily so that CPython never loads browser or Workers
code, and Pyodide never loads the asyncio-socket client.
"""

from __future__ import annotations

import sys

from ppg_edge.runtime.base import Runtime


def default_runtime() -> Runtime:
    """The adapter for the Python this code runs in."""
    if sys.platform == "emscripten":
        from ppg_edge.runtime.cloudflare import CloudflareRuntime, in_cloudflare_workers

        if in_cloudflare_workers():
            return CloudflareRuntime()
        from ppg_edge.runtime.pyodide import PyodideRuntime

        return PyodideRuntime()
    from ppg_edge.runtime.cpython import CPythonRuntime

    return CPythonRuntime()
