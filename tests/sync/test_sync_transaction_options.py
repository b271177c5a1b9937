"""The sync face's transaction options and savepoints, as the async driver tests them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import DatabaseError
from tests.driver.test_driver_transaction_options import SHOW_MODES
from tests.sync.conftest import TableFactory


def test_the_options_reach_postgresql(db: ppg_edge.SyncDatabase) -> None:
    with db.transaction(isolation="serializable", read_only=True, deferrable=True) as tx:
        modes = tx.query(SHOW_MODES).collect()
    assert modes == [{"isolation": "serializable", "read_only": "on", "deferrable": "on"}]
    found = db.transaction(lambda tx: tx.query(SHOW_MODES).collect(), isolation="repeatable read")
    assert found[0]["isolation"] == "repeatable read"


def test_a_nested_transaction_is_a_savepoint(
    db: ppg_edge.SyncDatabase, make_table: TableFactory, direct: psycopg.Connection[Any]
) -> None:
    table = make_table("n int")
    with db.transaction() as tx:
        tx.exec(f"INSERT INTO {table} VALUES (1)")
        with pytest.raises(DatabaseError), tx.transaction() as inner:
            inner.exec(f"INSERT INTO {table} VALUES (2)")
            inner.exec("SELECT 1/0")
        with tx.transaction() as inner:
            assert isinstance(inner, ppg_edge.SyncTransaction)
            inner.exec(f"INSERT INTO {table} VALUES (3)")
        assert tx.transaction(lambda inner: inner.exec(f"INSERT INTO {table} VALUES (4)")) == 1
    rows = direct.execute(f"SELECT n FROM {table} ORDER BY n").fetchall()
    assert [n for (n,) in rows] == [1, 3, 4]
