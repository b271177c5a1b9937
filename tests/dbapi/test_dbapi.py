"""`ppg_edge.dbapi` against the real gateway: both modes, transactions begun lazily,
pipelined executemany (counted in round trips), streamed fetches in constant memory,
errors by SQLSTATE class, type objects and constructors."""

from __future__ import annotations

import datetime
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

import ppg_edge
import ppg_edge.dbapi as dbapi
import ppg_edge.errors as errors
from tests.dbapi.conftest import TableFactory
from tests.sync.conftest import DELAY

RTT = 2 * DELAY


def _count(direct: psycopg.Connection[Any], table: str) -> int:
    row = direct.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[call-overload]
    assert row is not None
    return int(row[0])


def test_module_globals_and_exceptions() -> None:
    assert (dbapi.apilevel, dbapi.threadsafety, dbapi.paramstyle) == ("2.0", 1, "pyformat")
    for name in ("Warning", "Error", "InterfaceError", "DatabaseError", "DataError"):
        assert getattr(dbapi, name) is getattr(ppg_edge, name)
        assert getattr(dbapi.Connection, name) is getattr(ppg_edge, name)
    assert dbapi.Error is ppg_edge.GenericError


def test_rows_description_and_rowcount_over_http(
    auto: dbapi.Connection, make_table: TableFactory
) -> None:
    table = make_table("id int PRIMARY KEY, name text, price numeric, at timestamptz")
    cur = auto.cursor()
    at = datetime.datetime(2024, 1, 2, tzinfo=datetime.UTC)
    cur.execute(
        f"INSERT INTO {table} VALUES (%s, %s, %s, %s), (%s, %s, %s, %s)",
        (1, "a", Decimal("1.50"), at, 2, "b%", None, None),
    )
    assert cur.rowcount == 2 and cur.description is None
    cur.execute(f"SELECT * FROM {table} WHERE name LIKE %(pattern)s ORDER BY id", {"pattern": "%"})
    assert [d[:2] for d in cur.description or []] == [
        ("id", 23),
        ("name", 25),
        ("price", 1700),
        ("at", 1184),
    ]
    kinds = [d.type_code for d in cur.description or []]
    assert kinds == [dbapi.NUMBER, dbapi.STRING, dbapi.NUMBER, dbapi.DATETIME]
    assert cur.rowcount == -1  # still streaming
    assert cur.fetchall() == [
        (1, "a", Decimal("1.50"), at),
        (2, "b%", None, None),
    ]
    assert cur.rowcount == 2
    cur.execute(f"UPDATE {table} SET name = 'x' WHERE id > %s", (0,))
    assert cur.rowcount == 2
    cur.execute(f"DELETE FROM {table} WHERE id = %s RETURNING name", (2,))
    assert cur.fetchall() == [("x",)]
    assert auto.client is not None


def test_transaction_begins_lazily_and_commits(
    conn: dbapi.Connection, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    cur = conn.cursor()
    assert not conn.in_transaction and conn._session is None  # nothing sent yet
    cur.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
    assert conn.in_transaction and cur.rowcount == 1
    cur.execute(f"SELECT count(*) FROM {table}")
    assert cur.fetchone() == (1,)
    assert _count(direct, table) == 0  # not committed yet
    conn.commit()
    assert _count(direct, table) == 1 and not conn.in_transaction
    cur.execute(f"INSERT INTO {table} VALUES (2)")
    conn.rollback()
    assert _count(direct, table) == 1
    cur.execute(f"SELECT count(*) FROM {table}")
    assert cur.fetchone() == (1,)
    session = conn._session
    conn.commit()
    assert conn._session is session and session is not None  # one session, kept


def test_failed_transaction_fails_until_rollback_and_never_commits(
    conn: dbapi.Connection, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int PRIMARY KEY")
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (1)")
    with pytest.raises(errors.UniqueViolation) as unique:
        cur.execute(f"INSERT INTO {table} VALUES (1)")
    assert isinstance(unique.value, dbapi.IntegrityError)
    with pytest.raises(errors.InFailedSqlTransaction):
        cur.execute("SELECT 1")
    with pytest.raises(errors.InFailedSqlTransaction):
        conn.commit()
    assert _count(direct, table) == 0
    cur.execute("SELECT 1")  # a new transaction
    assert cur.fetchone() == (1,)
    conn.rollback()


def test_autocommit_cannot_change_inside_a_transaction(conn: dbapi.Connection) -> None:
    conn.cursor().execute("SELECT 1")
    with pytest.raises(dbapi.ProgrammingError, match="commit first"):
        conn.autocommit = True
    conn.rollback()
    conn.autocommit = True
    assert conn.autocommit


def test_context_manager_commits_or_rolls_back_then_closes(
    gateway: Any, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    with dbapi.connect(gateway.connection_string, endpoint=gateway.url) as conn:
        conn.cursor().execute(f"INSERT INTO {table} VALUES (1)")
    assert conn.closed and _count(direct, table) == 1
    with (
        pytest.raises(RuntimeError),
        dbapi.connect(gateway.connection_string, endpoint=gateway.url) as conn,
    ):
        conn.cursor().execute(f"INSERT INTO {table} VALUES (2)")
        raise RuntimeError("boom")
    assert conn.closed and _count(direct, table) == 1


@pytest.mark.parametrize("autocommit", [False, True])
def test_executemany_is_one_round_trip(
    gateway: Any,
    slow_url: str,
    make_table: TableFactory,
    direct: psycopg.Connection[Any],
    autocommit: bool,
) -> None:
    table = make_table("n int, s text")
    rows = [(n, f"r{n}") for n in range(30)]
    conn = dbapi.connect(gateway.connection_string, endpoint=slow_url, autocommit=autocommit)
    try:
        cur = conn.cursor()
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", rows[:1])  # opens the session
        start = time.perf_counter()
        cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", rows[1:])
        elapsed = time.perf_counter() - start
        assert cur.rowcount == 29
        conn.commit()
    finally:
        conn.close()
    assert _count(direct, table) == 30
    # 29 statements one by one would take 29 round trips (5.8 s); pipelined, one.
    assert elapsed < 8 * RTT, elapsed


def test_executemany_in_autocommit_mode_is_all_or_nothing(
    auto: dbapi.Connection, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int PRIMARY KEY")
    cur = auto.cursor()
    with pytest.raises(errors.UniqueViolation):
        cur.executemany(f"INSERT INTO {table} VALUES (%(n)s)", [{"n": 1}, {"n": 2}, {"n": 1}])
    assert _count(direct, table) == 0
    cur.executemany(f"INSERT INTO {table} VALUES (%(n)s)", [{"n": n} for n in range(5)])
    assert cur.rowcount == 5 and _count(direct, table) == 5


@pytest.mark.parametrize("autocommit", [False, True])
def test_fetchmany_streams_in_constant_memory(gateway: Any, autocommit: bool) -> None:
    conn = dbapi.connect(gateway.connection_string, endpoint=gateway.url, autocommit=autocommit)
    sql = "SELECT g, repeat('x', 100) AS pad FROM generate_series(1, 200000) g"
    cur = conn.cursor()
    cur.execute("SELECT 1")  # the connection, its session and their buffers, before measuring
    cur.fetchall()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        cur.execute(sql)
        first = cur.fetchmany(1000)
        total = len(first)
        while batch := cur.fetchmany(1000):
            total += len(batch)
        peak = tracemalloc.get_traced_memory()[1]
        assert cur.rowcount == 200_000
    finally:
        tracemalloc.stop()
        conn.close()
    assert first[0] == (1, "x" * 100)
    assert total == 200_000
    # 200k rows of ~110 bytes are over 30 MB as tuples; streaming holds a batch or two.
    assert peak - base < 8 * 1024 * 1024, peak - base


def test_a_new_execute_ends_the_previous_stream(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    cur.execute("SELECT g FROM generate_series(1, 100000) g")
    assert cur.fetchmany(3) == [(1,), (2,), (3,)]
    cur.execute("SELECT 'next'")
    assert cur.fetchall() == [("next",)]
    other = conn.cursor()
    other.execute("SELECT g FROM generate_series(1, 3) g")
    assert list(other) == [(1,), (2,), (3,)]
    conn.commit()


def test_errors_by_sqlstate_class_on_both_modes(
    conn: dbapi.Connection, auto: dbapi.Connection
) -> None:
    for connection in (conn, auto):
        cur = connection.cursor()
        with pytest.raises(dbapi.ProgrammingError) as undefined:
            cur.execute("SELECT * FROM no_such_table_xyz")
        assert type(undefined.value) is errors.UndefinedTable
        connection.rollback()
        with pytest.raises(dbapi.DataError):
            cur.execute("SELECT 1/%s", (0,))
        connection.rollback()
        with pytest.raises(dbapi.ProgrammingError, match="2 placeholders but 1"):
            cur.execute("SELECT %s, %s", (1,))


def test_closed_cursor_and_connection_are_interface_errors(conn: dbapi.Connection) -> None:
    cur = conn.cursor()
    with pytest.raises(dbapi.ProgrammingError, match="no result set"):
        cur.fetchone()
    cur.close()
    with pytest.raises(dbapi.InterfaceError, match="cursor is closed"):
        cur.execute("SELECT 1")
    conn.close()
    with pytest.raises(dbapi.InterfaceError, match="connection is closed"):
        conn.cursor()
    with pytest.raises(dbapi.InterfaceError):
        conn.close()


def test_type_constructors_round_trip(auto: dbapi.Connection) -> None:
    cur = auto.cursor()
    values = (
        dbapi.Date(2024, 2, 29),
        dbapi.Time(13, 45, 7),
        dbapi.Timestamp(2024, 2, 29, 13, 45, 7),
        dbapi.Binary(b"\x00\xffbytes"),
        dbapi.DateFromTicks(0),
    )
    cur.execute("SELECT %s::date, %s::time, %s::timestamp, %s::bytea, %s::date", values)
    assert cur.fetchone() == values
    assert [d.type_code for d in cur.description or []] == [
        dbapi.DATETIME,
        dbapi.DATETIME,
        dbapi.DATETIME,
        dbapi.BINARY,
        dbapi.DATETIME,
    ]
    assert dbapi.ROWID == 26 and dbapi.STRING != dbapi.NUMBER
    assert dbapi.TimestampFromTicks(86400.5).date() == dbapi.DateFromTicks(86400.5)


def test_percent_and_placeholders_inside_literals(auto: dbapi.Connection) -> None:
    cur = auto.cursor()
    cur.execute("SELECT '%s' AS lit, 10 %% 3 AS m, %s AS p -- %s", ("v",))
    assert cur.fetchone() == ("%s", 1, "v")
    cur.execute("SELECT '100%'")  # no parameters: the SQL goes as written
    assert cur.fetchone() == ("100%",)


def test_no_password_in_reprs_or_errors(gateway: Any) -> None:
    secret = gateway.password
    conn = dbapi.connect(gateway.connection_string, endpoint=gateway.url)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        for obj in (conn, cur):
            assert secret not in repr(obj)
    finally:
        conn.close()
    bad = gateway.connection_string.replace(secret, "Wr0ng-Pa55-dbapi")
    for autocommit in (False, True):
        conn = dbapi.connect(bad, endpoint=gateway.url, autocommit=autocommit)
        with pytest.raises(dbapi.OperationalError) as caught:
            conn.cursor().execute("SELECT 1")
        assert "Wr0ng-Pa55-dbapi" not in str(caught.value) + repr(caught.value)
        conn.close()


def test_the_readme_example_runs(
    gateway: Any, make_table: TableFactory, direct: psycopg.Connection[Any], capsys: Any
) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("`ppg_edge.dbapi` is PEP 249", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    table = make_table("id serial PRIMARY KEY, body text")
    code = code.replace("notes", table).replace("http://127.0.0.1:8787", gateway.url)
    exec(code, {"url": gateway.connection_string})
    assert capsys.readouterr().out == "id [(1, 'a')]\n"
    assert _count(direct, table) == 2


@pytest.mark.parametrize("autocommit", [False, True])
def test_an_error_after_rows_is_raised_where_it_arrives(gateway: Any, autocommit: bool) -> None:
    conn = dbapi.connect(gateway.connection_string, endpoint=gateway.url, autocommit=autocommit)
    try:
        cur = conn.cursor()
        cur.execute("SELECT 10 / (5 - g) AS q FROM generate_series(1, 8) g")
        assert cur.fetchmany(2) == [(2,), (3,)]
        with pytest.raises(errors.DivisionByZero):
            cur.fetchall()
        with pytest.raises(errors.DivisionByZero):  # and again: never a short complete result
            cur.fetchone()
        assert cur.rowcount == -1
    finally:
        conn.close()


def test_a_result_read_after_commit_is_whole(conn: dbapi.Connection) -> None:
    """As with psycopg's client-side cursors, commit() leaves unread rows readable."""
    cur = conn.cursor()
    cur.execute("SELECT g FROM generate_series(1, 50000) g")
    assert cur.fetchone() == (1,)
    conn.commit()
    rest = cur.fetchall()
    assert len(rest) == 49_999 and rest[-1] == (50_000,) and cur.rowcount == 50_000
    cur.execute("SELECT 'after'")
    assert cur.fetchall() == [("after",)]


def test_rollback_with_a_result_streaming_rolls_back_at_once(
    conn: dbapi.Connection, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (1)")
    cur.execute("SELECT g, pg_sleep(0.001) FROM generate_series(1, 100000) g")
    assert cur.fetchone() is not None
    start = time.perf_counter()
    conn.rollback()
    assert time.perf_counter() - start < 10
    with direct.transaction():  # the transaction's lock on the table is gone: it ended
        direct.execute("SET LOCAL lock_timeout = '10s'")
        direct.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # type: ignore[call-overload]
    assert _count(direct, table) == 0
    cur.execute("SELECT 'next'")  # a new session, a new transaction
    assert cur.fetchall() == [("next",)]


@pytest.mark.parametrize("autocommit", [False, True])
def test_a_large_executemany_neither_deadlocks_nor_loses_a_row(
    gateway: Any, make_table: TableFactory, direct: psycopg.Connection[Any], autocommit: bool
) -> None:
    """50,000 statements at once used to hang: both sides writing, neither reading."""
    table = make_table("n int, s text")
    conn = dbapi.connect(gateway.connection_string, endpoint=gateway.url, autocommit=autocommit)
    try:
        cur = conn.cursor()
        start = time.perf_counter()
        cur.executemany(
            f"INSERT INTO {table} VALUES (%s, %s)", [(n, "x" * 50) for n in range(50000)]
        )
        assert time.perf_counter() - start < 60
        assert cur.rowcount == 50_000
        conn.commit()
    finally:
        conn.close()
    assert _count(direct, table) == 50_000


def test_ending_a_result_early_keeps_the_transaction(
    conn: dbapi.Connection, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    """Cancelling the statement would abort the transaction: its rest is read instead."""
    table = make_table("n int")
    cur = conn.cursor()
    cur.execute(f"INSERT INTO {table} VALUES (1)")
    for _ in range(3):  # each left while the server still produces its rows
        cur.execute("SELECT g FROM generate_series(1, 300000) g")
        assert cur.fetchmany(2) == [(1,), (2,)]
    cur.execute(f"INSERT INTO {table} VALUES (2)")  # not InFailedSqlTransaction
    other = conn.cursor()
    other.execute("SELECT g FROM generate_series(1, 200) g WHERE pg_sleep(0.005) IS NOT NULL")
    assert other.fetchone() == (1,)
    other.close()
    cur.execute(f"SELECT count(*) FROM {table}")
    assert cur.fetchone() == (2,)
    conn.commit()
    assert _count(direct, table) == 2


@pytest.mark.parametrize("mode", ["conn", "auto"])
def test_cursor_rows_are_built_as_tuples_by_the_result_itself(
    mode: str, request: pytest.FixtureRequest
) -> None:
    """The cursor reads tuples that the result's generated function built (`tuple_row`),
    in a transaction and in autocommit mode, rather than converting `Row`s afterwards."""
    connection: ppg_edge.dbapi.Connection = request.getfixturevalue(mode)
    result = connection._query("SELECT 1 AS a, 'x' AS b", ())
    assert result.rows.collect() == [(1, "x")]
    cursor = connection.cursor()
    cursor.execute("SELECT g, g::text FROM generate_series(1, 3) g")
    assert cursor.fetchall() == [(1, "1"), (2, "2"), (3, "3")]
