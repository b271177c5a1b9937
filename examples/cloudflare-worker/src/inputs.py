"""What the routes read: bounded query parameters, a transfer's JSON, the database settings.

Shared by the async routes (entry.py) and the blocking ones (blocking.py), so both
refuse the same input with the same 400 answer.
"""

from __future__ import annotations

import json
from typing import Any

from replies import Problem

Params = dict[str, list[str]]


def int_param(params: Params, name: str, default: int, maximum: int) -> int:
    raw = params.get(name, [str(default)])[-1]
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise Problem(400, f"{name} must be an integer from 1 to {maximum}")
    return int(raw)


def seconds_param(params: Params, name: str, default: float, maximum: float) -> float:
    try:
        seconds = float(params.get(name, [str(default)])[-1])
    except ValueError:
        raise Problem(400, f"{name} must be a number of seconds") from None
    if not 0 <= seconds <= maximum:  # also refuses nan
        raise Problem(400, f"{name} must be between 0 and {maximum} seconds")
    return seconds


def transfer_request(body: str) -> tuple[int, int, int]:
    """(from, to, amount) of a transfer's JSON body, validated."""
    try:
        payload: Any = json.loads(body)
        source, target, amount = payload["from"], payload["to"], payload["amount"]
    except (ValueError, TypeError, KeyError):
        raise Problem(400, 'expected JSON {"from": ID, "to": ID, "amount": N}') from None
    if not all(type(v) is int for v in (source, target, amount)) or amount <= 0:
        raise Problem(400, "from, to and amount must be integers, amount positive")
    if source == target:
        raise Problem(400, "from and to must differ")
    return source, target, amount


def database_settings(env: Any) -> tuple[str, str | None]:
    """The DATABASE_URL secret and the optional PPG_ENDPOINT variable of the Worker's env."""
    url = getattr(env, "DATABASE_URL", None)
    if not url:
        raise Problem(500, "the DATABASE_URL secret is not set")
    endpoint = getattr(env, "PPG_ENDPOINT", None) or None
    return str(url), endpoint and str(endpoint)
