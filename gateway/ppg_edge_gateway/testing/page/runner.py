"""Runs a test's Python inside the page (Pyodide) and reports back as one JSON string.

The code runs with top-level ``await`` in a fresh namespace seeded with the
test's inputs; the value of its last expression is the result. stdout and
stderr are captured (bounded), and an exception comes back as its type,
message, SQLSTATE when it has one, and traceback, for the test side to raise.
"""

import contextlib
import io
import json
import traceback
from typing import Any

from pyodide.code import eval_code_async

FILENAME = "<test>"
OUTPUT_LIMIT = 1_000_000
"""Characters of stdout/stderr kept per run; the rest is counted, not stored."""


class BoundedOutput(io.TextIOBase):
    """A text sink that keeps the first OUTPUT_LIMIT characters."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.kept = 0
        self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = max(OUTPUT_LIMIT - self.kept, 0)
        self.parts.append(text[:room])
        self.kept += min(len(text), room)
        self.dropped += max(len(text) - room, 0)
        return len(text)

    def text(self) -> str:
        note = f"\n[{self.dropped} more characters not kept]\n" if self.dropped else ""
        return "".join(self.parts) + note


def describe(exc: BaseException) -> dict[str, Any]:
    """What the test side needs to raise a readable error."""
    kind, code = type(exc), getattr(exc, "code", None)
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "message": str(exc),
        "code": code if isinstance(code, str) else None,  # a SQLSTATE, not SystemExit's int
        "traceback": "".join(traceback.format_exception(exc)),
    }


async def run(code: str, inputs_json: str) -> str:
    namespace: dict[str, Any] = {"__name__": "__main__", **json.loads(inputs_json)}
    out, err = BoundedOutput(), BoundedOutput()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            value = await eval_code_async(code, namespace, filename=FILENAME)
    except BaseException as exc:  # every failure goes back to the test, which raises it
        return json.dumps({"ok": False, "error": describe(exc), **streams(out, err)})
    try:
        return json.dumps({"ok": True, "value": value, **streams(out, err)})
    except (TypeError, ValueError) as exc:
        error = {
            "type": "TypeError",
            "module": "builtins",
            "message": f"the result is not JSON-serializable ({exc}); return plain values",
            "code": None,
            "traceback": "",
        }
        return json.dumps({"ok": False, "error": error, **streams(out, err)})


def streams(out: BoundedOutput, err: BoundedOutput) -> dict[str, str]:
    return {"stdout": out.text(), "stderr": err.text()}
