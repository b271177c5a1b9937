"""The sync face in a browser where JSPI cannot suspend: HTTP over synchronous XMLHttpRequest.

Without WebAssembly JS Promise Integration (an older browser, or code called
from JavaScript synchronously) nothing can wait for a promise while Python
runs, but a synchronous XMLHttpRequest blocks inside the browser itself. That
is what `pyodide-http` builds on to patch `requests` and `urllib`; it offers
patches for those libraries, not a request call this runtime could use, so
the few lines it takes live here. What it costs, and why only HTTP works:

- the request body is sent whole and the answer arrives whole, so a result is
  held in memory once before it is decoded (no streaming in constant memory);
- a page's main thread may not give a synchronous request a timeout, so a
  statement's `timeout` is checked before the request is sent, not during it;
- a WebSocket delivers its messages through the event loop, which cannot run
  while Python waits: sessions, and so transactions, raise NotSupportedError.

The answer's bytes come back exactly: the response is read as
`x-user-defined` text, whose UTF-16 code units each carry one byte in their
low half (0x00-0x7F as themselves, 0x80-0xFF as U+F780-U+F7FF), so taking
every other byte of the UTF-16-LE encoding recovers the body at C speed.

`BrowserRuntime` picks per call: the JSPI bridge when `can_run_sync()` holds
(it streams and pipelines), else this.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ppg_edge._sync.bridged import BridgedRuntime, BridgedWebSocket
from ppg_edge._sync.concurrency import time_left
from ppg_edge._sync.transport import Body, Headers, HttpResponse
from ppg_edge.core.errors import NotSupportedError

RAW_BYTES_MIME = "text/plain; charset=x-user-defined"
"""Makes the browser hand over the body's bytes undecoded (see the module docstring)."""

NO_SESSIONS = (
    "sessions and transactions of the synchronous face need JSPI, and "
    "pyodide.ffi.can_run_sync() is False here (HTTP statements still work, over "
    "synchronous XMLHttpRequest); run from a coroutine in a browser with JSPI "
    "(Chromium 137+), or use the async face"
)


def has_xhr() -> bool:
    """Whether this host has XMLHttpRequest (a page or a web worker; not Node, not Workers)."""
    import js  # type: ignore[import-not-found]

    return hasattr(js, "XMLHttpRequest")


def can_run_sync() -> bool:
    """Whether JSPI can suspend the Python stack right here."""
    from pyodide.ffi import can_run_sync as jspi_here  # type: ignore[import-not-found]

    return bool(jspi_here())


class XhrRuntime:
    """Blocking HTTP requests through the browser's synchronous XMLHttpRequest."""

    def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> XhrResponse:
        """Send the whole request and wait for the whole answer."""
        from js import XMLHttpRequest
        from pyodide.ffi import JsException, to_js

        time_left()  # raises once the statement's deadline has passed
        data = None if body is None else b"".join(bytes(chunk) for chunk in body)
        xhr = XMLHttpRequest.new()
        xhr.open(method, url, False)
        xhr.overrideMimeType(RAW_BYTES_MIME)
        for name, value in headers:
            xhr.setRequestHeader(name, value)
        try:
            xhr.send(None if data is None else to_js(memoryview(data)))
        except JsException as exc:
            raise ConnectionError(f"the browser could not reach {_where(url)}: {exc}") from None
        if xhr.status == 0:  # a network error or a CORS refusal: the browser says no more
            raise ConnectionError(f"the browser could not reach {_where(url)}")
        return XhrResponse(int(xhr.status), _header_map(str(xhr.getAllResponseHeaders())), xhr)

    def websocket(self, url: str, subprotocols: Sequence[str], headers: Headers = ()) -> Any:
        """Refused: a session needs the event loop to deliver its messages."""
        raise NotSupportedError(NO_SESSIONS)

    def close(self) -> None:
        """Nothing is pooled."""


class XhrResponse:
    """A whole answer; its body is one chunk."""

    def __init__(self, status: int, headers: dict[str, str], xhr: Any) -> None:
        self._status = status
        self._headers = headers
        self._xhr = xhr

    @property
    def status(self) -> int:
        return self._status

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def body(self) -> Iterator[bytes]:
        xhr, self._xhr = self._xhr, None
        text = "" if xhr is None else str(xhr.responseText)
        if text:
            yield text.encode("utf-16-le")[::2]

    def close(self) -> None:
        self._xhr = None


class BrowserRuntime:
    """Pyodide in a browser: the JSPI bridge where it can suspend, else synchronous XHR."""

    def __init__(self, bridged: BridgedRuntime, fallback: XhrRuntime | None = None) -> None:
        self._bridged = bridged
        self._fallback = fallback or XhrRuntime()

    def request(
        self, method: str, url: str, headers: Headers, body: Body, body_size: int | None = None
    ) -> HttpResponse:
        if can_run_sync():
            return self._bridged.request(method, url, headers, body, body_size)
        return self._fallback.request(method, url, headers, body, body_size)

    def websocket(
        self, url: str, subprotocols: Sequence[str], headers: Headers = ()
    ) -> BridgedWebSocket:
        if not can_run_sync():
            raise NotSupportedError(NO_SESSIONS)
        return self._bridged.websocket(url, subprotocols, headers)

    def close(self) -> None:
        if can_run_sync():
            self._bridged.close()


def _header_map(raw: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in raw.split("\r\n"):
        name, colon, value = line.partition(":")
        if colon:
            fields[name.strip().lower()] = value.strip()
    return fields


def _where(url: str) -> str:
    """The URL without its query string (which carries no secret, but can be long)."""
    return url.split("?", 1)[0]
