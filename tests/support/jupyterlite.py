"""The JupyterLite site of tests/notebook: built by scripts/build_jupyterlite.py, served here.

The server serves the built folder as any static host would, and records the paths the
browser asked for.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

from tests.support.notebook import ROOT

WHEELS = ROOT / "wheels"


def build_site() -> Path:
    """A fresh driver wheel, then the site around it (rebuilt only when an input changed)."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_wheel.py"), "--outdir", str(WHEELS)],
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    (wheel,) = WHEELS.glob("ppg_edge-*-py3-none-any.whl")
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_jupyterlite.py"), "--wheel", str(wheel)],
        check=True,
        timeout=900,
        capture_output=True,
        text=True,
    )
    return Path(built.stdout.strip().splitlines()[-1])


class _SiteHandler(SimpleHTTPRequestHandler):
    """Static files with the types a module worker and WebAssembly need; each path asked
    for is recorded in `served` (the kernel's worker fetches what no page event shows)."""

    served: ClassVar[list[str]] = []
    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain dict
        ".html": "text/html; charset=utf-8",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".ipynb": "application/json",
        ".wasm": "application/wasm",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".png": "image/png",
        ".zip": "application/zip",
        ".whl": "application/octet-stream",
        "": "application/octet-stream",
    }

    def do_GET(self) -> None:
        self.served.append(unquote(self.path.split("?", 1)[0]))
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `served` is the log the test reads."""


class SiteServer:
    """The built site on 127.0.0.1 (ephemeral port); `served` lists the paths asked for."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self.served: list[str] = []
        handler_class = type("Handler", (_SiteHandler,), {"served": self.served})
        handler = functools.partial(handler_class, directory=str(site))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
