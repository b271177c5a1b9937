"""The Python half of the emulated workerd entrypoint.

workerd wraps a Worker's `Default` class in a JS entrypoint: for every
incoming request it builds a new instance with `(ctx, env)`, converts the JS
Request with the SDK's `python_from_rpc` (giving a `workers.Request`), awaits
`fetch`, and converts the answer back with `python_to_rpc`. This module does
the same with the vendored SDK, so the example runs through the real `workers`
code paths.
"""

from __future__ import annotations

import importlib
from typing import Any

from workers import WorkerEntrypoint, python_from_rpc, python_to_rpc


def entrypoint(module_name: str) -> Any:
    """Import the Worker's main module and return its `Default` WorkerEntrypoint class."""
    module = importlib.import_module(module_name)
    cls = getattr(module, "Default", None)
    if not (isinstance(cls, type) and issubclass(cls, WorkerEntrypoint)):
        raise TypeError(f"{module_name} defines no Default(WorkerEntrypoint) class")
    return cls


async def handle(cls: Any, ctx: Any, env: Any, js_request: Any) -> Any:
    """One request: a fresh instance, its fetch, the JS Response it returns."""
    instance = cls(ctx, env)
    result = await instance.fetch(python_from_rpc(js_request))
    return python_to_rpc(result)
