"""The JupyterLite site of tests/notebook: built by scripts/build_jupyterlite.py, served here.

The server serves the built folder as any static host would, except `jupyter-lite.json`,
into which it writes the kernel's environment (PPG_URL, PPG_ENDPOINT): the notebook
reads its connection string from there, as the README advises, so no cell holds the
password.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

from tests.support.notebook import ROOT

WHEELS = ROOT / "wheels"
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"


def build_site() -> Path:
    """A fresh edge wheel, then the site around it (rebuilt only when an input changed)."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_wheel.py"), "--outdir", str(WHEELS)],
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
    )
    (wheel,) = WHEELS.glob("ppg_edge-*+edge-py3-none-any.whl")
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

    config: ClassVar[bytes] = b"{}"
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
        path = unquote(self.path.split("?", 1)[0])
        self.served.append(path)
        if path == "/jupyter-lite.json":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(self.config)))
            self.end_headers()
            self.wfile.write(self.config)
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `served` is the log the test reads."""


class SiteServer:
    """The built site on 127.0.0.1 (ephemeral port), with the kernel's environment set."""

    def __init__(self, site: Path) -> None:
        self.site = site
        self._config = json.loads((site / "jupyter-lite.json").read_text())
        self.served: list[str] = []
        attributes = {"config": json.dumps(self._config).encode(), "served": self.served}
        self._handler = type("Handler", (_SiteHandler,), attributes)
        handler = functools.partial(self._handler, directory=str(site))
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def set_kernel_environment(self, env: dict[str, str]) -> None:
        """Serve a jupyter-lite.json whose Pyodide kernel starts with `env` in os.environ."""
        config = json.loads(json.dumps(self._config))
        settings = config["jupyter-config-data"]["litePluginSettings"][KERNEL_PLUGIN]
        settings["loadPyodideOptions"] = {"env": env}
        self._handler.config = json.dumps(config).encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
