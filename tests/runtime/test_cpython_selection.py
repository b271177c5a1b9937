"""Runtime selection: CPython gets the socket runtime, but only when asked for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ppg_edge.runtime import default_runtime
from ppg_edge.runtime.cpython import CPythonRuntime

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import ppg_edge
engines = {'h11', 'wsproto'}
loaded = sorted(m for m in sys.modules
                if m.split('.')[0] in engines or m.startswith('ppg_edge.runtime.cpython'))
from ppg_edge.runtime import default_runtime
runtime = default_runtime()
after = sorted(m for m in sys.modules if m.split('.')[0] in engines)
print(json.dumps([loaded, type(runtime).__name__, after]))
"""


def test_import_loads_no_socket_engine_until_a_runtime_is_chosen() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded, chosen, after = json.loads(done.stdout)
    assert loaded == []
    assert chosen == "CPythonRuntime"
    assert {"h11", "wsproto"} <= set(after)


async def test_default_runtime_is_the_cpython_one() -> None:
    runtime = default_runtime()
    assert isinstance(runtime, CPythonRuntime)
    await runtime.aclose()
