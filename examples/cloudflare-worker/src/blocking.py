"""Routes written against the synchronous face, as code built on DB-API 2.0 is.

Libraries that speak PEP 249 (SQLAlchemy, pandas' `read_sql`) call the database
from plain functions. In a Worker those calls block through JSPI:
`pyodide.ffi.run_sync` suspends the WebAssembly stack until the fetch or the
WebSocket message arrives, while the isolate's event loop goes on serving other
requests. That holds in code called from the async `fetch` handler, where
`pyodide.ffi.can_run_sync()` is True; each answer reports it.

  GET  /sync/users?limit=N&hold=S&timeout=T
       users through `ppg_edge.dbapi` in autocommit mode (one HTTP request per
       statement), after a server-side pause of S seconds; each statement is
       bounded by T seconds (default 30), past which the answer is a 504
  POST /sync/transfer  {"from": ID, "to": ID, "amount": N}
       entry.py's transfer through `ppg_edge.connect_sync`: one transaction on a
       WebSocket session, rolled back on any failure
"""

from __future__ import annotations

from collections.abc import Callable

from inputs import Params, int_param, seconds_param, transfer_request
from replies import Problem, json_response
from workers import Response

import ppg_edge
import ppg_edge.dbapi

MAX_USERS = 100
MAX_HOLD_SECONDS = 5.0
MAX_TIMEOUT_SECONDS = 30.0


def can_run_sync() -> bool:
    """Whether JSPI can suspend here: what the synchronous face needs in a Worker."""
    from pyodide.ffi import can_run_sync as jspi_can_suspend

    return bool(jspi_can_suspend())


def sync_users(url: str, endpoint: str | None, params: Params, _body: str) -> Response:
    """PEP 249 from a plain function: a cursor, `%s` parameters, description, fetchall."""
    limit = int_param(params, "limit", 10, MAX_USERS)
    hold = seconds_param(params, "hold", 0.0, MAX_HOLD_SECONDS)
    timeout = seconds_param(params, "timeout", MAX_TIMEOUT_SECONDS, MAX_TIMEOUT_SECONDS)
    if not timeout:
        raise Problem(400, "timeout must be more than 0 seconds")
    with ppg_edge.dbapi.connect(url, endpoint=endpoint, autocommit=True, timeout=timeout) as conn:
        cursor = conn.cursor()
        if hold:
            cursor.execute("SELECT pg_sleep(%s)", (hold,))
        cursor.execute("SELECT id, name, email FROM users ORDER BY id LIMIT %s", (limit,))
        names = [column.name for column in cursor.description or ()]
        users = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return json_response({"users": users, "can_run_sync": can_run_sync()})


def sync_transfer(url: str, endpoint: str | None, _params: Params, body: str) -> Response:
    """entry.py's transfer, blocking: the same statements in a `with` transaction."""
    source, target, amount = transfer_request(body)
    with ppg_edge.connect_sync(url, endpoint=endpoint) as db, db.transaction() as tx:
        for account, delta in ((source, -amount), (target, amount)):
            moved = tx.sql.exec(
                "UPDATE accounts SET balance = balance + {delta} WHERE id = {id}",
                delta=delta,
                id=account,
            )
            if moved != 1:
                raise Problem(404, f"no account {account}")
        rows = tx.sql(
            "SELECT id, balance FROM accounts WHERE id IN ({a}, {b}) ORDER BY id",
            a=source,
            b=target,
        ).collect()
    balances = {str(row["id"]): row["balance"] for row in rows}
    return json_response({"balances": balances, "can_run_sync": can_run_sync()})


SyncHandler = Callable[[str, "str | None", Params, str], Response]
SYNC_ROUTES: dict[str, tuple[str, SyncHandler]] = {
    "/sync/users": ("GET", sync_users),
    "/sync/transfer": ("POST", sync_transfer),
}
