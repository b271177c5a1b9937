"""The pytest plugin's fixtures as a project test uses them: ppg_page, ppg_db, ppg_gateway.

Python runs inside Chromium's Pyodide with the freshly built edge wheel; the
page is served from another origin than the gateway, which allows exactly it.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from ppg_edge_gateway.testing.page import PagePythonError, PyodidePage

pytestmark = pytest.mark.timeout(600)  # the first test boots Pyodide


async def test_python_runs_in_pyodide_with_the_wheel(ppg_page: PyodidePage) -> None:
    seen = await ppg_page.run_python(
        """
        import sys, ppg_edge
        async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
            rows = await db.sql(t"SELECT {41}::int + 1 AS answer").collect()
        {"platform": sys.platform, "file": ppg_edge.__file__, "rows": rows}
        """
    )
    assert seen["platform"] == "emscripten"
    assert seen["file"].endswith("site-packages/ppg_edge/__init__.py")
    assert seen["rows"] == [{"answer": 42}]


async def test_seeded_rows_are_read_and_written_back_from_the_page(
    ppg_page: PyodidePage, ppg_db: Any
) -> None:
    ppg_db.execute("DROP TABLE IF EXISTS plugin_notes")
    ppg_db.execute("CREATE TABLE plugin_notes (id int PRIMARY KEY, body text NOT NULL)")
    ppg_db.execute("INSERT INTO plugin_notes VALUES (1, 'seeded'), (2, 'by psycopg')")
    seen = await ppg_page.run_python(
        """
        import asyncio, ppg_edge
        async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
            over_http = await db.query("SELECT body FROM plugin_notes ORDER BY id").collect()
            async with db.transaction() as tx:
                await tx.exec("INSERT INTO plugin_notes VALUES ($1, $2)", 3, new_body)
        cl = ppg_edge.client(DATABASE_URL, endpoint=ENDPOINT)
        async with cl, await cl.new_session() as session:
            queries = [session.query("SELECT $1::int AS n", i) for i in range(3)]
            answers = await asyncio.gather(*queries)
            pipelined = [(await a.rows.collect())[0].values[0] for a in answers]
        {"http": [r["body"] for r in over_http], "pipelined": pipelined}
        """,
        new_body="from the page",
    )
    assert seen == {"http": ["seeded", "by psycopg"], "pipelined": [0, 1, 2]}
    rows = ppg_db.execute("SELECT id, body FROM plugin_notes ORDER BY id").fetchall()
    assert rows == [(1, "seeded"), (2, "by psycopg"), (3, "from the page")]


async def test_each_run_has_a_fresh_namespace_and_its_own_output(ppg_page: PyodidePage) -> None:
    assert await ppg_page.run_python("leftover = 1\nprint('one'); leftover") == 1
    assert ppg_page.stdout == "one\n"
    code = "import sys\nprint('to stderr', file=sys.stderr)\n'leftover' in globals()"
    assert await ppg_page.run_python(code) is False
    assert ppg_page.stdout == ""
    assert ppg_page.stderr == "to stderr\n"


async def test_an_exception_in_the_page_is_raised_with_its_traceback(
    ppg_page: PyodidePage,
) -> None:
    code = """
    import ppg_edge
    print("before the error")
    async with ppg_edge.connect(DATABASE_URL, endpoint=ENDPOINT) as db:
        await db.query("SELECT * FROM no_such_table").collect()
    """
    with pytest.raises(PagePythonError) as raised:
        await ppg_page.run_python(code)
    error = raised.value
    assert error.type_name == "UndefinedTable"
    assert error.code == "42P01"
    assert 'relation "no_such_table" does not exist' in error.message
    assert 'File "<test>", line 5' in error.page_traceback
    assert error.stdout == "before the error\n"
    assert str(error).startswith('UndefinedTable: relation "no_such_table" does not exist')
    assert "traceback in the page:" in str(error)


async def test_a_result_that_is_not_json_is_refused_readably(ppg_page: PyodidePage) -> None:
    with pytest.raises(PagePythonError, match="not JSON-serializable"):
        await ppg_page.run_python("object()")


async def test_a_run_is_bounded_by_its_timeout(ppg_page: PyodidePage) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not finish in 1 s"):
        await ppg_page.run_python("import asyncio\nawait asyncio.sleep(30)", timeout=1)
    assert time.monotonic() - started < 10
    assert await ppg_page.run_python("'still usable'") == "still usable"


async def test_the_page_is_another_origin_that_the_gateway_allows(
    ppg_page: PyodidePage, ppg_site: Any, ppg_gateway: Any
) -> None:
    assert ppg_page.page.url.startswith(ppg_site.origin + "/__ppg__/")
    assert ppg_site.origin != ppg_gateway.url
    # A CORS request without credentials: the page may read the answer (a 401) only
    # because the gateway allowed its origin; otherwise fetch itself would fail.
    status = await ppg_page.page.evaluate(
        """async (url) => {
            const answer = await fetch(url + "/v0/statement", {method: "POST", body: "x",
                headers: {"Content-Type": "application/x-www-form-urlencoded"}});
            return answer.status;
        }""",
        ppg_gateway.url,
    )
    assert status == 401
