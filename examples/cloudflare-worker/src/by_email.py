"""The route written with a t-string (PEP 750), for Python 3.14 Workers.

`db.sql(t"... {email}")` sends every interpolation as a `$n` parameter, never
as SQL text, so the query is safe for any input. entry.py imports this module
only on Python 3.14: on 3.13 the t-string below is a syntax error.
"""

from __future__ import annotations

from replies import Problem, json_response
from workers import Response

import ppg_edge

MAX_EMAIL_CHARS = 254


async def user_by_email(
    db: ppg_edge.Database, params: dict[str, list[str]], _body: str
) -> Response:
    email = params.get("email", [""])[-1]
    if not email or len(email) > MAX_EMAIL_CHARS:
        raise Problem(400, f"email must be 1 to {MAX_EMAIL_CHARS} characters")
    users = await db.sql(t"SELECT id, name, email FROM users WHERE email = {email}").collect()
    if not users:
        raise Problem(404, "no user with that email")
    return json_response({"user": users[0]})
