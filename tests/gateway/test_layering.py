"""The gateway depends on nothing of the driver but the protocol constants."""

from __future__ import annotations

import ast
from pathlib import Path

import ppg_edge.gateway
from ppg_edge.gateway.__main__ import WEB_DEMO
from tests.support.servers import REPO_ROOT

GATEWAY_DIR = Path(ppg_edge.gateway.__file__).resolve().parent
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


def test_web_demo_is_found_beside_the_package() -> None:
    assert WEB_DEMO == REPO_ROOT / "web-demo"
