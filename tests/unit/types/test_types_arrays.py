"""The array-literal parser and renderer, including hypothesis round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ppg_edge.core.types.arrays import _parse_nested, parse_array, quote_element, render_array


def pg_render(value: Any) -> str:
    """An independent rendering of nested lists, following PostgreSQL's array_out rules."""
    if isinstance(value, list):
        return "{" + ",".join(pg_render(item) for item in value) + "}"
    if value is None:
        return "NULL"
    special = any(c in '{},"\\' or c in " \t\n\r\v\f" for c in value)
    if value == "" or value.lower() == "null" or special:
        return '"' + "".join("\\" + c if c in '"\\' else c for c in value) + '"'
    return str(value)


texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
items = st.one_of(
    st.none(), texts, st.sampled_from(["NULL", "null", "", " ", '"', "\\", "{}", "\xa0", "a\x85"])
)


@st.composite
def rectangular(draw: st.DrawFn) -> list[Any]:
    """An n-D rectangular array (1 to 3 dimensions) of strings and NULLs."""
    shape = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))

    def build(dims: list[int]) -> list[Any]:
        if len(dims) == 1:
            return draw(st.lists(items, min_size=dims[0], max_size=dims[0]))
        return [build(dims[1:]) for _ in range(dims[0])]

    return build(shape)


@given(rectangular())
def test_parse_round_trips_postgres_rendering(value: list[Any]) -> None:
    assert parse_array(pg_render(value)) == value


@given(rectangular())
def test_render_matches_postgres_rendering(value: list[Any]) -> None:
    assert render_array(value) == pg_render(value)


@given(st.lists(st.one_of(st.none(), st.integers()), max_size=20))
def test_int_arrays_with_element_parser(value: list[int | None]) -> None:
    text = pg_render([None if v is None else str(v) for v in value])
    assert parse_array(text, int) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", []),
        ("{1,2,NULL}", ["1", "2", None]),
        ('{"a b","c\\"d",NULL,"NULL"}', ["a b", 'c"d', None, "NULL"]),
        ("{{1,2},{3,4}}", [["1", "2"], ["3", "4"]]),
        ("[0:1]={a,b}", ["a", "b"]),
        ("[-2:-1][1:1]={{x},{y}}", [["x"], ["y"]]),
        ('{""}', [""]),
        ("{ a , b }", ["a", "b"]),
        ("{null,Null}", [None, None]),
        ('{"\\\\x0102"}', ["\\x0102"]),
        ('{"{\\"k\\": [1, 2]}"}', ['{"k": [1, 2]}']),
        ("{a\\,b}", ["a,b"]),
    ],
)
def test_parse_examples(text: str, expected: list[Any]) -> None:
    assert parse_array(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "}",
        "x",
        "{a,,b}",
        "{a}}",
        "{a} x",
        "{a b",
        "{,}",
        "{a,}",
        "{{a}{b}}",
        '{"a"b}',
        '{"a}',
        "[1:2]{a,b}",
        "[x]={a}",
        "{{a},b",
    ],
)
def test_malformed_literals_raise_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_array(text)


def test_element_parser_is_not_called_for_null() -> None:
    seen: list[str] = []

    def record(text: str) -> str:
        seen.append(text)
        return text

    assert parse_array('{NULL,"x"}', record) == [None, "x"]
    assert seen == ["x"]


def test_quote_element() -> None:
    assert quote_element("abc") == "abc"
    assert quote_element("NuLl") == '"NuLl"'
    assert quote_element("") == '""'
    assert quote_element('a"\\') == '"a\\"\\\\"'
    assert quote_element("a\tb") == '"a\tb"'


@given(st.text(st.sampled_from('{},"\\ \tabNULnul1é'), max_size=16))
def test_fast_paths_agree_with_the_general_parser(text: str) -> None:
    """The 1-D shortcuts must accept and reject exactly what the token loop does."""
    try:
        expected: Any = _parse_nested(text, None)
    except ValueError:
        expected = ValueError
    try:
        actual: Any = parse_array(text)
    except ValueError:
        actual = ValueError
    assert actual == expected


@given(rectangular())
def test_fast_paths_agree_on_valid_arrays(value: list[Any]) -> None:
    text = pg_render(value)
    assert parse_array(text) == _parse_nested(text, None) == value
