"""The public DB-API 2.0 compliance suite (Stuart Bishop's dbapi20.py, from PyPI's
`dbapi-compliance`) against the real gateway, in both modes of a connection.

The suite's tables (`dbapi20test_booze`, `dbapi20test_barflys`) live in the
gateway's database; its tearDown drops them. Only what the suite asks drivers to
supply is supplied here: the driver, the connect arguments, and the two tests whose
own versions raise "Drivers need to override this test" (`test_nextset`,
`test_setoutputsize`).
"""

from __future__ import annotations

from typing import Any

import dbapi20
import pytest

import ppg_edge.dbapi


class _Suite(dbapi20.DatabaseAPI20Test):  # type: ignore[misc]
    __test__ = False  # pytest collects every TestCase: only the modes below run
    driver = ppg_edge.dbapi
    autocommit = False

    @pytest.fixture(autouse=True)
    def _gateway(self, gateway: Any) -> None:
        self.connect_args = (gateway.connection_string,)
        self.connect_kw_args = {"endpoint": gateway.url, "autocommit": self.autocommit}

    def test_nextset(self) -> None:
        """nextset() is optional: the protocol streams one row set per statement."""
        con = self._connect()
        try:
            assert not hasattr(con.cursor(), "nextset")
        finally:
            con.close()

    def test_setoutputsize(self) -> None:
        """setoutputsize() is a no-op: a long value still arrives whole."""
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsize(10, 0)
            cur.execute("SELECT repeat('x', 100000)")
            assert cur.fetchone() == ("x" * 100_000,)
        finally:
            con.close()


class TestTransactional(_Suite):
    """PEP 249's default: statements in a session's transaction, begun lazily."""

    __test__ = True


class TestAutocommit(_Suite):
    """Every statement its own HTTP request."""

    __test__ = True
    autocommit = True
