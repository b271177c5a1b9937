"""The web demo's Python side, run by Pyodide in the page.

It runs the visitor's SQL with ppg_edge and hands the page small JSON updates
(columns, batches of rows with the live count, a readable error, keeping the
rows that arrived before it), runs the visitor's own Python (top-level await,
printed output streamed to the page, exceptions shown by the lines of their
code), and times the same queries on one session awaited one by one versus
pipelined.
"""

import asyncio
import contextlib
import io
import json
import time
import traceback
from typing import Any

import ppg_edge
from pyodide.code import eval_code_async

RENDER_LIMIT = 1000
"""Rows shown in the table; every row is still read and counted."""

BATCH_SECONDS = 0.05
"""How often the table and the counters are refreshed while rows stream in."""

HIDDEN_DETAILS = frozenset({"message", "code", "file", "line", "routine"})
"""Error fields already shown, or pointing into PostgreSQL's own source code."""

EDITOR = "<editor>"
"""The file name the Python tab's code runs under: its frames are the ones shown."""

OUTPUT_LIMIT = 200_000
"""Characters of printed output forwarded to the page per run and stream; the rest is counted."""

COMPARE_SQL = "SELECT $1::int AS n"
COMPARE_ROUNDS = 5
"""Each mode runs this many times; the best run is shown (the least disturbed by noise)."""


def connection_string(form: dict[str, str]) -> str:
    """The connection string for the form; the endpoint field says where to send it."""
    host = form["endpoint"].split("://", 1)[-1].split("/", 1)[0] or "localhost"
    database = form.get("database") or ""
    return f"postgres://{form['user']}:{form['password']}@{host}/{database}"


def make_client(form: dict[str, str]) -> ppg_edge.Client:
    config = ppg_edge.default_client_config(connection_string(form), endpoint=form["endpoint"])
    return ppg_edge.client(config)


def cell(value: Any) -> str | None:
    """How the table shows one value (None stays None: the page shows NULL)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def describe_error(exc: BaseException) -> dict[str, Any]:
    """An exception as the page's error box shows it; never the password."""
    info: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ppg_edge.DatabaseError) and exc.code:  # an error the server reported
        info["message"] = exc.message  # the box shows the SQLSTATE beside it, not twice
        info["code"] = exc.code
        info["details"] = {k: v for k, v in exc.details.items() if k not in HIDDEN_DETAILS}
    elif isinstance(exc, ppg_edge.HttpResponseError):
        info["code"] = f"HTTP {exc.status}"
    elif isinstance(exc, ppg_edge.WebSocketError) and exc.close_code is not None:
        info["code"] = f"close {exc.close_code}"
    return info


def editor_frames(exc: BaseException, source: str) -> list[dict[str, Any]]:
    """The traceback's frames in the visitor's code: line number, function and source line."""
    lines = source.splitlines()

    def text(number: int | None) -> str:
        return lines[number - 1].strip() if number and 0 < number <= len(lines) else ""

    frames = [
        {"line": frame.lineno, "where": frame.name, "code": text(frame.lineno)}
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename == EDITOR
    ]
    if isinstance(exc, SyntaxError) and exc.filename == EDITOR:
        frames.append({"line": exc.lineno, "where": "", "code": text(exc.lineno)})
    return frames


def describe_python_error(exc: BaseException, source: str) -> dict[str, Any]:
    """describe_error plus where in the editor it happened; frames of ppg_edge and
    Pyodide are counted, not shown."""
    info = describe_error(exc)
    if isinstance(exc, SyntaxError):
        info["message"] = exc.msg
    frames = editor_frames(exc, source)
    info["frames"] = frames
    info["hidden_frames"] = max(len(traceback.extract_tb(exc.__traceback__)) - len(frames), 0)
    return info


class LiveOutput(io.TextIOBase):
    """A text stream that hands what is printed to the page at once, up to OUTPUT_LIMIT."""

    def __init__(self, view: Any, stream: str) -> None:
        self.view, self.stream = view, stream
        self.forwarded = self.dropped = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        room = max(OUTPUT_LIMIT - self.forwarded, 0)
        if room and text:
            self.view.output(text[:room], self.stream)
        self.forwarded += min(len(text), room)
        self.dropped += max(len(text) - room, 0)
        return len(text)


class Demo:
    """Runs one statement at a time and reports to `view`, a JS object of callbacks."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self._stopping = False
        self._count = 0
        self._python: asyncio.Future[Any] | None = None

    def stop(self) -> None:
        """Stop reading rows, and cancel the Python tab's code at its next await."""
        self._stopping = True
        if self._python is not None:
            self._python.cancel()

    async def run(self, form_json: str, sql: str) -> None:
        """Stream the statement's rows to the page (which has already shown "running")."""
        self._stopping, self._count = False, 0
        try:
            async with make_client(json.loads(form_json)) as cl:
                result = await cl.query(sql)
                columns = [{"name": c.name, "oid": c.oid} for c in result.columns]
                self.view.columns(json.dumps(columns))
                await self._stream(result.rows)
            self.view.finished(self._count, self._stopping)
        except (ppg_edge.GenericError, ConnectionError) as exc:
            # The rows that came before the error stay on screen, counted.
            self.view.failed(json.dumps(describe_error(exc)), self._count)

    async def _stream(self, rows: Any) -> None:
        """Read every row, shipping rendered batches to the page as they come.

        The last batch is shipped even when reading fails: those rows did arrive.
        """
        batch: list[list[str | None]] = []
        flushed = time.perf_counter()
        try:
            async with rows:
                async for row in rows:
                    self._count += 1
                    if self._count <= RENDER_LIMIT:
                        batch.append([cell(v) for v in row.values])
                    if time.perf_counter() - flushed >= BATCH_SECONDS:
                        self.view.rows(json.dumps(batch), self._count)
                        batch, flushed = [], time.perf_counter()
                        await asyncio.sleep(0)  # let the browser paint
                    if self._stopping:
                        break
        finally:
            self.view.rows(json.dumps(batch), self._count)

    async def run_python(self, form_json: str, source: str) -> None:
        """Run the Python tab's code; DATABASE_URL and ENDPOINT come from the form."""
        form = json.loads(form_json)
        namespace = {
            "__name__": "__main__",
            "DATABASE_URL": connection_string(form),
            "ENDPOINT": form["endpoint"],
        }
        self._python = asyncio.ensure_future(self._execute(source, namespace))
        try:
            value = await self._python
        except asyncio.CancelledError:
            self.view.python_done(json.dumps({"stopped": True}))
        except BaseException as exc:  # the visitor's code may raise anything: show it
            self.view.python_failed(json.dumps(describe_python_error(exc, source)))
        else:
            shown = None if value is None else repr(value)[:OUTPUT_LIMIT]
            self.view.python_done(json.dumps({"value": shown}))
        finally:
            self._python = None

    async def _execute(self, source: str, namespace: dict[str, Any]) -> Any:
        stdout, stderr = LiveOutput(self.view, "stdout"), LiveOutput(self.view, "stderr")
        try:
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                return await eval_code_async(source, namespace, filename=EDITOR)
        finally:
            dropped = stdout.dropped + stderr.dropped
            if dropped:
                self.view.output(f"\n[{dropped:,} more characters not shown]\n", "note")

    async def compare(self, form_json: str, count: int) -> None:
        """Time `count` queries on one session, sequential then pipelined."""
        try:
            async with make_client(json.loads(form_json)) as cl:
                session = await cl.new_session()
                async with session:
                    await self._sequential(session, 1)  # warm up the connection
                    rounds = range(COMPARE_ROUNDS)
                    sequential = [await self._sequential(session, count) for _ in rounds]
                    pipelined = [await self._pipelined(session, count) for _ in rounds]
            figures = {
                "count": count,
                "sequential_ms": min(sequential),
                "pipelined_ms": min(pipelined),
            }
            self.view.compared(json.dumps(figures))
        except (ppg_edge.GenericError, ConnectionError) as exc:
            self.view.failed(json.dumps(describe_error(exc)))

    @staticmethod
    async def _sequential(session: Any, count: int) -> float:
        started = time.perf_counter()
        for i in range(count):
            result = await session.query(COMPARE_SQL, i)
            await result.rows.collect()
        return (time.perf_counter() - started) * 1000

    @staticmethod
    async def _pipelined(session: Any, count: int) -> float:
        started = time.perf_counter()
        results = await asyncio.gather(*(session.query(COMPARE_SQL, i) for i in range(count)))
        for result in results:
            await result.rows.collect()
        return (time.perf_counter() - started) * 1000
