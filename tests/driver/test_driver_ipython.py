"""The driver in CPython IPython, the shell classic Jupyter runs: short tracebacks, tables.

IPython hides the frames of functions whose locals set `__tracebackhide__` (all but
the innermost, where the exception was raised); the driver's frames set it, so an
uncaught error shows the cell's line, one driver line and the message with its
SQLSTATE, not seven frames of driver internals.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

FRAME_HEADER = re.compile(r"^(?:File (\S+):\d+, in |(Cell) In\[\d+\], line )", re.MULTILINE)

FAILING_CELLS = {
    "http query": (
        "await db.sql('SELECT 1/0 AS boom').collect()",
        "DatabaseError: division by zero (SQLSTATE 22012)",
    ),
    "http stream": (
        "async for row in db.query('SELECT 1/(3 - g) FROM generate_series(1, 5) g'):\n    pass",
        "DatabaseError: division by zero (SQLSTATE 22012)",
    ),
    "http exec": (
        "await db.exec('INSERT INTO no_such_table VALUES (1)')",
        'DatabaseError: relation "no_such_table" does not exist (SQLSTATE 42P01)',
    ),
    "transaction": (
        "async with db.transaction() as tx:\n    await tx.exec('SELECT 1/0')",
        "DatabaseError: division by zero (SQLSTATE 22012)",
    ),
    "batch": (
        "await db.batch(ppg_edge.Query('SELECT 1'), ppg_edge.Exec('SELECT 1/0'))",
        "DatabaseError: division by zero (SQLSTATE 22012)",
    ),
    "timeout": (
        "await db.sql('SELECT pg_sleep(5)', timeout=0.2).collect()",
        "QueryTimeoutError: the statement did not finish within its 0.2 s timeout",
    ),
}


@pytest.fixture
def shell(gateway: Any) -> Iterator[InteractiveShell]:
    shell = InteractiveShell.instance(colors="nocolor")
    shell.run_line_magic("xmode", "Context")  # IPython's default mode
    setup = f"db = ppg_edge.connect({gateway.connection_string!r}, endpoint={gateway.url!r})"
    shell.run_cell(f"import ppg_edge\n{setup}", store_history=False).raise_error()
    yield shell
    shell.run_cell("await db.aclose()", store_history=False).raise_error()


def run_cell(
    shell: InteractiveShell, code: str, capsys: pytest.CaptureFixture[str]
) -> tuple[BaseException | None, str]:
    capsys.readouterr()
    result = shell.run_cell(code, store_history=True)
    return result.error_in_exec, capsys.readouterr().out


@pytest.mark.parametrize("case", FAILING_CELLS)
def test_uncaught_errors_show_the_cell_and_one_driver_frame(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    code, last_line = FAILING_CELLS[case]
    error, out = run_cell(shell, code, capsys)
    assert error is not None
    frames = FRAME_HEADER.findall(out)
    assert len(frames) == 2, out
    assert frames[0] == ("", "Cell")
    assert "/ppg_edge/" in frames[1][0], out
    assert "[... skipping hidden" in out
    assert out.rstrip().endswith(last_line), out


def test_collected_rows_display_as_an_html_table(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "SELECT g, '<b>' || g AS tag FROM generate_series(1, 25) g"
    code = f"rows = await db.sql({query!r}).collect()"
    error, _ = run_cell(shell, code, capsys)
    assert error is None
    formats, _ = shell.display_formatter.format(shell.user_ns["rows"])
    table = formats["text/html"]
    assert table.startswith('<table class="ppg-edge-rows"><thead><tr><th>g</th><th>tag</th>')
    assert "<td>1</td><td>&lt;b&gt;1</td>" in table
    assert "<td>20</td>" in table and "<td>21</td>" not in table
    assert table.endswith("<p>20 of 25 rows</p>")
    assert formats["text/plain"].startswith("[{'g': 1, 'tag': '<b>1'}")
