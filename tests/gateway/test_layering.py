"""The gateway depends on nothing of the driver but the protocol constants.

It is a distribution of its own (gateway/), so it must not reach into the driver
or guess a source checkout's layout either.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ppg_edge_gateway

GATEWAY_DIR = Path(ppg_edge_gateway.__file__).resolve().parent
ALLOWED = {"ppg_edge.core.protocol"}


def driver_imports(source: Path) -> set[str]:
    """Absolute ``ppg_edge`` modules a file imports (relative gateway imports excluded)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "ppg_edge"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} if node.module.split(".")[0] == "ppg_edge" else set()
    return found


def test_gateway_imports_only_the_protocol_constants() -> None:
    sources = sorted(GATEWAY_DIR.rglob("*.py"))  # the pytest plugin's testing/ too
    assert len(sources) > 5
    offending = {
        str(source.relative_to(GATEWAY_DIR)): driver_imports(source) - ALLOWED
        for source in sources
        if driver_imports(source) - ALLOWED
    }
    assert offending == {}


CHECKOUT_NAMES = ("web-demo", '"wheels"', "wheels/")
"""A source checkout's folders, which only explicit flags (--static, --wheel) may name."""


def test_the_server_does_not_look_for_a_checkout_layout() -> None:
    test_side = {"testing", "pytest_plugin.py"}  # the pytest plugin builds wheels from a checkout
    served = [s for s in GATEWAY_DIR.rglob("*.py") if not test_side & set(s.parts)]
    assert len(served) > 5
    named = {
        str(source.relative_to(GATEWAY_DIR)): name
        for source in served
        for name in CHECKOUT_NAMES
        if name in source.read_text()
    }
    assert named == {}
