"""Running the gateway in production: health probes, metrics, drain on SIGTERM, workers.

Every test runs real gateway subprocesses in front of the session's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import psycopg
import pytest

from ppg_edge_gateway.config import READY_CACHE_SECONDS, parse_config
from ppg_edge_gateway.embedded import free_port
from ppg_edge_gateway.metrics import METRICS_PATH
from tests.support.metrics import admin_address, get, scrape, scrape_until, value
from tests.support.raw import (
    RawHttp,
    answer_rows,
    expect_close,
    open_session,
    read_answer,
    send_statement,
)
from tests.support.servers import Gateway, port_open

Factory = Callable[..., Gateway]


class CountingListener:
    """A TCP server that counts connections and closes each at once (a dead "PostgreSQL")."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def counting_listener() -> Iterator[CountingListener]:
    listener = CountingListener()
    yield listener
    listener.close()


async def test_live_and_ready_answer_and_stay_out_of_the_info_log(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory()
    assert await get(gateway.url + "/live") == (200, "ok\n")
    assert await get(gateway.url + "/ready") == (200, "ready\n")
    assert (await get(gateway.url + "/ready"))[0] == 200
    log = gateway.log_text()
    assert "/live" not in log and "/ready" not in log


async def test_health_requests_are_logged_at_debug(gateway_factory: Factory) -> None:
    gateway = gateway_factory(log_level="DEBUG")
    assert (await get(gateway.url + "/live"))[0] == 200
    for _ in range(100):
        if "GET /live 200" in gateway.log_text():
            break
        await asyncio.sleep(0.05)
    assert "DEBUG ppg_edge_gateway: GET /live 200" in gateway.log_text()


async def test_ready_is_503_with_a_reason_when_postgres_does_not_answer(
    gateway_factory: Factory,
) -> None:
    gateway = gateway_factory(upstream=f"postgres://127.0.0.1:{free_port()}")
    assert await get(gateway.url + "/live") == (200, "ok\n")
    status, text = await get(gateway.url + "/ready")
    assert status == 503
    assert text == "not ready: PostgreSQL does not answer\n"


async def test_ready_pings_postgres_at_most_once_a_second(
    gateway_factory: Factory, counting_listener: CountingListener
) -> None:
    upstream = f"postgres://127.0.0.1:{counting_listener.port}?sslmode=disable"
    gateway = gateway_factory(upstream=upstream)
    started = time.monotonic()
    async with aiohttp.ClientSession() as client:

        async def probe() -> int:
            async with client.get(gateway.url + "/ready") as response:
                return response.status

        statuses = await asyncio.gather(*(probe() for _ in range(40)))
        statuses += [await probe() for _ in range(20)]
    elapsed = time.monotonic() - started
    assert set(statuses) == {503}
    # One ping per cached second at most, however many probes came meanwhile.
    assert 1 <= counting_listener.accepted <= elapsed / READY_CACHE_SECONDS + 1 < len(statuses)


async def test_metrics_are_served_only_on_the_admin_listener(gateway_factory: Factory) -> None:
    listen, admin = admin_address()
    gateway = gateway_factory(admin_listen=listen)
    assert (await get(gateway.url + METRICS_PATH))[0] == 404
    assert await get(admin + "/live") == (200, "ok\n")
    assert await get(admin + "/ready") == (200, "ready\n")
    samples = await scrape(admin)
    assert ("ppg_edge_gateway_sessions_open", frozenset()) in samples
    assert "admin GET" not in gateway.log_text()  # scrapes and probes: DEBUG only


async def test_metrics_count_statements_sessions_bytes_and_rejections(
    gateway_factory: Factory,
) -> None:
    listen, admin = admin_address()
    gateway = gateway_factory(admin_listen=listen, max_sessions=1, max_body_size="4k")
    async with aiohttp.ClientSession() as client:
        http = RawHttp(client, gateway)
        for number in range(3):
            assert (await http.query("SELECT $1::int", [str(number)])).rows == [[str(number)]]
        assert (await http.query("SELECT 1/0")).error is not None  # answered: still a 200
        assert (await http.query("SELECT 1", auth=http.auth(password="wrong"))).status == 401
        assert (await http.query("SELECT $1", ["x" * 8192], extended=True)).status == 413
        ws = await open_session(client, gateway)
        for number in range(2):
            await send_statement(ws, "query", "SELECT $1::int", [str(number)])
            assert answer_rows(await read_answer(ws)) == [[str(number)]]
        second = await open_session(client, gateway)
        assert (await expect_close(second))[0] == 1013
        busy = await scrape_until(admin, lambda s: value(s, "sessions_open") == 1)
        await ws.close()
    ended = await scrape_until(admin, lambda s: value(s, "sessions_total", close="1000") == 1)

    assert value(busy, "sessions_open") == 1
    assert value(busy, "upstream_connections", state="in_use") == 1  # the session's
    assert value(busy, "upstream_connections", state="idle") >= 1  # the pooled login
    assert value(ended, "http_statements_total", status="200") == 4
    assert value(ended, "http_statements_total", status="401") == 1
    assert value(ended, "http_statements_total", status="413") == 1
    assert value(ended, "statements_total", transport="http") == 4
    assert value(ended, "statements_total", transport="ws") == 2
    assert value(ended, "statement_duration_seconds_count", transport="http") == 4
    assert value(ended, "statement_duration_seconds_count", transport="ws") == 2
    assert value(ended, "sessions_total", close="1000") == 1
    assert value(ended, "sessions_total", close="1013") == 1
    assert value(ended, "rejections_total", limit="max_sessions") == 1
    assert value(ended, "rejections_total", limit="max_body_size") == 1
    assert value(ended, "sessions_open") == 0
    assert value(ended, "received_bytes_total") > 8192
    assert value(ended, "sent_bytes_total") > 500


async def test_metrics_count_queue_and_header_timeouts(gateway_factory: Factory) -> None:
    listen, admin = admin_address()
    gateway = gateway_factory(
        admin_listen=listen, max_connections=1, queue_timeout=0.5, header_timeout=0.5
    )
    async with aiohttp.ClientSession() as client:
        http = RawHttp(client, gateway)
        slow = asyncio.create_task(http.query("SELECT pg_sleep(2)"))
        await asyncio.sleep(0.5)
        assert (await http.query("SELECT 1")).status == 503
        assert (await slow).status == 200
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"GET /live HTTP/1.1\r\n")  # and never the rest of the head
    assert await asyncio.wait_for(reader.read(), 10) != b""
    writer.close()
    samples = await scrape(admin)
    assert value(samples, "rejections_total", limit="queue_timeout") == 1
    assert value(samples, "rejections_total", limit="header_timeout") == 1


async def wait_exit(gateway: Gateway, seconds: float) -> int:
    """The gateway process's exit status, waiting at most ``seconds``."""
    assert gateway.process is not None
    return await asyncio.to_thread(gateway.process.wait, seconds)


async def refused(port: int, seconds: float = 5) -> bool:
    """True once connecting to ``port`` is refused."""
    deadline = time.monotonic() + seconds
    while port_open(port):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_sigterm_drains_in_flight_work_then_exits_zero(gateway_factory: Factory) -> None:
    listen, admin = admin_address()
    gateway = gateway_factory(admin_listen=listen, shutdown_grace=20)
    assert gateway.process is not None
    async with aiohttp.ClientSession() as client:
        http = RawHttp(client, gateway)
        statement = asyncio.create_task(http.query("SELECT pg_sleep(2), 'http done'"))
        busy = await open_session(client, gateway)
        idle = await open_session(client, gateway)
        await send_statement(idle, "query", "SELECT 'idle'")
        assert answer_rows(await read_answer(idle)) == [["idle"]]
        await send_statement(busy, "query", "SELECT pg_sleep(2), 'ws done'")
        await asyncio.sleep(0.5)
        started = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)

        code, reason = await expect_close(idle)
        assert (code, reason) == (1012, "gateway shutting down")
        assert time.monotonic() - started < 1.5  # an idle session does not wait
        assert await refused(gateway.port)
        assert await get(admin + "/ready") == (
            503,
            "not ready: draining: the gateway is shutting down\n",
        )

        answer = await statement
        assert answer.status == 200 and answer.rows == [["", "http done"]]
        assert answer_rows(await read_answer(busy)) == [["", "ws done"]]
        assert await expect_close(busy) == (1012, "gateway shutting down")
    assert await wait_exit(gateway, 15) == 0
    assert time.monotonic() - started < 15
    log = gateway.log_text()
    assert "Traceback" not in log and "drained" in log


async def test_shutdown_grace_bounds_the_drain(
    gateway_factory: Factory, direct: psycopg.AsyncConnection[Any]
) -> None:
    gateway = gateway_factory(shutdown_grace=1)
    assert gateway.process is not None
    async with aiohttp.ClientSession() as client:
        session = await open_session(client, gateway)
        await send_statement(session, "query", "SELECT pg_sleep(60)")
        http = asyncio.create_task(RawHttp(client, gateway).query("SELECT pg_sleep(61)"))
        await asyncio.sleep(0.5)
        started = time.monotonic()
        gateway.process.send_signal(signal.SIGTERM)
        code, reason = await expect_close(session)
        assert code == 1012 and reason == "gateway shutting down: shutdown grace over"
        with contextlib.suppress(aiohttp.ClientError):
            assert (await http).status != 200 or (await http).error is not None
    assert await wait_exit(gateway, 10) == 0
    assert time.monotonic() - started < 1 + 5
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        cur = await direct.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(6_)'"
        )
        if (running := await cur.fetchone()) == (0,):
            break
        await asyncio.sleep(0.1)
    assert running == (0,)


async def log_has(gateway: Gateway, pattern: str, seconds: float = 20) -> re.Match[str]:
    """The first match of ``pattern`` in the gateway's log, waiting for it to appear."""
    deadline = time.monotonic() + seconds
    while (found := re.search(pattern, gateway.log_text())) is None:
        assert time.monotonic() < deadline, f"{pattern!r} not logged:\n{gateway.log_text()}"
        await asyncio.sleep(0.05)
    return found


async def fresh_query(gateway: Gateway, sql: str) -> Any:
    """One statement on a connection of its own (so each may reach another worker)."""
    async with aiohttp.ClientSession() as client:
        return await RawHttp(client, gateway).query(sql)


async def test_workers_serve_one_address_with_one_metrics_view(gateway_factory: Factory) -> None:
    listen, admin = admin_address()
    gateway = gateway_factory(workers=2, admin_listen=listen)
    for index in (1, 2):
        await log_has(gateway, f"worker {index}: accepting")
    sent = 0
    while not all(f"worker {i}: POST /v0/statement 200" in gateway.log_text() for i in (1, 2)):
        assert sent < 300, "the kernel never sent a connection to one of the workers"
        assert (await fresh_query(gateway, "SELECT 1")).rows == [["1"]]
        sent += 1
    # Whichever worker answers the scrape, it reports every worker's statements.
    await scrape_until(admin, lambda s: value(s, "http_statements_total", status="200") == sent)
    views = {value(await scrape(admin), "http_statements_total", status="200") for _ in range(8)}
    assert views == {sent}


async def test_sigterm_drains_every_worker_and_exits_zero(gateway_factory: Factory) -> None:
    gateway = gateway_factory(workers=2, shutdown_grace=20)
    assert gateway.process is not None
    for index in (1, 2):
        await log_has(gateway, f"worker {index}: accepting")
    statements = [
        asyncio.create_task(fresh_query(gateway, "SELECT pg_sleep(1.5), 'done'")) for _ in range(6)
    ]
    await asyncio.sleep(0.5)
    started = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    assert await refused(gateway.port)
    assert [answer.rows for answer in await asyncio.gather(*statements)] == [[["", "done"]]] * 6
    assert await wait_exit(gateway, 15) == 0
    assert time.monotonic() - started < 15
    for index in (1, 2):
        await log_has(gateway, f"worker {index}: drained")


async def test_a_dead_worker_is_reported_and_replaced(gateway_factory: Factory) -> None:
    gateway = gateway_factory(workers=2)
    for index in (1, 2):
        await log_has(gateway, f"worker {index}: accepting")
    pid = int((await log_has(gateway, r"worker 1 started \(pid (\d+)\)"))[1])
    os.kill(pid, signal.SIGKILL)
    await log_has(gateway, rf"worker 1 \(pid {pid}\) exited with status -9; starting another")
    await log_has(gateway, rf"worker 1 started \(pid (?!{pid}\))\d+\)")
    await log_has(gateway, "worker 1: accepting(.|\n)*exited(.|\n)*worker 1: accepting")
    answers = [await fresh_query(gateway, "SELECT 1") for _ in range(20)]
    assert all(answer.rows == [["1"]] for answer in answers)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--workers", "0"], "must be at least 1"),
        (["--admin-listen", "127.0.0.1"], "--admin-listen needs HOST:PORT"),
        (["--admin-listen", "127.0.0.1:8787"], "--admin-listen must differ from --listen"),
        (["--shutdown-grace", "-1"], "must be 0 or more seconds"),
    ],
)
def test_operations_options_are_checked(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_config(["--upstream", "postgres://127.0.0.1:5432", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_operations_defaults() -> None:
    config = parse_config(["--upstream", "postgres://127.0.0.1:5432"])
    assert (config.workers, config.shutdown_grace, config.admin_listen) == (1, 30.0, None)
