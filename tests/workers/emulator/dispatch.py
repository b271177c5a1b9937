"""The Python half of the emulated workerd entrypoint.

workerd wraps a Worker's `Default` class in a JS entrypoint: for every
incoming request it builds a new instance with `(ctx, env)`, converts the JS
Request with the SDK's `python_from_rpc` (giving a `workers.Request`), awaits
`fetch`, and converts the answer back with `python_to_rpc`. A Durable Object
class of the main module is wrapped the same way, except that one instance,
built with `(state, env)` on its first request, serves every request to its
id. This module does both with the vendored SDK, so the example runs through
the real `workers` code paths (the SDK's own wrapping of `ctx` and `env`).
"""

from __future__ import annotations

import importlib
from typing import Any

from workers import DurableObject, WorkerEntrypoint, python_from_rpc, python_to_rpc


def _main_class(module_name: str, class_name: str, base: type) -> Any:
    module = importlib.import_module(module_name)
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{module_name} defines no {class_name}({base.__name__}) class")
    return cls


def entrypoint(module_name: str) -> Any:
    """Import the Worker's main module and return its `Default` WorkerEntrypoint class."""
    return _main_class(module_name, "Default", WorkerEntrypoint)


def durable_object_class(module_name: str, class_name: str) -> Any:
    """A DurableObject class that the main module exports, as a binding names it."""
    return _main_class(module_name, class_name, DurableObject)


async def handle(cls: Any, ctx: Any, env: Any, js_request: Any) -> Any:
    """One request: a fresh instance, its fetch, the JS Response it returns."""
    instance = cls(ctx, env)
    result = await instance.fetch(python_from_rpc(js_request))
    return python_to_rpc(result)


def construct(cls: Any, state: Any, env: Any) -> Any:
    """The one instance of a Durable Object, for its id's whole life."""
    return cls(state, env)


async def handle_object(instance: Any, js_request: Any) -> Any:
    """One request to a Durable Object: its long-lived instance's fetch."""
    result = await instance.fetch(python_from_rpc(js_request))
    return python_to_rpc(result)
