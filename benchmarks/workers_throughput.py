"""Small HTTP statements/s through the gateway with ``--workers 1`` and ``--workers 2``.

Starts a private PostgreSQL, then for each worker count a gateway, and drives it
with 8 and with 50 clients, each on its own keep-alive connection (so the
kernel's ``SO_REUSEPORT`` spreads them over the workers), sending ``SELECT 1``
back to back for ``--seconds``. The clients run in ``--client-processes``
processes of their own so that the load generator is not the bottleneck. Prints
statements/s per case and the N=2 / N=1 ratio.

Run from the repository root: ``python benchmarks/workers_throughput.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from ppg_edge.core.protocol import (
    DESCRIPTOR_CONTENT_TYPE,
    DESCRIPTOR_URN,
    STATEMENT_PATH,
    multipart_content_type,
)
from tests.support.servers import Gateway, running_gateway, running_postgres

BOUNDARY = "ppgEdgeWorkersBench"
CLIENT_COUNTS = (8, 50)
WORKER_COUNTS = (1, 2)


def _body() -> bytes:
    descriptor = json.dumps({"query": "SELECT 1"})
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{DESCRIPTOR_URN}"\r\n'
        f"Content-Type: {DESCRIPTOR_CONTENT_TYPE}\r\n\r\n{descriptor}\r\n--{BOUNDARY}--\r\n"
    ).encode()


async def _client(url: str, headers: dict[str, str], until: float) -> int:
    """One keep-alive connection sending statements until ``until``; how many were answered."""
    body, done = _body(), 0
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as session:
        while time.monotonic() < until:
            async with session.post(url, data=body, headers=headers) as response:
                text = await response.text()
                if response.status != 200 or '"values":["1"]' not in text:
                    raise RuntimeError(f"bad answer {response.status}: {text[:200]}")
            done += 1
    return done


def _drive(url: str, headers: dict[str, str], clients: int, seconds: float) -> int:
    """A client process: ``clients`` connections for ``seconds``."""

    async def run() -> int:
        until = time.monotonic() + seconds
        counts = await asyncio.gather(*(_client(url, headers, until) for _ in range(clients)))
        return sum(counts)

    return asyncio.run(run())


def measure(gateway: Gateway, clients: int, seconds: float, processes: int) -> float:
    """Statements/s with ``clients`` connections spread over ``processes`` client processes."""
    url = f"{gateway.url}{STATEMENT_PATH}?db={gateway.database}"
    token = base64.b64encode(f"{gateway.user}:{gateway.password}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": multipart_content_type(BOUNDARY)}
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    context = multiprocessing.get_context("spawn")
    started = time.monotonic()
    with context.Pool(processes) as pool:
        done = sum(pool.starmap(_drive, [(url, headers, share, seconds) for share in shares]))
    return done / (time.monotonic() - started)


def wait_for_workers(gateway: Gateway, workers: int) -> None:
    deadline = time.monotonic() + 30
    while len(re.findall("accepting at most", gateway.log_text())) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(gateway.log_text())
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args()
    rates: dict[tuple[int, int], float] = {}
    with running_postgres() as postgres:
        for workers in WORKER_COUNTS:
            options = {"workers": workers, "max_connections": 100}
            with running_gateway(postgres, **options) as gateway:
                wait_for_workers(gateway, workers)
                measure(gateway, 8, 1.0, args.client_processes)  # warm up the pools
                for clients in CLIENT_COUNTS:
                    rate = measure(gateway, clients, args.seconds, args.client_processes)
                    rates[workers, clients] = rate
                    print(f"workers={workers} clients={clients:>2}: {rate:8.0f} statements/s")
    for clients in CLIENT_COUNTS:
        ratio = rates[2, clients] / rates[1, clients]
        print(f"clients={clients:>2}: workers 2 / workers 1 = {ratio:.2f}")


if __name__ == "__main__":
    main()
