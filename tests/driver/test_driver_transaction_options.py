"""Transaction options (isolation, read_only, deferrable) and savepoints for nested transactions."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import DatabaseError, TransactionOptions, ValidationError
from tests.driver.conftest import TableFactory

SHOW_MODES = (
    "SELECT current_setting('transaction_isolation') AS isolation,"
    " current_setting('transaction_read_only') AS read_only,"
    " current_setting('transaction_deferrable') AS deferrable"
)


def test_options_build_the_begin_statement_and_refuse_unknown_levels() -> None:
    assert TransactionOptions().begin == "BEGIN"
    options = TransactionOptions("Repeatable_Read", read_only=True, deferrable=False)
    assert options.begin == "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, NOT DEFERRABLE"
    assert TransactionOptions(read_only=False).begin == "BEGIN READ WRITE"
    with pytest.raises(ValidationError, match="isolation must be one of"):
        TransactionOptions("serializable; DROP TABLE users")
    with pytest.raises(ValidationError, match="read_only must be True, False or None"):
        TransactionOptions(read_only="yes")  # type: ignore[arg-type]


async def test_the_options_reach_postgresql(db: ppg_edge.Database) -> None:
    async with db.transaction(isolation="serializable", read_only=True, deferrable=True) as tx:
        modes = await tx.query(SHOW_MODES).collect()
    assert modes == [{"isolation": "serializable", "read_only": "on", "deferrable": "on"}]
    async with db.transaction() as tx:  # None leaves the server's defaults
        modes = await tx.query(SHOW_MODES).collect()
    assert modes == [{"isolation": "read committed", "read_only": "off", "deferrable": "off"}]
    found = await db.transaction(
        lambda tx: tx.query(SHOW_MODES).collect(), isolation="repeatable read"
    )
    assert found[0]["isolation"] == "repeatable read"


async def test_a_read_only_transaction_refuses_writes(
    db: ppg_edge.Database, make_table: TableFactory
) -> None:
    table = await make_table("n int")
    with pytest.raises(DatabaseError) as caught:
        async with db.transaction(read_only=True) as tx:
            await tx.exec(f"INSERT INTO {table} VALUES (1)")
    assert caught.value.code == "25006"  # read_only_sql_transaction


async def test_a_nested_transaction_is_a_savepoint(
    db: ppg_edge.Database, make_table: TableFactory, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table("n int")
    async with db.transaction() as tx:
        await tx.exec(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(DatabaseError):
            async with tx.transaction() as inner:
                await inner.exec(f"INSERT INTO {table} VALUES (2)")
                await inner.exec("SELECT 1/0")  # the outer transaction survives this
        async with tx.transaction() as inner:
            await inner.exec(f"INSERT INTO {table} VALUES (3)")
            async with inner.transaction() as deeper:
                await deeper.exec(f"INSERT INTO {table} VALUES (4)")
        with pytest.raises(KeyError):
            async with tx.transaction() as inner:
                await inner.exec(f"INSERT INTO {table} VALUES (5)")
                raise KeyError("not a database error: rolled back to the savepoint too")
        assert (
            await tx.transaction(lambda inner: inner.exec(f"INSERT INTO {table} VALUES (6)")) == 1
        )
        seen = await tx.query(f"SELECT n FROM {table} ORDER BY n").collect()
    assert [row["n"] for row in seen] == [1, 3, 4, 6]
    cur = await direct.execute(f"SELECT n FROM {table} ORDER BY n")
    assert [n for (n,) in await cur.fetchall()] == [1, 3, 4, 6]


async def test_an_error_escaping_a_savepoint_rolls_back_the_whole_transaction(
    db: ppg_edge.Database, make_table: TableFactory, direct: psycopg.AsyncConnection[Any]
) -> None:
    table = await make_table("n int")
    with pytest.raises(DatabaseError):
        async with db.transaction() as tx:
            await tx.exec(f"INSERT INTO {table} VALUES (1)")
            async with tx.transaction() as inner:
                await inner.exec("SELECT 1/0")
    cur = await direct.execute(f"SELECT count(*) FROM {table}")
    assert await cur.fetchone() == (0,)
