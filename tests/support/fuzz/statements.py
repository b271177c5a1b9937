"""Valid statements with the exact answer PostgreSQL gives them (PROTOCOL.md section 2).

Every fuzz case starts from one or more of these; a case that stays valid must
get exactly ``rows`` back (text output, scalar bytea as base64). Values are
random per case, so a stale or crossed answer cannot pass for the right one.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ppg_edge.core.protocol import BINARY_FORMAT, EXEC_KIND, QUERY_KIND, TEXT_FORMAT

Rows = list[list[str | None]]


@dataclass
class Param:
    """One parameter: inline in the descriptor or extended (its own part or message)."""

    format: str
    value: bytes | None
    extended: bool = False

    def described(self) -> dict[str, Any]:
        """The parameter's entry in the descriptor's ``parameters`` list."""
        if self.extended:
            assert self.value is not None
            return {"type": self.format, "byteSize": len(self.value)}
        if self.value is None:
            return {"type": self.format, "value": None}
        if self.format == BINARY_FORMAT:
            return {"type": self.format, "value": base64.b64encode(self.value).decode()}
        return {"type": self.format, "value": self.value.decode("utf-8")}


@dataclass
class ValidStatement:
    """A statement and the rows a correct gateway answers it with."""

    kind: str
    sql: str
    params: list[Param] = field(default_factory=list)
    rows: Rows = field(default_factory=list)

    def descriptor(self) -> dict[str, Any]:
        """The descriptor object (``parameters`` omitted when there are none)."""
        doc: dict[str, Any] = {self.kind: self.sql}
        if self.params:
            doc["parameters"] = [param.described() for param in self.params]
        return doc

    def extended(self) -> list[Param]:
        """The parameters whose values follow the descriptor, in order."""
        return [param for param in self.params if param.extended]


def _text(rng: random.Random, value: str) -> Param:
    return Param(TEXT_FORMAT, value.encode("utf-8"), extended=rng.random() < 0.4)


def _echo(rng: random.Random, token: str) -> ValidStatement:
    return ValidStatement(QUERY_KIND, "SELECT $1::text AS t", [_text(rng, token)], [[token]])


def _two(rng: random.Random, token: str) -> ValidStatement:
    number = rng.randrange(-1000, 1000)
    params = [_text(rng, token), _text(rng, str(number))]
    return ValidStatement(
        QUERY_KIND, "SELECT $1::text, $2::int + 1", params, [[token, str(number + 1)]]
    )


def _unicode(rng: random.Random, token: str) -> ValidStatement:
    value = token + rng.choice(["é", "✓", "☃", "日本", "\U0001f600", "ß" * 40])
    return ValidStatement(QUERY_KIND, "SELECT $1::text", [_text(rng, value)], [[value]])


def _bytes(rng: random.Random, token: str) -> ValidStatement:
    data = token.encode() + rng.randbytes(rng.randrange(0, 48))
    param = Param(BINARY_FORMAT, data, extended=rng.random() < 0.4)
    if rng.random() < 0.5:
        return ValidStatement(
            QUERY_KIND, "SELECT encode($1::bytea, 'hex')", [param], [[data.hex()]]
        )
    return ValidStatement(
        QUERY_KIND, "SELECT $1::bytea", [param], [[base64.b64encode(data).decode()]]
    )


def _null(rng: random.Random, token: str) -> ValidStatement:
    params = [Param(TEXT_FORMAT, None), _text(rng, token)]
    return ValidStatement(QUERY_KIND, "SELECT $1::text IS NULL, $2::text", params, [["t", token]])


def _series(rng: random.Random, token: str) -> ValidStatement:
    count = rng.randrange(1, 20)
    sql = "SELECT g || $1::text FROM generate_series(1, $2::int) g"
    params = [_text(rng, token), _text(rng, str(count))]
    return ValidStatement(QUERY_KIND, sql, params, [[f"{g}{token}"] for g in range(1, count + 1)])


def _exec(rng: random.Random, token: str) -> ValidStatement:
    return ValidStatement(EXEC_KIND, "SELECT $1::text", [_text(rng, token)], [["1"]])


def _script(rng: random.Random, token: str) -> ValidStatement:
    # Tokens are [a-z0-9_] only, so they are safe inside a SQL literal.
    return ValidStatement(QUERY_KIND, f"SELECT '{token}'::text; SELECT 2", [], [[token]])


TEMPLATES: list[Callable[[random.Random, str], ValidStatement]] = [
    _echo,
    _two,
    _unicode,
    _bytes,
    _null,
    _series,
    _exec,
    _script,
]


def valid_statement(rng: random.Random, token: str) -> ValidStatement:
    """A random valid statement answering with ``token`` somewhere in its rows."""
    return rng.choice(TEMPLATES)(rng, token)


def token_for(rng: random.Random, index: int) -> str:
    """A value unique to this case (and safe in a SQL literal)."""
    return f"fz{index}_{rng.randrange(10**9)}"
