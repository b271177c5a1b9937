"""JSON answers shared by the Worker and its Durable Object: results and failures.

Every failure becomes JSON {"error": ...} with a status that says whose fault it
is: 4xx for the request, 502/503/504 for the database or the path to it.
Passwords never appear (ppg_edge keeps them out of every message).
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from workers import Response

import ppg_edge

JSON_TYPE = "application/json"

SESSION_LOST_SQLSTATES = ("08", "57P01", "57P02", "57P05")
"""SQLSTATEs (a class or a code) saying the database connection behind a session is gone:
class 08 (connection exception; the gateway reports a lost upstream connection so)
and the server's own ends of a connection (admin and crash shutdown, idle timeout)."""


class Problem(Exception):
    """A request the Worker refuses, with the HTTP status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, headers={"content-type": JSON_TYPE})


def connection_lost(exc: BaseException) -> bool:
    """True for a database error that ended the connection (not a mistake in the SQL)."""
    return isinstance(exc, ppg_edge.DatabaseError) and exc.code.startswith(SESSION_LOST_SQLSTATES)


def error_response(exc: BaseException) -> Response:
    """Map a failure to JSON with a fitting status code."""
    if isinstance(exc, Problem):
        return json_response({"error": str(exc)}, exc.status)
    if isinstance(exc, ppg_edge.DatabaseError) and exc.code:  # an error the server reported
        if connection_lost(exc):
            body = {"error": f"the database connection was lost: {exc}", "code": exc.code}
            return json_response(body, 503)
        status = 409 if exc.code.startswith("23") or exc.code == "40001" else 400
        return json_response({"error": str(exc), "code": exc.code}, status)
    if isinstance(exc, ppg_edge.QueryTimeoutError):
        return json_response({"error": str(exc)}, 504)
    if isinstance(exc, ppg_edge.HttpResponseError):
        body = {"error": f"the database refused the request: {exc}", "upstream_status": exc.status}
        return json_response(body, 502)
    if isinstance(exc, ppg_edge.WebSocketError):
        body = {"error": f"the database session failed: {exc}", "close_code": exc.close_code}
        return json_response(body, 502)
    if isinstance(exc, ppg_edge.ValidationError):
        return json_response({"error": f"the Worker is misconfigured: {exc}"}, 500)
    if isinstance(exc, ppg_edge.GenericError):
        return json_response({"error": str(exc)}, 502)
    traceback.print_exception(exc)
    return json_response({"error": "internal error"}, 500)
