"""The DB-API face's paramstyle converter (`%s` / `%(name)s` -> `$n`) and its choice
between a query and an exec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppg_edge.core.errors import ProgrammingError
from ppg_edge.dbapi._placeholders import convert, returns_rows


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT %s, %s", "SELECT $1, $2"),
        ("SELECT %(a)s, %(b)s, %(a)s", "SELECT $1, $2, $1"),
        ("SELECT 'it''s %s', %s", "SELECT 'it''s %s', $1"),
        ("SELECT E'\\' %s', %s", "SELECT E'\\' %s', $1"),
        ('SELECT "%s", %s', 'SELECT "%s", $1'),
        ("SELECT 1 -- %s\n, %s", "SELECT 1 -- %s\n, $1"),
        ("SELECT /* a /* nested %s */ %s */ %s", "SELECT /* a /* nested %s */ %s */ $1"),
        ("SELECT $$ %s $$, $fn$ %s $x$ %s $fn$, %s", "SELECT $$ %s $$, $fn$ %s $x$ %s $fn$, $1"),
        ("SELECT 5 %% 2, %s", "SELECT 5 % 2, $1"),
        ("SELECT 'a%%b' LIKE %s", "SELECT 'a%b' LIKE $1"),  # SQLAlchemy doubles % in literals
        ("SELECT '100%' , %s", "SELECT '100%' , $1"),
        ("SELECT a$b, %s", "SELECT a$b, $1"),
        ("SELECT $1::int", "SELECT $1::int"),
    ],
)
def test_placeholders_outside_literals_become_dollar_n(sql: str, expected: str) -> None:
    assert convert(sql).sql == expected


def test_values_come_in_dollar_order() -> None:
    named = convert("SELECT %(b)s, %(a)s, %(b)s")
    assert named.values({"a": 1, "b": 2, "unused": 3}) == [2, 1]
    assert convert("SELECT %s, %s").values((1, 2)) == [1, 2]
    assert convert("SELECT 1").values(()) == []
    assert convert("SELECT 1").values({}) == []


@pytest.mark.parametrize(
    ("sql", "params", "message"),
    [
        ("SELECT %s", (1, 2), "1 placeholders but 2 parameters"),
        ("SELECT %s, %s", (1,), "2 placeholders but 1 parameters"),
        ("SELECT %(a)s", {"b": 1}, "no parameter named 'a'"),
        ("SELECT %(a)s", (1,), "take a mapping"),
        ("SELECT %s", {"a": 1}, "take a sequence"),
    ],
)
def test_parameters_that_do_not_fit_are_programming_errors(
    sql: str, params: object, message: str
) -> None:
    with pytest.raises(ProgrammingError, match=message):
        convert(sql).values(params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT %s, %(a)s", "mixes"),
        ("SELECT %d", "not '%d'"),
        ("SELECT 5 % 2", "not '% '"),
        ("SELECT 1 /* open", "unterminated /"),
        ("SELECT $x$ open", "unterminated dollar"),
    ],
)
def test_malformed_statements_are_programming_errors(sql: str, message: str) -> None:
    with pytest.raises(ProgrammingError, match=message):
        convert(sql)


FRAGMENTS = st.sampled_from(
    ["'%s'", "'it''s'", '"%s"', "-- %s\n", "/* %s /* %s */ */", "$$%s$$", "$q$ %s $q$", " x "]
)


@given(st.lists(st.tuples(FRAGMENTS, st.booleans()), max_size=12))
def test_only_placeholders_outside_quoted_text_are_numbered(
    parts: list[tuple[str, bool]],
) -> None:
    # fragments are separated as in real SQL (a `$$` right after a word or a `$` is not
    # a dollar quote: identifiers may hold `$`)
    sql = "".join(
        f" {fragment}" + (" %s" if placeholder else "") for fragment, placeholder in parts
    )
    converted = convert(sql)
    wanted = sum(placeholder for _, placeholder in parts)
    assert converted.count == wanted
    expected = "".join(
        f" {fragment}" + (f" ${n}" if placeholder else "")
        for n, (fragment, placeholder) in zip(_numbers(parts), parts, strict=True)
    )
    assert converted.sql == expected


def _numbers(parts: list[tuple[str, bool]]) -> list[int]:
    numbers, n = [], 0
    for _, placeholder in parts:
        n += placeholder
        numbers.append(n)
    return numbers


@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT 1", True),
        ("  (SELECT 1) UNION (SELECT 2)", True),
        ("with x as (select 1) select * from x", True),
        ("VALUES (1), (2)", True),
        ("SHOW TimeZone", True),
        ("EXPLAIN SELECT 1", True),
        ("INSERT INTO t VALUES (1)", False),
        ("insert into t values (1) returning id", True),
        ("UPDATE t SET a = 'RETURNING'", False),
        ("UPDATE t SET a = 1 -- returning\n", False),
        ('UPDATE t SET "returning" = 1', False),
        ("/* lead */ DELETE FROM t", False),
        ("DELETE FROM t RETURNING *", True),
        ("CREATE TABLE t (a int)", False),
        ("BEGIN", False),
        ("SET TIME ZONE 'UTC'", False),
        ("", True),
    ],
)
def test_query_or_exec(sql: str, rows: bool) -> None:
    assert returns_rows(sql) is rows
