"""Write the synchronous face (`ppg_edge/_sync/`) from the async modules.

The sync face is the async one with `async` and `await` taken out, as httpcore
and psycopg do it: each module in `MODULES` is rewritten token by token
(`async def` -> `def`, `async for` -> `for`, `aclose` -> `close`, `Client` ->
`SyncClient`, `ppg_edge._client` -> `ppg_edge._sync.client`, ...). Top-level
functions and classes that hold nothing asynchronous are not copied: the
generated module imports them from the async one, so there is one `Row`, one
`RowMaker`, one `Query`. What cannot be rewritten that way is behind the
hand-written twins `ppg_edge/_concurrency.py` / `ppg_edge/_sync/concurrency.py`
and `ppg_edge/runtime/base.py` / `ppg_edge/_sync/transport.py`.

    python scripts/generate_sync.py          # rewrite ppg_edge/_sync/*.py
    python scripts/generate_sync.py --check  # exit 1 if a generated file is stale

`tests/unit/test_sync_generated.py` runs the check, so a stale or hand-edited
generated file fails the tests. The output is passed through `ruff` (unused
imports dropped, imports sorted, formatted), so it is lint-clean as written.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ppg_edge"
TARGET = PACKAGE / "_sync"

MODULES = (
    "closing",
    "results",
    "answers",
    "parameter_streams",
    "session",
    "client",
    "statements",
    "transaction",
    "batch",
    "database",
)
"""Generated modules, each after the ones it imports: `ppg_edge/_X.py` -> `ppg_edge/_sync/X.py`."""

OVERRIDES = ROOT / "scripts" / "sync_overrides"
"""`<module>.py` here holds blocking definitions that replace the generated ones of the same
name (top-level functions, or methods of a class of the same name; a method or class the
generated module lacks is added), and a DROP tuple of generated definitions to leave out; its
imports join the generated module's."""

TWINS = {
    "ppg_edge._concurrency": "ppg_edge._sync.concurrency",
    "ppg_edge.runtime.base": "ppg_edge._sync.transport",
    "ppg_edge.runtime": "ppg_edge._sync.runtime",
}
"""Hand-written sync twins of async modules: every name imported from them is sync-specific."""

CLASS_RENAMES = {
    "AsyncClosing": "SyncClosing",
    "BatchBuilder": "SyncBatchBuilder",
    "Client": "SyncClient",
    "CollectableIterator": "SyncCollectableIterator",
    "Database": "SyncDatabase",
    "QueryResult": "SyncQueryResult",
    "SavepointContext": "SyncSavepointContext",
    "Session": "SyncSession",
    "Transaction": "SyncTransaction",
    "TransactionContext": "SyncTransactionContext",
}
"""Public async classes and their sync names (renamed only where bound to the async class)."""

WORDS = {
    "AsyncIterator": "Iterator",
    "AsyncIterable": "Iterable",
    "AsyncGenerator": "Generator",
    "StopAsyncIteration": "StopIteration",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "aclose": "close",
    "anext": "next",
    "aiter": "iter",
}
"""Async names with a plain sync counterpart, replaced wherever they occur."""

KEYWORDS = (
    (re.compile(r"\basync (def|for|with) "), r"\1 "),
    (re.compile(r"\bawait "), ""),
    (re.compile(r"`async with`"), "`with`"),
    (re.compile(r" \(alias `aclose`\)"), ""),
    (re.compile(r"\ban async iterator\b"), "an iterator"),
    (re.compile(r"\bawaits\b"), "calls"),
)

UNWRAP = ("Awaitable[", "Coroutine[Any, Any, ")
"""Type wrappers that vanish in sync code: `Awaitable[T]` is `T`."""

ASYNC_MARKERS = re.compile(
    r"\b(async|await|" + "|".join(map(re.escape, WORDS)) + r"|Awaitable|Coroutine)\b"
)


def sync_module(name: str) -> str:
    """The dotted name of a module's sync twin, or the name itself if it has none."""
    if name in TWINS:
        return TWINS[name]
    if name.startswith("ppg_edge._") and name.removeprefix("ppg_edge._") in MODULES:
        return "ppg_edge._sync." + name.removeprefix("ppg_edge._")
    return name


def _imports(tree: ast.Module) -> dict[str, str]:
    """Every name a module imports from a ppg_edge module -> that module."""
    found: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                found[alias.asname or alias.name] = node.module
    return found


def _names(node: ast.AST) -> set[str]:
    return {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name)} | {
        sub.attr for sub in ast.walk(node) if isinstance(sub, ast.Attribute)
    }


class Module:
    """One async module: which of its top-level definitions need a sync rewrite."""

    def __init__(self, name: str, sync_names: dict[str, set[str]]) -> None:
        self.name = name
        self.source = (PACKAGE / f"_{name}.py").read_text()
        self.tree = ast.parse(self.source)
        self.sync_names = sync_names
        imported = _imports(self.tree)
        self.bound = {
            local
            for local, module in imported.items()
            if module in TWINS or local in sync_names.get(sync_module(module), set())
        }
        self.generated = self._generated_definitions()

    def _definitions(self) -> list[ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef]:
        kinds = (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)
        return [node for node in self.tree.body if isinstance(node, kinds)]

    def _generated_definitions(self) -> set[str]:
        """Definitions with async code, or using one that has (to a fixed point)."""
        segments = {
            node.name: (ast.get_source_segment(self.source, node) or "", _names(node))
            for node in self._definitions()
        }
        generated = {name for name, (text, _) in segments.items() if ASYNC_MARKERS.search(text)}
        changed = True
        while changed:
            changed = False
            for name, (_, used) in segments.items():
                if name not in generated and used & (generated | self.bound):
                    generated.add(name)
                    changed = True
        return generated

    def shared(self) -> list[str]:
        return [node.name for node in self._definitions() if node.name not in self.generated]

    def renames(self) -> dict[str, str]:
        """Class renames that apply here: names bound to a generated class."""
        return {
            old: new
            for old, new in CLASS_RENAMES.items()
            if old in self.generated or old in self.bound
        }

    def render(self) -> str:
        """The sync module's text, before ruff tidies it."""
        lines = self.source.splitlines(keepends=True)
        keep = [True] * len(lines)
        for node in self._definitions():
            if node.name not in self.generated:
                start = node.lineno - 1 - len(node.decorator_list)
                for index in range(start, node.end_lineno or node.lineno):
                    keep[index] = False
        text = "".join(line for line, kept in zip(lines, keep, strict=True) if kept)
        text = _split_imports(text, self.sync_names)
        text = _rewrite(text, self.renames()).replace(_ASYNC_PACKAGE, "ppg_edge")
        text = _override(text, OVERRIDES / f"{self.name}.py")
        shared = self.shared()
        if shared:
            text = _insert_import(text, f"from ppg_edge._{self.name} import {', '.join(shared)}\n")
        header = (
            f"# Generated by scripts/generate_sync.py from ppg_edge/_{self.name}.py: do not edit.\n"
            "# Change the async module and rerun the script.\n"
        )
        return header + text


_ASYNC_PACKAGE = "ppg_edge__async__"
"""Marks an import that must stay on the async module through `_rewrite`."""


def _split_imports(text: str, sync_names: dict[str, set[str]]) -> str:
    """`from ppg_edge.m import a, b`: what m's sync twin defines from there, the rest from m.

    A definition with nothing asynchronous stays in the async module only (one
    `Query`, one `TransactionOptions`), so it is imported from there, not through
    a generated module that would merely pass it on.
    """
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
            continue
        generated = sync_names.get(sync_module(node.module))
        if generated is None or node.module in TWINS:
            continue
        shared = [alias for alias in node.names if alias.name not in generated]
        if not shared:
            continue
        indent = " " * node.col_offset
        own = [alias for alias in node.names if alias.name in generated]
        replacement = "".join(
            f"{indent}{ast.unparse(ast.ImportFrom(module, names, 0))}\n"
            for module, names in (
                (node.module, own),
                (node.module.replace("ppg_edge", _ASYNC_PACKAGE, 1), shared),
            )
            if names
        )
        edits.append((node.lineno - 1, node.end_lineno or node.lineno, replacement))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start:end] = [replacement]
    return "".join(lines)


def _rewrite(text: str, renames: dict[str, str]) -> str:
    for pattern, replacement in KEYWORDS:
        text = pattern.sub(replacement, text)
    for start in UNWRAP:
        text = _unwrap(text, start)
    text = _bounded_calls(text)
    text = re.sub(r"\bppg_edge(?:\.\w+)+", lambda match: sync_module(match.group(0)), text)
    words = re.compile(r"\b(" + "|".join(map(re.escape, WORDS)) + r")\b")
    text = words.sub(lambda match: WORDS[match.group(1)], text)
    if not renames:
        return text
    classes = re.compile(r"(?<![\w.])(" + "|".join(map(re.escape, renames)) + r")\b")
    return classes.sub(lambda match: renames[match.group(1)], text)


def _closing_paren(text: str, start: int) -> int:
    """The index just past the bracket that closes the one opened before `start`."""
    depth = 1
    while depth:
        depth += {"(": 1, ")": -1, "[": 1, "]": -1}.get(text[start], 0)
        start += 1
    return start


def _bounded_calls(text: str) -> str:
    """`deadline.wait(f(a, b))` -> `deadline.run(f, a, b)`.

    A blocking call cannot be bounded once it was made, so the sync Deadline
    takes the function and its arguments and bounds the call it makes.
    """
    pattern = re.compile(r"\b(deadline|Deadline\([^()]*\))\.wait\(([\w.]+)\(")
    while match := pattern.search(text):
        args_start = match.end()
        args_end = _closing_paren(text, args_start)
        outer_end = _closing_paren(text, args_end)
        args = text[args_start : args_end - 1].strip()
        call = f"{match.group(1)}.run({match.group(2)}{', ' + args if args else ''})"
        text = text[: match.start()] + call + text[outer_end:]
    return text


def _spans(tree: ast.Module) -> dict[str, tuple[int, int]]:
    """Line spans (0-based, end exclusive) of top-level and class-level definitions by name:
    `f`, `Class.method`, and `Class.name=` for an assignment (with its docstring)."""
    spans: dict[str, tuple[int, int]] = {}

    def add(prefix: str, body: list[ast.stmt]) -> None:
        for index, node in enumerate(body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                start = node.lineno - 1 - len(node.decorator_list)
                spans[prefix + node.name] = (start, node.end_lineno or node.lineno)
                if isinstance(node, ast.ClassDef) and not prefix:
                    add(node.name + ".", node.body)
            elif isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    end = node.end_lineno or node.lineno
                    following = body[index + 1] if index + 1 < len(body) else None
                    if isinstance(following, ast.Expr) and isinstance(
                        following.value, ast.Constant
                    ):
                        end = following.end_lineno or end
                    spans[f"{prefix}{target.id}="] = (node.lineno - 1, end)

    add("", tree.body)
    return spans


def _override(text: str, path: Path) -> str:
    """Put the blocking definitions of `path` in place of the generated ones (see OVERRIDES)."""
    if not path.exists():
        return text
    source = path.read_text()
    tree = ast.parse(source)
    source_lines = source.splitlines(keepends=True)
    drop: tuple[str, ...] = ()
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "DROP":
            drop = ast.literal_eval(node.value)
    targets = _spans(ast.parse(text))
    spans = _spans(tree)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    added = [name for name in classes if name not in targets]
    replaced = [
        name
        for name in spans
        if not name.endswith("=") and name not in classes and name.split(".")[0] not in added
    ]
    edits = []
    for name in replaced:
        segment = _segment(source_lines, spans[name])
        if name in targets:
            edits.append((targets[name], segment))
        else:  # a method the generated class lacks: it goes at the class's end
            end = targets[name.split(".")[0]][1]
            edits.append(((end, end), "\n" + segment))
    edits += [(targets[name], "") for name in drop]
    lines = text.splitlines(keepends=True)
    for (start, end), replacement in sorted(edits, reverse=True):
        lines[start:end] = [replacement]
    lines += ["\n\n" + _segment(source_lines, spans[name]) for name in sorted(added)]
    text = "".join(lines)
    return _insert_import(text, _new_imports(tree, _bound_names(ast.parse(text))))


def _bound_names(tree: ast.Module) -> set[str]:
    return {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }


def _new_imports(tree: ast.Module, bound: set[str]) -> str:
    """The override file's imports of names the generated module does not import yet."""
    lines = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias for alias in node.names if (alias.asname or alias.name) not in bound]
            if names:
                node.names = names
                lines.append(ast.unparse(node) + "\n")
    return "".join(lines)


def _segment(lines: list[str], span: tuple[int, int]) -> str:
    return "".join(lines[span[0] : span[1]])


def _unwrap(text: str, start: str) -> str:
    """Replace every `start ... ]` by its bracketed contents, brackets matched."""
    while (index := text.find(start)) >= 0:
        depth, end = 1, index + len(start)
        while depth:
            depth += {"[": 1, "]": -1}.get(text[end], 0)
            end += 1
        text = text[:index] + text[index + len(start) : end - 1] + text[end:]
    return text


def _insert_import(text: str, line: str) -> str:
    """Put `line` after the module's last top-level import."""
    tree = ast.parse(text)
    last = max(
        node.end_lineno or node.lineno
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
    )
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:last], line, *lines[last:]])


FIXES = "F401,F811,I001,UP028,RUF022,RUF100"
"""What ruff fixes in the output: imports the sync code no longer uses, import order, and
`for x in it: yield x` (what `async for ... yield` becomes) as `yield from`, `__all__` order."""


def _ruff(text: str, path: Path) -> str:
    """Lint-fix (unused imports, import order) and format, as the repo's ruff config says."""
    ruff = [sys.executable, "-m", "ruff"]
    name = ["--stdin-filename", str(path)]
    fixed = subprocess.run(
        [*ruff, "check", "--fix", "--unsafe-fixes", "--select", FIXES, "--exit-zero", *name, "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return subprocess.run(
        [*ruff, "format", *name, "-"],
        input=fixed,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout


def generate() -> dict[Path, str]:
    """Every generated module's path -> its text."""
    sync_names: dict[str, set[str]] = {}
    outputs: dict[Path, str] = {}
    for name in MODULES:
        module = Module(name, sync_names)
        sync_names[f"ppg_edge._sync.{name}"] = (
            module.generated | module.bound | set(module.renames().values())
        )
        path = TARGET / f"{name}.py"
        outputs[path] = _ruff(module.render(), path)
    return outputs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale files, write none")
    check = parser.parse_args().check
    stale = []
    for path, text in generate().items():
        if not path.exists() or path.read_text() != text:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(text)
    for path in stale:
        print(f"{'stale' if check else 'wrote'}: {path}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
