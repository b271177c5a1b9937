"""The synchronous face, ppg_edge.dbapi and the SQLAlchemy dialect inside Chromium's Pyodide.

With JSPI (Chromium >= 137; the page runs code from a coroutine, so
`can_run_sync()` holds) the sync face blocks through `run_sync`: it streams and
pipelines like the async one. Called from JavaScript synchronously, JSPI cannot
suspend: HTTP statements then go over synchronous XMLHttpRequest, and sessions
fail with NotSupportedError. SQLAlchemy is PyPI's pure wheel, installed in the
page from the test site (pandas needs Pyodide's own numpy build, which no
registry here serves, so it is tested on CPython only).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ppg_edge_gateway.testing.page import PyodidePage

pytestmark = pytest.mark.timeout(600)  # the first test boots Pyodide

PURE_WHEELS = ("sqlalchemy", "typing_extensions")


@pytest.fixture(scope="session")
def page_wheels(ppg_wheel: Path) -> list[str]:
    """SQLAlchemy's pure wheel and its one dependency, beside the edge wheel the site serves."""
    import sqlalchemy

    folder = ppg_wheel.parent
    wanted = [f"sqlalchemy=={sqlalchemy.__version__}", "typing_extensions"]
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
    command += ["--only-binary=:all:", "--platform", "any", "--implementation", "py"]
    command += ["--python-version", "3.14", "-d", str(folder), *wanted]
    subprocess.run(command, check=True, timeout=300)
    names = sorted(
        path.name
        for path in folder.glob("*.whl")
        if path.name.lower().startswith(PURE_WHEELS) and path.name.endswith("-py3-none-any.whl")
    )
    assert len(names) == 2, names
    return names


INSTALL = """
import pyodide_js
for name in WHEELS:
    await pyodide_js.loadPackage(WHEEL_BASE + name)
None
"""


async def install(page: PyodidePage, wheels: list[str]) -> None:
    """Install the pure wheels from the test site into the page (npm's Pyodide has no micropip)."""
    base = page.page.url.split("/__ppg__/")[0] + "/wheels/"
    await page.run_python(INSTALL, WHEELS=wheels, WHEEL_BASE=base)


async def test_sync_face_streams_and_pipelines_through_jspi(ppg_page: PyodidePage) -> None:
    seen = await ppg_page.run_python(
        """
        import ppg_edge
        from pyodide.ffi import can_run_sync
        with ppg_edge.connect_sync(DATABASE_URL, endpoint=ENDPOINT) as db:
            total = sum(row["n"] for row in db.query("SELECT n FROM generate_series(1, 20000) n"))
            with db.transaction() as tx:
                inside = tx.query("SELECT $1::int AS n", 7).collect()
        client = ppg_edge.client_sync(DATABASE_URL, endpoint=ENDPOINT)
        with client, client.new_session() as session:
            answers = [session.query("SELECT $1::int AS n", i) for i in range(5)]
            pipelined = [a.rows.collect()[0].values[0] for a in answers]
        {"jspi": can_run_sync(), "total": total, "inside": inside, "pipelined": pipelined}
        """
    )
    assert seen == {
        "jspi": True,
        "total": 20000 * 20001 // 2,
        "inside": [{"n": 7}],
        "pipelined": [0, 1, 2, 3, 4],
    }


async def test_without_jspi_http_goes_over_sync_xhr_and_sessions_fail_clearly(
    ppg_page: PyodidePage,
) -> None:
    seen = await ppg_page.run_python(
        """
        import js, ppg_edge
        from pyodide.ffi import can_run_sync, create_proxy

        def blocking():
            # Called by JavaScript synchronously: no promising stack, so no JSPI here.
            out = {"jspi": can_run_sync()}
            with ppg_edge.connect_sync(DATABASE_URL, endpoint=ENDPOINT) as db:
                three = "SELECT n, 'é' || n AS t FROM generate_series(1, 3) n"
                out["rows"] = db.query(three).collect()
                out["count"] = len(db.query("SELECT n FROM generate_series(1, 50000) n").collect())
                try:
                    with db.transaction() as tx:
                        tx.exec("SELECT 1")
                except ppg_edge.NotSupportedError as exc:
                    out["session"] = [type(exc).__name__, str(exc)]
                try:
                    db.query("SELECT 1/0").collect()
                except ppg_edge.DatabaseError as exc:
                    out["error"] = exc.code
            return out

        call = js.Function.new("f", "return f();")
        proxy = create_proxy(blocking)
        try:
            result = call(proxy)
        finally:
            proxy.destroy()
        result
        """
    )
    assert seen["jspi"] is False
    assert seen["rows"] == [{"n": 1, "t": "é1"}, {"n": 2, "t": "é2"}, {"n": 3, "t": "é3"}]
    assert seen["count"] == 50000
    assert seen["session"][0] == "NotSupportedError"
    assert "need JSPI" in seen["session"][1] and "XMLHttpRequest" in seen["session"][1]
    assert seen["error"] == "22012"


async def test_dbapi_and_sqlalchemy_core_and_orm_in_the_page(
    ppg_page: PyodidePage, ppg_db: Any, page_wheels: list[str]
) -> None:
    ppg_db.execute("DROP TABLE IF EXISTS page_notes")
    await install(ppg_page, page_wheels)
    seen = await ppg_page.run_python(
        """
        import ppg_edge.dbapi
        import sqlalchemy as sa
        from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

        conn = ppg_edge.dbapi.connect(DATABASE_URL, endpoint=ENDPOINT)
        cur = conn.cursor()
        cur.execute("CREATE TABLE page_notes (id int PRIMARY KEY, body text NOT NULL)")
        cur.executemany("INSERT INTO page_notes VALUES (%s, %s)", [(1, "one"), (2, "two")])
        conn.commit()
        cur.execute("SELECT id, body FROM page_notes ORDER BY id")
        dbapi_rows = [list(row) for row in cur.fetchall()]
        description = [column[0] for column in cur.description]
        conn.close()

        class Base(DeclarativeBase):
            pass

        class Note(Base):
            __tablename__ = "page_notes"
            id: Mapped[int] = mapped_column(primary_key=True)
            body: Mapped[str]

        engine = sa.create_engine(
            "postgresql+ppg_edge://" + DATABASE_URL.split("://", 1)[1].split("?")[0],
            connect_args={"endpoint": ENDPOINT},
        )
        with engine.connect() as connection:
            core = connection.execute(sa.text("SELECT count(*) FROM page_notes")).scalar_one()
        with Session(engine) as orm:
            orm.add(Note(id=3, body="from the ORM"))
            orm.commit()
            bodies = [note.body for note in orm.scalars(sa.select(Note).order_by(Note.id))]
        tables = sa.inspect(engine).get_table_names()
        engine.dispose()
        {"dbapi": dbapi_rows, "description": description, "core": core, "orm": bodies,
         "reflected": "page_notes" in tables}
        """,
        WHEELS=page_wheels,
    )
    assert seen == {
        "dbapi": [[1, "one"], [2, "two"]],
        "description": ["id", "body"],
        "core": 2,
        "orm": ["one", "two", "from the ORM"],
        "reflected": True,
    }
    rows = ppg_db.execute("SELECT id, body FROM page_notes ORDER BY id").fetchall()
    assert rows == [(1, "one"), (2, "two"), (3, "from the ORM")]
