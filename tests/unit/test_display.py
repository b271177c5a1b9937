"""What notebooks show: collected rows and QueryResult as HTML tables, errors with SQLSTATE."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from typing import Any

from ppg_edge import CollectableIterator, Column, DatabaseError, QueryResult, Row, Rows
from ppg_edge._display import CELL_CHARS, HTML_ROWS


def cells(table: str) -> list[list[str]]:
    """The body cells of a rendered table, unescaped."""
    body = table.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        [html.unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def headers(table: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", table)]


def caption(table: str) -> str:
    return html.unescape(table.rsplit("<p>", 1)[1].removesuffix("</p>"))


async def batches(*groups: list[Any]) -> AsyncIterator[list[Any]]:
    for group in groups:
        yield group


def test_dict_rows_show_their_keys_and_values() -> None:
    table = Rows([{"id": 1, "name": "Ann"}, {"id": 2, "name": None}])._repr_html_()
    assert headers(table) == ["id", "name"]
    assert cells(table) == [["1", "Ann"], ["2", "<i>NULL</i>"]]
    assert caption(table) == "2 rows"


def test_only_the_first_rows_are_shown_with_the_total_count() -> None:
    table = Rows([{"n": n} for n in range(100_000)])._repr_html_()
    assert [row[0] for row in cells(table)] == [str(n) for n in range(HTML_ROWS)]
    assert caption(table) == f"{HTML_ROWS} of 100,000 rows"
    assert caption(Rows([{"n": 1}])._repr_html_()) == "1 row"


def test_headers_and_values_are_html_escaped() -> None:
    hostile = "<script>alert('x')</script> & \"quoted\""
    table = Rows([{hostile: hostile, "<b>": b"<i>"}])._repr_html_()
    assert "<script>" not in table and "<b>" not in table and "<i>'" not in table
    assert headers(table) == [hostile, "<b>"]
    assert cells(table) == [[hostile, "b'<i>'"]]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quoted&quot;" in table


def test_long_values_are_cut() -> None:
    (value,) = cells(Rows([{"t": "x" * 10_000}])._repr_html_())[0]
    assert value == "x" * CELL_CHARS + "\N{HORIZONTAL ELLIPSIS}"


def test_low_level_rows_take_the_column_names() -> None:
    columns = [Column("id", 23), Column("tag", 25)]
    table = Rows([Row([1, "<a>"])], columns)._repr_html_()
    assert headers(table) == ["id", "tag"]
    assert cells(table) == [["1", "<a>"]]
    assert headers(Rows([], columns)._repr_html_()) == ["id", "tag"]
    assert headers(Rows([Row([1, 2])])._repr_html_()) == ["1", "2"]


def test_other_items_show_in_one_column() -> None:
    table = Rows(["<x>", 2])._repr_html_()
    assert headers(table) == ["value"]
    assert cells(table) == [["<x>"], ["2"]]


def test_rows_are_still_a_list() -> None:
    rows = Rows([{"a": 1}])
    assert rows == [{"a": 1}] and isinstance(rows, list)
    assert repr(rows) == "[{'a': 1}]"


async def test_collect_returns_rows_with_the_query_columns() -> None:
    columns = [Column("n", 23)]
    result = QueryResult(columns, CollectableIterator(batches([Row([1])], [Row([2])])))
    collected = await result.rows.collect()
    assert isinstance(collected, Rows)
    assert collected.columns == columns
    assert cells(collected._repr_html_()) == [["1"], ["2"]]


async def test_a_query_result_shows_its_columns_and_how_far_it_was_read() -> None:
    columns = [Column("id", 23), Column("<name>", 25)]
    result = QueryResult(columns, CollectableIterator(batches([Row([1]), Row([2])], [Row([3])])))
    table = result._repr_html_()
    assert headers(table) == ["id", "<name>"]
    assert "<tbody>" not in table
    assert caption(table) == (
        "QueryResult: 2 columns; 0 rows read, more stream in through result.rows"
    )
    await anext(result.rows)
    assert "1 rows read, more stream" in caption(result._repr_html_())
    await result.rows.aclose()
    assert caption(result._repr_html_()).endswith("1 rows read, finished")


async def test_consumed_counts_what_was_handed_out() -> None:
    rows = CollectableIterator(batches([1, 2, 3], [4]))
    assert (rows.consumed, rows.closed) == (0, False)
    assert await anext(rows) == 1
    assert rows.consumed == 1
    assert await rows.collect() == [2, 3, 4]
    assert (rows.consumed, rows.closed) == (4, True)


def test_database_error_message_carries_the_sqlstate() -> None:
    error = DatabaseError("division by zero", "22012", {"severity": "ERROR"})
    assert str(error) == "division by zero (SQLSTATE 22012)"
    assert error.message == "division by zero"
    assert repr(error) == "DatabaseError(code='22012', message='division by zero')"
    assert str(DatabaseError("no code given", "")) == "no code given"
