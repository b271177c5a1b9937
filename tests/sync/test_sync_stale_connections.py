"""A kept-alive connection the server drops just as the next statement goes out (the async
tests' HangUpProxy): a rebuildable body is re-sent once on a fresh connection, exactly once;
one with a stream parameter cannot be, so it fails cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import BINARY, GenericError
from tests.driver.test_driver_stale_connections import HangUpProxy
from tests.sync.conftest import BackgroundLoop, TableFactory


@pytest.fixture
def proxied(
    gateway: Any, background: BackgroundLoop
) -> Iterator[tuple[HangUpProxy, ppg_edge.SyncClient]]:
    proxy = HangUpProxy(gateway.port)
    background.run(proxy.__aenter__())
    try:
        with ppg_edge.client_sync(gateway.connection_string, endpoint=proxy.url) as client:
            yield proxy, client
    finally:
        background.run(proxy.__aexit__())


def test_statements_survive_a_dropped_keep_alive_connection(
    proxied: tuple[HangUpProxy, ppg_edge.SyncClient],
) -> None:
    proxy, client = proxied
    for n in range(1, 4):
        assert [row.values for row in client.query("SELECT $1::int AS n", n).rows] == [[n]]
    assert proxy.hang_ups == 2
    assert proxy.connections == 3


def test_a_resent_insert_runs_exactly_once(
    proxied: tuple[HangUpProxy, ppg_edge.SyncClient],
    make_table: TableFactory,
    direct: psycopg.Connection[Any],
) -> None:
    proxy, client = proxied
    table = make_table("id int")
    for n in (1, 2, 3):
        assert client.exec(f"INSERT INTO {table} VALUES ($1)", n) == 1
    assert proxy.hang_ups == 2
    rows = direct.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()
    assert rows == [(1,), (2,), (3,)]


def test_a_stream_parameter_is_not_resent(
    proxied: tuple[HangUpProxy, ppg_edge.SyncClient],
) -> None:
    proxy, client = proxied
    assert client.exec("SELECT 1") == 1
    data = b"x" * 5000
    stream = ppg_edge.bounded_byte_stream_parameter(iter([data[:3], data[3:]]), BINARY, len(data))
    with pytest.raises(GenericError):
        client.query("SELECT length($1::bytea) AS n", stream)
    assert proxy.hang_ups == 1
    assert [row.values for row in client.query("SELECT 2 AS n").rows] == [[2]]
