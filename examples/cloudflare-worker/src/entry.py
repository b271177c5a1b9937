"""A Cloudflare Python Worker that answers HTTP requests from PostgreSQL through ppg_edge.

Routes (schema in ../schema.sql):
  GET  /users?limit=N          users as JSON (a parameterised query over HTTP)
  GET  /users/by-email?email=E one user, by a t-string query (Python 3.14 Workers only)
  GET  /numbers?count=N        N generated rows streamed as NDJSON, in constant memory
  POST /transfer               {"from": ID, "to": ID, "amount": N} moved in one transaction
  GET  /session?tag=T&hold=S   what this request's own database session sees
  GET  /pinned?object=O&tag=T  a visit recorded on the session that Durable Object O
                               keeps open across requests (pinned.py)
  GET  /sync/users, POST /sync/transfer
                               the same through the synchronous face (ppg_edge.dbapi,
                               ppg_edge.connect_sync) from plain functions, blocking
                               through JSPI's run_sync (blocking.py)
Failures come back as JSON {"error": ...} with a fitting status code (replies.py).

Configuration comes from `self.env`: the secret DATABASE_URL (a connection
string), the optional variable PPG_ENDPOINT (e.g. a local gateway's URL) and
the Durable Object binding PINNED (wrangler.toml).

Each request opens its own `ppg_edge.connect(...)` and closes it before its
response is complete (a stream closes it when it ends): Workers forbid sharing
I/O objects between requests, so nothing is cached at module level. A session
that outlives requests belongs in a Durable Object (pinned.py).
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from blocking import SYNC_ROUTES
from inputs import database_settings, int_param, seconds_param, transfer_request
from pinned import PinnedSession
from replies import Problem, error_response, json_response
from workers import Response, WorkerEntrypoint

import ppg_edge
from ppg_edge.runtime.jsbridge import readable_stream

__all__ = ["Default", "PinnedSession"]  # the Durable Object class is exported from the main module

NDJSON_TYPE = "application/x-ndjson"
STREAM_CHUNK_BYTES = 64 * 1024
MAX_USERS = 100
MAX_NUMBERS = 1_000_000
MAX_HOLD_SECONDS = 5.0
MAX_OBJECT_NAME_CHARS = 64


async def list_users(db: ppg_edge.Database, params: dict[str, list[str]], _body: str) -> Response:
    limit = int_param(params, "limit", 10, MAX_USERS)
    users = await db.sql(
        "SELECT id, name, email FROM users ORDER BY id LIMIT {limit}", limit=limit
    ).collect()
    return json_response({"users": users})


async def transfer(db: ppg_edge.Database, _params: dict[str, list[str]], body: str) -> Response:
    """Move money between two accounts atomically; any failure rolls both updates back."""
    source, target, amount = transfer_request(body)
    async with db.transaction() as tx:
        for account, delta in ((source, -amount), (target, amount)):
            moved = await tx.sql.exec(
                "UPDATE accounts SET balance = balance + {delta} WHERE id = {id}",
                delta=delta,
                id=account,
            )
            if moved != 1:
                raise Problem(404, f"no account {account}")
        rows = await tx.sql(
            "SELECT id, balance FROM accounts WHERE id IN ({a}, {b}) ORDER BY id",
            a=source,
            b=target,
        ).collect()
    return json_response({"balances": {str(row["id"]): row["balance"] for row in rows}})


async def session_info(db: ppg_edge.Database, params: dict[str, list[str]], _body: str) -> Response:
    """A transaction's view of its own session: a temp table only this request can see."""
    tag = params.get("tag", ["anonymous"])[-1][:64]
    hold = seconds_param(params, "hold", 0.0, MAX_HOLD_SECONDS)
    async with db.transaction() as tx:
        await tx.exec("CREATE TEMP TABLE request_marker (tag text) ON COMMIT DROP")
        await tx.sql.exec("INSERT INTO request_marker (tag) VALUES ({tag})", tag=tag)
        if hold:
            await tx.sql("SELECT pg_sleep({hold})", hold=hold).collect()
        rows = await tx.query(
            "SELECT pg_backend_pid() AS pid, txid_current()::text AS txid,"
            " (SELECT string_agg(tag, ',') FROM request_marker) AS markers"
        ).collect()
    return json_response(rows[0])


async def ndjson_chunks(
    first: dict[str, Any] | None, rows: ppg_edge.CollectableIterator[dict[str, Any]]
) -> AsyncIterator[bytes]:
    """Rows as NDJSON lines, batched into chunks; a late database error becomes a last line."""
    batch: list[bytes] = []
    size = 0
    try:
        if first is not None:
            batch.append((json.dumps(first) + "\n").encode())
        async for row in rows:
            line = (json.dumps(row) + "\n").encode()
            batch.append(line)
            size += len(line)
            if size >= STREAM_CHUNK_BYTES:
                yield b"".join(batch)
                batch, size = [], 0
    except ppg_edge.GenericError as exc:
        batch.append((json.dumps({"error": str(exc)}) + "\n").encode())
    finally:
        await rows.aclose()
    if batch:
        yield b"".join(batch)


async def stream_numbers(db: ppg_edge.Database, params: dict[str, list[str]], ctx: Any) -> Response:
    """Stream a large result; the database closes when the stream ends (kept alive by waitUntil)."""
    count = int_param(params, "count", 1000, MAX_NUMBERS)
    rows = aiter(
        db.sql(
            "SELECT n, md5(n::text) AS hash FROM generate_series(1, {count}::int) AS n",
            count=count,
        )
    )
    first = await anext(rows, None)  # failures surface here, before a 200 is sent
    stream, finished = readable_stream(ndjson_chunks(first, rows), db.aclose)
    ctx.waitUntil(finished)
    return Response(stream, headers={"content-type": NDJSON_TYPE})


async def needs_python_314(
    _db: ppg_edge.Database, _params: dict[str, list[str]], _body: str
) -> Response:
    version = ".".join(map(str, sys.version_info[:2]))
    raise Problem(501, f"/users/by-email uses a t-string and needs Python 3.14 (this is {version})")


if sys.version_info >= (3, 14):
    from by_email import user_by_email  # t-strings are a syntax error before 3.14
else:
    user_by_email = needs_python_314

H = TypeVar("H")
Handler = Callable[[ppg_edge.Database, dict[str, list[str]], str], Awaitable[Response]]
ROUTES: dict[str, tuple[str, Handler]] = {
    "/users": ("GET", list_users),
    "/users/by-email": ("GET", user_by_email),
    "/transfer": ("POST", transfer),
    "/session": ("GET", session_info),
}


def handler_for(routes: Mapping[str, tuple[str, H]], path: str, method: str) -> H:
    """The handler of a known route, or a 405 for the wrong method."""
    expected, handler = routes[path]
    if method != expected:
        raise Problem(405, f"{path} takes {expected}")
    return handler


def open_database(env: Any) -> ppg_edge.Database:
    url, endpoint = database_settings(env)
    return ppg_edge.connect(url, endpoint=endpoint)


class Default(WorkerEntrypoint):
    """The Worker: one fresh instance (and one database client) per request."""

    async def fetch(self, request: Any) -> Response:
        url = urlsplit(str(request.url))
        params = parse_qs(url.query)
        method = str(request.method.value if hasattr(request.method, "value") else request.method)
        try:
            if url.path == "/numbers" and method == "GET":
                return await self.stream(params)
            if url.path == "/pinned" and method == "GET":
                return await self.pinned(request, params)
            if url.path in SYNC_ROUTES:  # plain functions: they block through JSPI's run_sync
                blocking = handler_for(SYNC_ROUTES, url.path, method)
                body = await request.text() if method == "POST" else ""
                return blocking(*database_settings(self.env), params, body)
            if url.path not in ROUTES:
                raise Problem(404, f"no route {url.path}")
            handler = handler_for(ROUTES, url.path, method)
            body = await request.text() if method == "POST" else ""
            async with open_database(self.env) as db:
                return await handler(db, params, body)
        except Exception as exc:
            return error_response(exc)

    async def pinned(self, request: Any, params: dict[str, list[str]]) -> Response:
        """Hand the request to the Durable Object named by ?object= (default "main")."""
        namespace = getattr(self.env, "PINNED", None)
        if namespace is None:
            raise Problem(500, "the PINNED Durable Object binding is not configured")
        name = params.get("object", ["main"])[-1][:MAX_OBJECT_NAME_CHARS]
        return await namespace.getByName(name).fetch(request)

    async def stream(self, params: dict[str, list[str]]) -> Response:
        db = open_database(self.env)
        try:
            return await stream_numbers(db, params, self.ctx)
        except BaseException:
            await db.aclose()
            raise
