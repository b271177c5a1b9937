"""The driver in CPython IPython, the shell classic Jupyter runs: short tracebacks, tables,
and the example notebook, cell by cell.

IPython hides the frames of functions whose locals set `__tracebackhide__` (all but
the innermost, where the exception was raised); the driver's frames set it, so an
uncaught error shows the cell's line, one driver line and the message with its
SQLSTATE, not seven frames of driver internals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.displayhook import DisplayHook
from IPython.core.interactiveshell import InteractiveShell

from tests.support.notebook import CellOutput, check_outputs, code_cells, frames_shown, tables_in

FAILING_CELLS = {
    "http query": (
        "await db.sql('SELECT 1/0 AS boom').collect()",
        "DivisionByZero: division by zero (SQLSTATE 22012)",
    ),
    "http stream": (
        "async for row in db.query('SELECT 1/(3 - g) FROM generate_series(1, 5) g'):\n    pass",
        "DivisionByZero: division by zero (SQLSTATE 22012)",
    ),
    "http exec": (
        "await db.exec('INSERT INTO no_such_table VALUES (1)')",
        'UndefinedTable: relation "no_such_table" does not exist (SQLSTATE 42P01)',
    ),
    "transaction": (
        "async with db.transaction() as tx:\n    await tx.exec('SELECT 1/0')",
        "DivisionByZero: division by zero (SQLSTATE 22012)",
    ),
    "batch": (
        "await db.batch(ppg_edge.Query('SELECT 1'), ppg_edge.Exec('SELECT 1/0'))",
        "DivisionByZero: division by zero (SQLSTATE 22012)",
    ),
    "timeout": (
        "await db.sql('SELECT pg_sleep(5)', timeout=0.2).collect()",
        "QueryTimeoutError: the statement did not finish within its 0.2 s timeout",
    ),
}


class PublishingDisplayHook(DisplayHook):
    """Keeps a cell's result as format data, the way a Jupyter kernel publishes it,
    instead of printing `Out[n]:` into the captured text."""

    published: dict[str, Any] | None = None

    def start_displayhook(self) -> None:
        self.published = None

    def write_output_prompt(self) -> None:
        """No prompt: a notebook shows none."""

    def write_format_data(self, format_dict: Any, md_dict: Any = None) -> None:
        self.published = format_dict


@pytest.fixture(scope="module")
def shell() -> Iterator[InteractiveShell]:
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(colors="nocolor", displayhook_class=PublishingDisplayHook)
    shell.run_line_magic("xmode", "Context")  # IPython's default mode
    yield shell
    InteractiveShell.clear_instance()


@pytest.fixture
def db_shell(shell: InteractiveShell, gateway: Any) -> Iterator[InteractiveShell]:
    setup = f"db = ppg_edge.connect({gateway.connection_string!r}, endpoint={gateway.url!r})"
    shell.run_cell(f"import ppg_edge\n{setup}", store_history=False).raise_error()
    yield shell
    shell.run_cell("await db.aclose()", store_history=False).raise_error()


def run_cell(
    shell: InteractiveShell, code: str, capsys: pytest.CaptureFixture[str]
) -> tuple[BaseException | None, CellOutput]:
    """Run one cell; its printed text, plus its result as a notebook would show it."""
    capsys.readouterr()
    result = shell.run_cell(code, store_history=True)
    output = CellOutput(capsys.readouterr().out)
    published = shell.displayhook.published if result.result is not None else None
    if published and "text/html" in published:
        output.tables = tables_in(published["text/html"])
    elif published:
        output.text += published["text/plain"]
    return result.error_in_exec, output


@pytest.mark.parametrize("case", FAILING_CELLS)
def test_uncaught_errors_show_the_cell_and_one_driver_frame(
    db_shell: InteractiveShell, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    code, last_line = FAILING_CELLS[case]
    error, output = run_cell(db_shell, code, capsys)
    assert error is not None
    frames = frames_shown(output.text)
    assert len(frames) == 2 and frames[0] == "Cell", output.text
    assert "/ppg_edge/" in frames[1], output.text
    assert "[... skipping hidden" in output.text
    assert output.text.rstrip().endswith(last_line), output.text


def test_collected_rows_display_as_an_html_table(
    db_shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "SELECT g, '<b>' || g AS tag FROM generate_series(1, 25) g"
    error, output = run_cell(db_shell, f"await db.sql({query!r}).collect()", capsys)
    assert error is None
    (table,) = output.tables
    assert table.headers == ["g", "tag"]
    assert table.rows == [[str(g), f"<b>{g}"] for g in range(1, 21)]
    assert table.caption == "20 of 25 rows"
    formats = db_shell.displayhook.published or {}
    assert "<td>1</td><td>&lt;b&gt;1</td>" in formats["text/html"]
    assert formats["text/plain"].startswith("[{'g': 1, 'tag': '<b>1'}")


def test_the_example_notebook_runs_on_cpython(
    shell: InteractiveShell,
    gateway: Any,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """examples/notebook/ppg_edge.ipynb as classic Jupyter runs it, every cell checked."""
    monkeypatch.setenv("PPG_URL", gateway.connection_string)
    monkeypatch.setenv("PPG_ENDPOINT", gateway.url)
    outputs = [run_cell(shell, source, capsys)[1] for source in code_cells()]
    try:
        check_outputs(outputs)
        assert all(gateway.password not in output.text for output in outputs)
    finally:
        shell.run_cell("await db.aclose()", store_history=False)
