"""`ppg_edge.core` stays synchronous and I/O-free, so both faces can drive it.

An AST walk over every core module: no coroutine, no await, no async iteration,
and no import of a module that does I/O or schedules work.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ppg_edge.core

CORE = Path(ppg_edge.core.__file__).parent
IO_MODULES = {"asyncio", "socket", "ssl", "selectors", "threading", "h11", "wsproto", "js"}


def _core_modules() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def _imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module.split(".")[0]]
    return []


def test_the_core_has_no_coroutines_and_no_io_imports() -> None:
    found: list[str] = []
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{path.relative_to(CORE)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncFor | ast.AsyncWith):
                found.append(f"{where} {type(node).__name__}")
            found += [f"{where} imports {name}" for name in _imported(node) if name in IO_MODULES]
    assert len(_core_modules()) > 10
    assert found == []


def test_the_check_sees_a_coroutine() -> None:
    tree = ast.parse("async def f():\n    await g()\n")
    assert {type(node).__name__ for node in ast.walk(tree)} >= {"AsyncFunctionDef", "Await"}
