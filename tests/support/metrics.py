"""Reading a gateway's /metrics and probes from tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ppg_edge_gateway.embedded import free_port
from ppg_edge_gateway.metrics import METRICS_PATH


async def get(url: str) -> tuple[int, str]:
    """One GET on a fresh connection: (status, body text)."""
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return response.status, await response.text()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(url: str) -> Samples:
    """Every sample of a /metrics answer, keyed by (name, labels)."""
    status, text = await get(url + METRICS_PATH)
    assert status == 200, text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return samples.get((f"ppg_edge_gateway_{name}", frozenset(labels.items())), 0.0)


async def scrape_until(url: str, check: Callable[[Samples], bool], seconds: float = 10) -> Samples:
    """Scrape until ``check`` holds (gauges of other workers are sampled once a second)."""
    deadline = time.monotonic() + seconds
    while not check(samples := await scrape(url)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return samples


def admin_address() -> tuple[str, str]:
    """An --admin-listen value and the matching base URL."""
    port = free_port()
    return f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"
