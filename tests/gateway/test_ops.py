"""Running the gateway in production: health probes, metrics, drain on SIGTERM, workers.

Every test runs real gateway subprocesses in front of the session's PostgreSQL.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator

import aiohttp
import pytest

from ppg_edge.gateway.config import READY_CACHE_SECONDS
from ppg_edge.gateway.embedded import free_port
from tests.support.servers import Gateway

Factory = Callable[..., Gateway]


async def get(url: str) -> tuple[int, str]:
    """One GET on a fresh connection: (status, body text)."""
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return response.status, await response.text()


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
    assert "DEBUG ppg_edge.gateway: GET /live 200" in gateway.log_text()


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
