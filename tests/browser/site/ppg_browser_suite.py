"""The ppg_edge suite that runs INSIDE Pyodide (browser page, Web Worker, Node).

Each case talks to the real gateway through the Pyodide runtime and returns what
it observed as JSON-able data; pytest asserts on those observations, one test per
case. Python 3.14 syntax (t-strings) is used on purpose: this file never runs on
the host's CPython.
"""

import asyncio
import base64
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import ppg_edge
from ppg_edge.runtime import default_runtime

CASE_TIMEOUT = 60.0
"""Seconds one case may take before it is recorded as hung."""

Case = Callable[["Context"], Awaitable[Any]]
CASES: dict[str, Case] = {}


def case(fn: Case) -> Case:
    """Register a suite case under its function name."""
    CASES[fn.__name__] = fn
    return fn


class Context:
    """The gateway coordinates handed over by pytest, plus helpers to reach it."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.endpoint: str = config["endpoint"]
        self.connection_string: str = config["connection_string"]
        self.user: str = config["user"]
        self.password: str = config["password"]
        self.database: str = config["database"]
        self.run_id: str = config["run_id"]
        self.breaking_endpoint: str = config["breaking_endpoint"]
        self.silent_url: str = config["silent_url"]

    def connect(self, **options: Any) -> Any:
        return ppg_edge.connect(self.connection_string, endpoint=self.endpoint, **options)

    def client(self, connection_string: str | None = None) -> Any:
        config = ppg_edge.default_client_config(
            connection_string or self.connection_string, endpoint=self.endpoint
        )
        return ppg_edge.client(config)

    def bad_connection_string(self) -> str:
        host = self.endpoint.split("://", 1)[1]
        return f"postgres://{self.user}:not-{self.password}@{host}/{self.database}"

    def table(self, purpose: str) -> str:
        return f"browser_{self.run_id}_{purpose}"


def error_info(exc: BaseException) -> dict[str, Any]:
    """What pytest needs to know about an exception raised inside Pyodide."""
    info: dict[str, Any] = {
        "type": type(exc).__name__,
        "mro": [cls.__name__ for cls in type(exc).__mro__],
        "message": str(exc),
        "repr": repr(exc),
    }
    for attribute in ("status", "close_code", "reason", "code", "details"):
        if hasattr(exc, attribute):
            info[attribute] = getattr(exc, attribute)
    return info


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@case
async def environment(ctx: Context) -> Any:
    runtime = default_runtime()
    return {
        "platform": sys.platform,
        "version": list(sys.version_info[:2]),
        "runtime": f"{type(runtime).__module__}.{type(runtime).__name__}",
        "ppg_edge_file": ppg_edge.__file__,
    }


@case
async def tstring_query(ctx: Context) -> Any:
    a, b, name = 20, 22, "Zoë'; DROP TABLE x; --"
    template = t"SELECT {a}::int + {b}::int AS s, {name}::text AS name"
    async with ctx.connect() as db:
        rows = await db.sql(template).collect()
        affected = await db.sql.exec(t"SELECT * FROM generate_series(1, {a}::int)")
    return {"template_type": type(template).__name__, "rows": rows, "affected": affected}


@case
async def portable_template(ctx: Context) -> Any:
    async with ctx.connect() as db:
        named = await db.sql("SELECT {x}::int * 2 AS d, '{{}}' AS braces", x=21).collect()
        positional = await db.sql("SELECT {}::int + {}::int AS s", 1, 2).collect()
    return {"named": named, "positional": positional}


@case
async def explicit_parameters(ctx: Context) -> Any:
    async with ctx.connect() as db:
        rows = await db.query(
            "SELECT $1::int AS a, $2::text AS b, $3::text IS NULL AS is_null, $4::bool AS flag",
            7,
            "héllo ✓",
            None,
            True,
        ).collect()
        count = await db.exec("SELECT * FROM generate_series(1, $1::int)", 5)
    return {"rows": rows, "count": count}


@case
async def stream_100k_rows(ctx: Context) -> Any:
    started = time.perf_counter()
    count = total = 0
    first_row_ms = None
    async with ctx.connect() as db:
        async for row in db.query("SELECT g AS n FROM generate_series(1, 100000) g"):
            if first_row_ms is None:
                first_row_ms = (time.perf_counter() - started) * 1000
            count += 1
            total += row["n"]
    return {
        "count": count,
        "sum": total,
        "first_row_ms": first_row_ms,
        "total_ms": (time.perf_counter() - started) * 1000,
    }


@case
async def stop_stream_early(ctx: Context) -> Any:
    async with ctx.connect() as db:
        rows = db.query("SELECT g AS n FROM generate_series(1, 1000000) g")
        seen = []
        async for row in rows:
            seen.append(row["n"])
            if len(seen) == 3:
                break
        await rows.aclose()
        after = await db.query("SELECT 'still usable' AS s").collect()
    return {"seen": seen, "after": after}


@case
async def session_pipelining(ctx: Context) -> Any:
    cl = ctx.client()
    try:
        session = await cl.new_session()
        async with session:
            sql = "SELECT $1::int AS i, pg_backend_pid() AS pid"
            # More than SEND_EARLY statements: some leave through send_now, the rest after.
            results = await asyncio.gather(*(session.query(sql, i) for i in range(40)))
            rows = [await result.rows.collect() for result in results]
            active = session.active
        return {
            "values": [r[0].values[0] for r in rows],
            "distinct_pids": len({r[0].values[1] for r in rows}),
            "columns": [c.name for c in results[0].columns],
            "active_while_open": active,
            "active_after_close": session.active,
        }
    finally:
        await cl.aclose()


@case
async def transaction_commit(ctx: Context) -> Any:
    table = ctx.table("commit")
    async with ctx.connect() as db:
        await db.exec(f"CREATE TABLE {table} (id serial PRIMARY KEY, name text)")
        try:
            async with db.transaction() as tx:
                await tx.exec(f"INSERT INTO {table} (name) VALUES ($1)", "Bob")
                who = "Eve"
                greeting = await tx.sql(t"SELECT 'hi ' || {who}::text AS g").collect()
                inside = await tx.query(f"SELECT count(*) AS n FROM {table}").collect()

            async def callback(tx: Any) -> str:
                await tx.exec(f"INSERT INTO {table} (name) VALUES ($1)", "Carol")
                rows = await tx.query(f"SELECT name FROM {table} ORDER BY id").collect()
                return ",".join(row["name"] for row in rows)

            names = await db.transaction(callback)
            after = await db.query(f"SELECT name FROM {table} ORDER BY id").collect()
        finally:
            await db.exec(f"DROP TABLE IF EXISTS {table}")
    return {"greeting": greeting, "inside": inside, "callback_result": names, "after": after}


@case
async def transaction_rollback(ctx: Context) -> Any:
    table = ctx.table("rollback")
    raised: dict[str, Any] = {}
    async with ctx.connect() as db:
        await db.exec(f"CREATE TABLE {table} (id serial PRIMARY KEY, name text)")
        try:
            try:
                async with db.transaction() as tx:
                    await tx.exec(f"INSERT INTO {table} (name) VALUES ($1)", "Mallory")
                    raise LookupError("abort this transaction")
            except LookupError as exc:
                raised["context_manager"] = str(exc)

            async def failing(tx: Any) -> None:
                await tx.exec(f"INSERT INTO {table} (name) VALUES ($1)", "Trent")
                await tx.exec("SELECT 1/0")

            try:
                await db.transaction(failing)
            except ppg_edge.DatabaseError as exc:
                raised["callback"] = exc.code
            after = await db.query(f"SELECT count(*) AS n FROM {table}").collect()
        finally:
            await db.exec(f"DROP TABLE IF EXISTS {table}")
    return {"raised": raised, "after": after}


@case
async def batch(ctx: Context) -> Any:
    table = ctx.table("batch")
    async with ctx.connect() as db:
        await db.exec(f"CREATE TABLE {table} (id serial PRIMARY KEY, name text)")
        try:
            selected, affected = await db.batch(
                ppg_edge.Query("SELECT $1::int * 2 AS d", 21),
                ppg_edge.Exec(f"INSERT INTO {table} (name) VALUES ($1), ($2)", "A", "B"),
            )
            chained = (
                await db.batch()
                .query(f"SELECT name FROM {table} ORDER BY id")
                .exec(f"DELETE FROM {table} WHERE name = $1", "A")
                .run()
            )
            try:
                await db.batch(
                    ppg_edge.Exec(f"INSERT INTO {table} (name) VALUES ($1)", "never"),
                    ppg_edge.Query("SELECT 1/0"),
                )
            except ppg_edge.DatabaseError as exc:
                failed_code = exc.code
            after = await db.query(f"SELECT name FROM {table} ORDER BY id").collect()
        finally:
            await db.exec(f"DROP TABLE IF EXISTS {table}")
    return {
        "selected": selected,
        "affected": affected,
        "chained": list(chained),
        "failed_code": failed_code,
        "after": after,
    }


def text_value(size: int) -> str:
    """A text of exactly `size` UTF-8 bytes mixing 1-, 2-, 3- and 4-byte characters."""
    pattern = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    value = pattern * (size // 10) + "x" * (size % 10)
    assert len(value.encode()) == size
    return value


def binary_value(size: int) -> bytes:
    """Every byte value, NUL included, repeated to `size` bytes."""
    return bytes(i % 256 for i in range(size))


PARAMETER_SIZES = (1000, 1024, 1025, 70_000)
"""Below, at and above the 1 KiB inline limit, and a large one."""


async def round_trips(runner: Any) -> dict[str, Any]:
    """Send text and binary values through `runner.query`; compare bytes on both sides."""
    out: dict[str, Any] = {}
    for size in PARAMETER_SIZES:
        text = text_value(size)
        result = await runner(
            "SELECT $1::text AS v, octet_length($1::text) AS n,"
            " md5(convert_to($1::text, 'UTF8')) AS h",
            text,
        )
        out[f"text_{size}"] = {
            "equal": result["v"] == text,
            "server_bytes": result["n"],
            "server_md5": result["h"],
            "local_md5": md5(text.encode()),
        }
        data = binary_value(size)
        result = await runner(
            "SELECT $1::bytea AS v, octet_length($1::bytea) AS n, md5($1::bytea) AS h", data
        )
        out[f"binary_{size}"] = {
            "equal": result["v"] == data,
            "type": type(result["v"]).__name__,
            "server_bytes": result["n"],
            "server_md5": result["h"],
            "local_md5": md5(data),
        }
    explicit = ppg_edge.byte_array_parameter(binary_value(3000), ppg_edge.BINARY)
    result = await runner("SELECT md5($1::bytea) AS h", explicit)
    out["byte_array_parameter"] = {"server_md5": result["h"], "local_md5": md5(binary_value(3000))}
    return out


@case
async def parameters_http(ctx: Context) -> Any:
    async with ctx.connect() as db:

        async def run(sql: str, value: Any) -> dict[str, Any]:
            (row,) = await db.query(sql, value).collect()
            return row

        return await round_trips(run)


@case
async def parameters_websocket(ctx: Context) -> Any:
    async with ctx.connect() as db, db.transaction() as tx:

        async def run(sql: str, value: Any) -> dict[str, Any]:
            (row,) = await tx.query(sql, value).collect()
            return row

        return await round_trips(run)


ERROR_AFTER_ROWS_SQL = "SELECT n FROM generate_series(1, 50000) n WHERE 1 / (30000 - n) IS NOT NULL"
"""Streams rows 1, 2, … and fails with division by zero at n = 30000."""


@case
async def error_after_rows(ctx: Context) -> Any:
    rows: list[Any] = []
    async with ctx.connect() as db:
        try:
            async for row in db.query(ERROR_AFTER_ROWS_SQL):
                rows.append(row["n"])
        except ppg_edge.DatabaseError as exc:
            error = error_info(exc)
        try:
            await db.query("SELECT * FROM browser_no_such_table").collect()
        except ppg_edge.DatabaseError as exc:
            missing = error_info(exc)
    return {
        "rows_in_order": rows == list(range(1, len(rows) + 1)),
        "rows_before_error": len(rows),
        "error": error,
        "missing_table": missing,
    }


@case
async def wrong_credentials_http(ctx: Context) -> Any:
    db = ppg_edge.connect(ctx.bad_connection_string(), endpoint=ctx.endpoint)
    try:
        await db.query("SELECT 1").collect()
    except ppg_edge.GenericError as exc:
        return {"error": error_info(exc), "password_leaked": ctx.password in repr(exc)}
    finally:
        await db.aclose()
    return {"error": None}


@case
async def wrong_credentials_websocket(ctx: Context) -> Any:
    cl = ctx.client(ctx.bad_connection_string())
    try:
        session = await cl.new_session()
        await session.query("SELECT 1")
        await session.close()
    except ppg_edge.GenericError as exc:
        return {"error": error_info(exc), "password_leaked": ctx.password in repr(exc)}
    finally:
        await cl.aclose()
    return {"error": None}


@case
async def timeout(ctx: Context) -> Any:
    async with ctx.connect() as db:
        started = time.perf_counter()
        try:
            await db.query("SELECT pg_sleep(10)", timeout=0.5).collect()
        except ppg_edge.QueryTimeoutError as exc:
            error = error_info(exc) | {"is_timeout_error": isinstance(exc, TimeoutError)}
        elapsed = time.perf_counter() - started
        after = await db.query("SELECT 'alive' AS s").collect()
    return {"error": error, "elapsed_s": elapsed, "after": after}


@case
async def timeout_websocket(ctx: Context) -> Any:
    cl = ctx.client()
    try:
        session = await cl.new_session()
        async with session:
            started = time.perf_counter()
            try:
                await session.query("SELECT pg_sleep(10)", timeout=0.5)
            except ppg_edge.QueryTimeoutError as exc:
                error = error_info(exc)
            elapsed = time.perf_counter() - started
        after = await (await cl.query("SELECT 'alive' AS s")).rows.collect()
        return {"error": error, "elapsed_s": elapsed, "after": [row.values for row in after]}
    finally:
        await cl.aclose()


LARGE_PARAMETER_SIZE = 4 * 1024 * 1024
"""Big enough to be many network chunks on the way in and a multi-part Blob."""


@case
async def large_parameters(ctx: Context) -> Any:
    data = binary_value(LARGE_PARAMETER_SIZE)
    text = text_value(LARGE_PARAMETER_SIZE)
    sql = "SELECT md5($1::bytea) AS b, md5(convert_to($2::text, 'UTF8')) AS t"
    async with ctx.connect() as db:
        (http,) = await db.query(sql, data, text).collect()
        async with db.transaction() as tx:
            (websocket,) = await tx.query(sql, data, text).collect()
    expected = {"b": md5(data), "t": md5(text.encode())}
    return {"http_ok": http == expected, "websocket_ok": websocket == expected}


async def read_all(response: Any) -> bytes:
    data = b"".join([chunk async for chunk in response.body()])
    await response.aclose()
    return data


async def one_chunk(data: bytes) -> Any:
    yield data


@case
async def http_runtime_edges(ctx: Context) -> Any:
    """The adapter alone: a body-less answer, and a 400 returned as a normal response."""
    runtime = default_runtime()
    url = ctx.endpoint + "/v0/statement"
    empty = await runtime.request("OPTIONS", url, [], None)
    empty_body = await read_all(empty)
    token = base64.b64encode(f"{ctx.user}:{ctx.password}".encode()).decode()
    headers = [
        ("Authorization", f"Basic {token}"),
        ("Content-Type", "multipart/form-data; boundary=x"),
        ("Content-Length", "13"),  # a forbidden header: fetch sets it, the adapter drops it
    ]
    bad = await runtime.request("POST", url, headers, one_chunk(b"not multipart"), 13)
    bad_body = await read_all(bad)
    return {
        "empty": {"status": empty.status, "body": empty_body.decode()},
        "bad": {
            "status": bad.status,
            "content_type": bad.headers.get("content-type", ""),
            "body": bad_body.decode(),
            "lower_case_names": all(name == name.lower() for name in bad.headers),
        },
    }


@case
async def truncated_response(ctx: Context) -> Any:
    """A server that stops mid-answer: a transport error, or a clean end before `complete`."""
    runtime = default_runtime()
    url = ctx.breaking_endpoint + "/v0/statement?db=cut"
    response = await runtime.request("POST", url, [], one_chunk(b"x"), 1)
    received = b""
    try:
        async for chunk in response.body():
            received += chunk
        adapter: dict[str, Any] = {"error": None}
    except ConnectionError as exc:
        adapter = {"error": error_info(exc)}
    await response.aclose()
    adapter["received_lines"] = received.count(b"\n")
    driver = {}
    for mode in ("cut", "eof"):
        host = ctx.breaking_endpoint.split("://", 1)[1]
        config = ppg_edge.default_client_config(
            f"postgres://u:p@{host}/{mode}", endpoint=ctx.breaking_endpoint
        )
        rows: list[Any] = []
        async with ppg_edge.client(config) as cl:
            try:
                result = await cl.query("SELECT n")
                async for row in result.rows:
                    rows.append(row.values)
                driver[mode] = {"error": None, "rows": rows}
            except ppg_edge.GenericError as exc:
                driver[mode] = {"error": error_info(exc), "rows": rows}
    return {"adapter": adapter, "driver": driver}


@case
async def websocket_handlers_released(ctx: Context) -> Any:
    """Every proxy is detached once a socket closes, by us or by the server."""
    from ppg_edge.core.protocol import WS_SUBPROTOCOL
    from ppg_edge.runtime.base import WebSocketClosed

    runtime = default_runtime()
    url = ctx.endpoint.replace("http", "ws", 1) + "/v0/session?db=" + ctx.database
    ours = await runtime.websocket(url, [WS_SUBPROTOCOL])
    attached_while_open = len(ours._listeners)
    await ours.close()
    theirs = await runtime.websocket(url, [WS_SUBPROTOCOL])
    await theirs.send(json.dumps({"username": ctx.user, "password": "wrong"}))
    codes = []
    for _ in range(2):
        try:
            await theirs.receive()
        except WebSocketClosed as closed:
            codes.append(closed.code)
    await asyncio.sleep(0.05)
    return {
        "subprotocol": ours.subprotocol,
        "attached_while_open": attached_while_open,
        "attached_after_our_close": len(ours._listeners),
        "attached_after_their_close": len(theirs._listeners),
        "ready_states": [int(ours._socket.readyState), int(theirs._socket.readyState)],
        "receive_after_close": codes,
    }


@case
async def websocket_handshake_failure(ctx: Context) -> Any:
    """Refused (an HTTP 404 instead of 101), and unanswered (a server that hangs)."""
    from ppg_edge.runtime.pyodide import PyodideRuntime

    seen: dict[str, Any] = {}
    runtime = PyodideRuntime(connect_timeout=0.5)
    refused = ctx.endpoint.replace("http", "ws", 1) + "/no/such/session"
    for name, url in (("refused", refused), ("silent", ctx.silent_url)):
        started = time.perf_counter()
        try:
            socket = await runtime.websocket(url, ["prisma-postgres-1.0"])
            await socket.close()
            seen[name] = {"error": None}
        except ConnectionError as exc:
            seen[name] = {"error": error_info(exc)}
        seen[name]["elapsed_s"] = time.perf_counter() - started
    return seen


@case
async def sync_face(ctx: Context) -> Any:
    """connect_sync: blocking calls through JSPI's run_sync where the host can suspend
    (Chromium >= 137), a clear GenericError where it cannot (Node 20)."""
    import js
    from pyodide.ffi import can_run_sync

    navigator = getattr(js.globalThis, "navigator", None)
    agent = str(getattr(navigator, "userAgent", "")) if navigator is not None else ""
    seen: dict[str, Any] = {"chromium": "Chrome/" in agent, "can_run_sync": can_run_sync()}
    try:
        with ppg_edge.connect_sync(ctx.connection_string, endpoint=ctx.endpoint) as db:
            seen["rows"] = db.query("SELECT $1::int + 1 AS n", 41).collect()
            numbers = db.query("SELECT g FROM generate_series(1, 1000) g")
            seen["streamed"] = sum(row["g"] for row in numbers)
            with db.transaction() as tx:
                seen["transaction"] = tx.query("SELECT 2 AS two").collect()
            seen["batch"] = db.batch(ppg_edge.Query("SELECT 3 AS three"))
            started = time.perf_counter()
            try:
                db.exec("SELECT pg_sleep(5)", timeout=0.5)
            except ppg_edge.QueryTimeoutError as exc:
                seen["timeout"] = {"error": error_info(exc), "s": time.perf_counter() - started}
    except ppg_edge.GenericError as exc:
        seen["error"] = error_info(exc)
    return seen


async def first_query(config_json: str) -> str:
    """The first thing a page does after importing ppg_edge; timed by the harness."""
    ctx = Context(json.loads(config_json))
    async with ctx.connect() as db:
        rows = await db.query("SELECT 1 AS one").collect()
    return json.dumps(rows)


async def run_case(name: str, ctx: Context) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        value = await asyncio.wait_for(CASES[name](ctx), CASE_TIMEOUT)
        outcome: dict[str, Any] = {"ok": True, "value": value}
    except Exception as exc:
        outcome = {"ok": False, "error": error_info(exc), "traceback": traceback.format_exc()}
    outcome["ms"] = (time.perf_counter() - started) * 1000
    return outcome


async def run(config_json: str) -> str:
    """Run every case (or the config's "cases") in order; return {name: outcome} as JSON."""
    config = json.loads(config_json)
    ctx = Context(config)
    results = {name: await run_case(name, ctx) for name in config.get("cases") or CASES}
    return json.dumps(results, default=repr)


async def origin_probe(config_json: str) -> str:
    """One HTTP query and one session query: what a page sees of a gateway's origin policy."""
    ctx = Context(json.loads(config_json))
    seen: dict[str, Any] = {}
    try:
        async with ctx.connect() as db:
            seen["http"] = {"rows": await db.query("SELECT 1 AS one").collect()}
    except ppg_edge.GenericError as exc:
        seen["http"] = {"error": error_info(exc)}
    cl = ctx.client()
    try:
        async with await cl.new_session() as session:
            result = await session.query("SELECT 1 AS one")
            seen["websocket"] = {"rows": [row.values for row in await result.rows.collect()]}
    except ppg_edge.GenericError as exc:
        seen["websocket"] = {"error": error_info(exc)}
    finally:
        await cl.aclose()
    return json.dumps(seen, default=repr)
