"""HTML tables for notebooks: how Jupyter shows collected rows and a QueryResult.

Jupyter calls an object's `_repr_html_()` to show it; these functions build that
HTML. A table shows at most `HTML_ROWS` rows and says how many there are, so a
million collected rows do not become a million-row page; every header and value
is HTML-escaped, so a value such as `<script>` is shown, never run.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

HTML_ROWS = 20
"""Rows a table shows; the rest is only counted."""

CELL_CHARS = 200
"""Characters a cell shows before it is cut with an ellipsis."""

_TABLE_STYLE = "ppg-edge-rows"


def html_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str, body: bool = True
) -> str:
    """A table with escaped headers and cells, then a caption line (already plain text)."""
    head = "".join(f"<th>{_escape(name)}</th>" for name in headers)
    parts = [f'<table class="{_TABLE_STYLE}">', f"<thead><tr>{head}</tr></thead>"]
    if body:
        parts.append("<tbody>")
        parts.extend("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
        parts.append("</tbody>")
    parts.append("</table>")
    parts.append(f"<p>{_escape(caption)}</p>")
    return "".join(parts)


def count_caption(shown: int, total: int) -> str:
    """The count line: "3 rows", or "20 of 100,000 rows" when only some are shown."""
    noun = "row" if total == 1 else "rows"
    if shown < total:
        return f"{shown:,} of {total:,} {noun}"
    return f"{total:,} {noun}"


def _cell(value: Any) -> str:
    if value is None:
        return "<td><i>NULL</i></td>"
    text = value if isinstance(value, str) else str(value)
    if len(text) > CELL_CHARS:
        text = text[:CELL_CHARS] + "\N{HORIZONTAL ELLIPSIS}"
    return f"<td>{_escape(text)}</td>"


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
