"""The web demo's Python side, run by Pyodide in the page.

It runs the visitor's SQL with ppg_edge and hands the page small JSON updates
(columns, batches of rows with the live count, a readable error), and times
the same queries on one session awaited one by one versus pipelined.
"""

import asyncio
import json
import time
from typing import Any

import ppg_edge

RENDER_LIMIT = 1000
"""Rows shown in the table; every row is still read and counted."""

BATCH_SECONDS = 0.05
"""How often the table and the counters are refreshed while rows stream in."""

HIDDEN_DETAILS = frozenset({"message", "code", "file", "line", "routine"})
"""Error fields already shown, or pointing into PostgreSQL's own source code."""

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
    if isinstance(exc, ppg_edge.DatabaseError):
        info["message"] = exc.message  # the box shows the SQLSTATE beside it, not twice
        info["code"] = exc.code
        info["details"] = {k: v for k, v in exc.details.items() if k not in HIDDEN_DETAILS}
    elif isinstance(exc, ppg_edge.HttpResponseError):
        info["code"] = f"HTTP {exc.status}"
    elif isinstance(exc, ppg_edge.WebSocketError) and exc.close_code is not None:
        info["code"] = f"close {exc.close_code}"
    return info


class Demo:
    """Runs one statement at a time and reports to `view`, a JS object of callbacks."""

    def __init__(self, view: Any) -> None:
        self.view = view
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run(self, form_json: str, sql: str) -> None:
        """Stream the statement's rows to the page (which has already shown "running")."""
        self._stopping = False
        try:
            async with make_client(json.loads(form_json)) as cl:
                result = await cl.query(sql)
                columns = [{"name": c.name, "oid": c.oid} for c in result.columns]
                self.view.columns(json.dumps(columns))
                count = await self._stream(result.rows)
            self.view.finished(count, self._stopping)
        except (ppg_edge.GenericError, ConnectionError) as exc:
            self.view.failed(json.dumps(describe_error(exc)))

    async def _stream(self, rows: Any) -> int:
        """Read every row, shipping rendered batches to the page as they come."""
        count, batch, flushed = 0, [], time.perf_counter()
        async with rows:
            async for row in rows:
                count += 1
                if count <= RENDER_LIMIT:
                    batch.append([cell(v) for v in row.values])
                if time.perf_counter() - flushed >= BATCH_SECONDS:
                    self.view.rows(json.dumps(batch), count)
                    batch, flushed = [], time.perf_counter()
                    await asyncio.sleep(0)  # let the browser paint
                if self._stopping:
                    break
        self.view.rows(json.dumps(batch), count)
        return count

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
