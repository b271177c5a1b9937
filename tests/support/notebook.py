"""The example notebook (examples/notebook/ppg_edge.ipynb) and what each of its cells shows.

Two tests run that very notebook: in JupyterLite, driven through JupyterLab in
Chromium (tests/notebook/), and in CPython's IPython (tests/driver/). Both reduce a
cell's output to a `CellOutput` and check it against `EXPECTED`, so the example
cannot drift from what the driver does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
NOTEBOOK = ROOT / "examples" / "notebook" / "ppg_edge.ipynb"

FRAME_HEADER = re.compile(r"^(?:File (\S+):\d+, in |(Cell) In\[\d+\], line )", re.MULTILINE)
"""A frame's first line in IPython's default ("Context") traceback."""


@dataclass
class Table:
    """An HTML table as a reader sees it: header texts, cell texts, the count line."""

    headers: list[str]
    rows: list[list[str]]
    caption: str


@dataclass
class CellOutput:
    """What one code cell showed: its text (prints, reprs, tracebacks) and its tables."""

    text: str
    tables: list[Table] = field(default_factory=list)


def code_cells() -> list[str]:
    """The sources of the notebook's code cells, in order."""
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


class _TableParser(HTMLParser):
    """Collects the tables of `Rows._repr_html_()`-style HTML (and the line after each)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[Table] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._caption: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append(Table([], [], ""))
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "p" and self.tables:
            self._caption = []

    def handle_endtag(self, tag: str) -> None:
        table = self.tables[-1] if self.tables else None
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None and table is not None:
            text = "".join(self._cell)
            if tag == "th":
                table.headers.append(text)
            elif self._row is not None:
                self._row.append(text)
            self._cell = None
        elif tag == "tr" and self._row is not None and table is not None:
            table.rows.append(self._row)
            self._row = None
        elif tag == "p" and self._caption is not None and table is not None:
            table.caption = "".join(self._caption)
            self._caption = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._caption):
            if sink is not None:
                sink.append(data)


def tables_in(html: str) -> list[Table]:
    parser = _TableParser()
    parser.feed(html)
    return parser.tables


def frames_shown(traceback: str) -> list[str]:
    """The frames a traceback shows: "Cell" for the cell, else the frame's file."""
    return [cell or path for path, cell in FRAME_HEADER.findall(traceback)]


def _lines(output: CellOutput) -> list[str]:
    return [line.strip() for line in output.text.strip().splitlines() if line.strip()]


def _check_install(output: CellOutput) -> None:
    assert re.search(r"^ppg_edge 0\.1\.0", output.text, re.MULTILINE), output.text


def _check_connect(output: CellOutput) -> None:
    """The client's repr (after the answered prompts, where there were prompts)."""
    assert re.fullmatch(
        r"Database\(ClientConfig\(endpoint='http://127\.0\.0\.1:\d+', username='\w+', "
        r"database='\w+', parsers=\d+, serializers=\d+, timeout=30\.0, "
        r"connect_timeout=10\.0\)\)",
        _lines(output)[-1],
    ), output.text


def _check_query(output: CellOutput) -> None:
    squares = [[str(n), str(n * n), "*" * n] for n in range(1, 6)]
    assert output.tables == [Table(["n", "square", "bar"], squares, "5 rows")], output


def _check_stream(output: CellOutput) -> None:
    pattern = r"streamed 100,000 rows \(sum 5,000,050,000\) in \d+\.\d\d s"
    assert re.fullmatch(pattern, output.text.strip()), output.text


def _check_transaction(output: CellOutput) -> None:
    notes = [["1", "hello"], ["2", "<b>not bold</b>"]]
    assert output.tables == [Table(["id", "body"], notes, "2 rows")], output


def _check_pipeline(output: CellOutput) -> None:
    assert _lines(output) == ["5 statements pipelined, 1 backend: [1, 2, 3, 4, 5]"], output


def _check_caught(output: CellOutput) -> None:
    assert _lines(output) == [
        "caught: division by zero (SQLSTATE 22012)",
        "code: 22012 severity: ERROR",
    ], output


def _check_timeout(output: CellOutput) -> None:
    expected = "timed out: the statement did not finish within its 1 s timeout"
    assert _lines(output) == [expected], output


def _check_break(output: CellOutput) -> None:
    assert _lines(output)[0] == "stopped after 3 of 10,000,000 rows", output
    assert output.tables == [Table(["status"], [["still connected"]], "1 row")], output


def _check_uncaught(output: CellOutput) -> None:
    frames = frames_shown(output.text)
    assert len(frames) == 2 and frames[0] == "Cell", output.text
    assert "/ppg_edge/" in frames[1], output.text
    assert "[... skipping hidden" in output.text
    message = 'UndefinedTable: relation "no_such_table" does not exist (SQLSTATE 42P01)'
    assert _lines(output)[-1] == message, output.text


EXPECTED: dict[str, Callable[[CellOutput], None]] = {
    "install": _check_install,
    "connect": _check_connect,
    "query": _check_query,
    "stream 100,000 rows": _check_stream,
    "transaction": _check_transaction,
    "pipelined session": _check_pipeline,
    "caught DatabaseError": _check_caught,
    "timeout": _check_timeout,
    "break out of a stream": _check_break,
    "uncaught DatabaseError": _check_uncaught,
}
"""One check per code cell, in the notebook's order."""


def check_outputs(outputs: list[CellOutput]) -> None:
    """Every cell showed what it should (the notebook has exactly these cells)."""
    assert len(outputs) == len(EXPECTED), [o.text[:80] for o in outputs]
    for (name, check), output in zip(EXPECTED.items(), outputs, strict=True):
        try:
            check(output)
        except AssertionError as error:
            raise AssertionError(f"cell {name!r}: {error}") from None
