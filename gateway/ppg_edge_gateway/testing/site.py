"""A static file server on 127.0.0.1 for test pages: Pyodide, wheels and HTML.

The page lives on its own port, so the gateway is another origin and every
request the page makes to it is a real CORS one, as for a deployed web app.
Standard library only (a threaded ``http.server``): nothing to install.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

NOT_FOUND = ""
"""What an unmounted route translates to: no file, so the handler answers 404."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".py": "text/plain; charset=utf-8",
    ".css": "text/css",
    ".zip": "application/zip",
    ".whl": "application/octet-stream",
    "": "application/octet-stream",
}
"""Pyodide needs ``application/wasm`` for streaming compilation and JS modules as JS."""


class SiteHandler(SimpleHTTPRequestHandler):
    """Serves files from a few mounted folders, without caching or access logs.

    Subclass it (and pass the subclass to :class:`StaticSite`) to add routes.
    """

    mounts: ClassVar[dict[str, Path]] = {}
    protocol_version = "HTTP/1.1"  # keep-alive and chunked answers need it
    extensions_map = CONTENT_TYPES

    def translate_path(self, path: str) -> str:
        route = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, directory in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            if route.startswith(prefix):
                relative = Path(route[len(prefix) :])
                target = (directory / relative.relative_to(relative.anchor)).resolve()
                if target.is_relative_to(directory.resolve()):
                    return str(target)
        return NOT_FOUND

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on behaviour, not on access logs."""


class StaticSite:
    """A threaded static server on 127.0.0.1 with an ephemeral port.

    ``mounts`` maps URL prefixes (``"/pyodide/"``) to folders; the longest
    matching prefix wins. ``origin`` is what the gateway must allow.
    """

    def __init__(
        self, mounts: Mapping[str, Path], handler: type[SiteHandler] = SiteHandler
    ) -> None:
        bound = type("MountedHandler", (handler,), {"mounts": dict(mounts)})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ppg-static-site", daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (starting with ``/``) on this site."""
        return self.origin + path

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> StaticSite:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
