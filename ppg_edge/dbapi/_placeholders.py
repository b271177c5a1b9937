"""`pyformat` / `format` placeholders -> the protocol's `$n`, and what kind a statement is.

The DB-API face takes psycopg's paramstyles (`%s` with a sequence, `%(name)s`
with a mapping; `%%` is a literal `%`) because that is what SQLAlchemy's and
pandas' PostgreSQL code writes; the wire wants `$1, $2, ...` (PROTOCOL.md
section 2). Unlike psycopg, which formats blindly, the SQL is scanned: a `%s`
inside a string literal, a quoted identifier, a comment or a dollar-quoted
body is text, not a placeholder. A `%%` there is still a `%` (SQLAlchemy doubles
every `%` of the statements it compiles, literals included), and a lone `%`
there is kept as written. Without parameters (`None`) the SQL goes as written,
`%` and all, as in psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ppg_edge.core.errors import ProgrammingError

_TOKEN = re.compile(
    r"""
      (?P<string> (?<![\w$])[eE]'(?:[^'\\]|\\.|'')*+'  # E'...' takes backslash escapes
                | '(?:[^']|'')*+'                      # standard string ('' is a quote)
                | "(?:[^"]|"")*+" )                    # quoted identifier
    | (?P<line> --[^\n]* )
    | (?P<block> /\* )                                 # nests: scanned by _block_end
    | (?P<dollar> (?<![\w$])\$(?P<tag>[^\W\d]\w*)?\$ ) # $$ or $tag$ opens a body
    | (?P<named> %\((?P<name>[^)]*)\)s )
    | (?P<positional> %s )
    | (?P<percent> %% )
    | (?P<stray> %.? )
    """,
    re.VERBOSE | re.DOTALL,
)
"""Everything the scan stops at; the SQL between two matches is copied as is."""

_PERCENT_PAIR = re.compile("%%")


@dataclass(frozen=True)
class Converted:
    """A statement with `$n` placeholders, and how to order a call's parameters for it."""

    sql: str
    names: tuple[str, ...] | None
    """For `%(name)s`: the name of each `$n` in order (a name used twice is one `$n`)."""
    count: int
    """For `%s`: how many parameters it takes."""

    def values(self, params: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
        """The parameters in `$n` order; a missing or surplus one is a ProgrammingError."""
        if self.names is not None:
            if not isinstance(params, Mapping):
                raise ProgrammingError("%(name)s placeholders take a mapping of parameters")
            try:
                return [params[name] for name in self.names]
            except KeyError as exc:
                raise ProgrammingError(f"no parameter named {exc.args[0]!r}") from None
        if isinstance(params, Mapping):
            if self.count == 0 and not params:
                return []
            raise ProgrammingError("%s placeholders take a sequence of parameters")
        if len(params) != self.count:
            raise ProgrammingError(
                f"the statement has {self.count} placeholders but {len(params)} parameters"
            )
        return list(params)


def convert(sql: str) -> Converted:
    """Rewrite `%s` / `%(name)s` to `$n` (a statement uses one style or the other)."""
    out: list[str] = []
    names: dict[str, int] = {}
    positional = 0
    pos = 0
    while (match := _TOKEN.search(sql, pos)) is not None:
        out.append(sql[pos : match.start()])
        kind = match.lastgroup
        end = match.end()
        if kind == "block":
            end = _block_end(sql, match.start())
            out.append(_PERCENT_PAIR.sub("%", sql[match.start() : end]))
        elif kind == "dollar":
            end = _dollar_end(sql, end, match.group("dollar"))
            out.append(_PERCENT_PAIR.sub("%", sql[match.start() : end]))
        elif kind in ("string", "line"):
            out.append(_PERCENT_PAIR.sub("%", match.group()))
        elif kind == "named":
            number = names.setdefault(match.group("name"), len(names) + 1)
            out.append(f"${number}")
        elif kind == "positional":
            positional += 1
            out.append(f"${positional}")
        elif kind == "percent":
            out.append("%")
        else:
            raise ProgrammingError(
                f"only %s, %(name)s and %% may follow a %, not {match.group()!r} "
                f"(at character {match.start() + 1})"
            )
        pos = end
    out.append(sql[pos:])
    if names and positional:
        raise ProgrammingError("a statement mixes %s and %(name)s placeholders")
    return Converted("".join(out), tuple(names) if names else None, positional)


def _block_end(sql: str, start: int) -> int:
    """The end of the /* */ comment at `start`; PostgreSQL's comments nest."""
    depth = 0
    pos = start
    while True:
        opening = sql.find("/*", pos)
        closing = sql.find("*/", pos)
        if closing < 0:
            raise ProgrammingError(f"unterminated /* comment (at character {start + 1})")
        if 0 <= opening < closing:
            depth += 1
            pos = opening + 2
            continue
        depth -= 1
        pos = closing + 2
        if depth == 0:
            return pos


def _dollar_end(sql: str, body: int, tag: str) -> int:
    """The end of a dollar-quoted body that starts at `body` and ends at `tag` again."""
    closing = sql.find(tag, body)
    if closing < 0:
        raise ProgrammingError(f"unterminated dollar-quoted string {tag}")
    return closing + len(tag)


_ROWLESS = frozenset(
    [
        "ALTER",
        "ANALYZE",
        "BEGIN",
        "CHECKPOINT",
        "CLOSE",
        "CLUSTER",
        "COMMENT",
        "COMMIT",
        "CREATE",
        "DEALLOCATE",
        "DECLARE",
        "DELETE",
        "DISCARD",
        "DO",
        "DROP",
        "END",
        "GRANT",
        "IMPORT",
        "INSERT",
        "LISTEN",
        "LOAD",
        "LOCK",
        "MERGE",
        "NOTIFY",
        "PREPARE",
        "REASSIGN",
        "REFRESH",
        "REINDEX",
        "RELEASE",
        "RESET",
        "REVOKE",
        "ROLLBACK",
        "SAVEPOINT",
        "SECURITY",
        "SET",
        "START",
        "TRUNCATE",
        "UNLISTEN",
        "UPDATE",
        "VACUUM",
    ]
)
"""First keywords of statements that return no rows (without RETURNING): run as `exec`
so their count is known. Anything else (SELECT, WITH, VALUES, SHOW, EXPLAIN, TABLE,
FETCH, CALL, EXECUTE, ...) runs as `query`, so no row is ever lost."""

_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*|\(|/\*.*?\*/)*([A-Za-z]+)", re.DOTALL)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def returns_rows(sql: str) -> bool:
    """Whether to run `sql` as a `query` (rows wanted) rather than an `exec` (count wanted).

    The protocol makes the client choose: a query of an INSERT answers no count, an
    exec of a SELECT drops its rows. `sql` here is already converted; RETURNING is
    looked for outside literals and comments.
    """
    match = _FIRST_WORD.match(sql)
    if match is None or match.group(1).upper() not in _ROWLESS:
        return True
    return _RETURNING.search(_code_only(sql)) is not None


def _code_only(sql: str) -> str:
    """`sql` with its literals, quoted identifiers, comments and dollar bodies blanked."""
    out: list[str] = []
    pos = 0
    while (match := _TOKEN.search(sql, pos)) is not None:
        out.append(sql[pos : match.start()])
        kind = match.lastgroup
        end = match.end()
        if kind == "block":
            end = _block_end(sql, match.start())
        elif kind == "dollar":
            end = _dollar_end(sql, end, match.group("dollar"))
        if kind in ("block", "dollar", "string", "line"):
            out.append(" ")
        else:
            out.append(match.group())
        pos = end
    out.append(sql[pos:])
    return "".join(out)
