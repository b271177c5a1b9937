"""Real servers for tests and benchmarks: a private PostgreSQL and gateway subprocesses.

The code lives in ``ppg_edge_gateway.testing.servers`` (the pytest plugin
starts the same servers); this module keeps the names tests and benchmarks
import, plus ``REPO_ROOT``:

    with running_postgres() as pg, running_gateway(pg) as gw:
        ...  # gw.connection_string, gw.url, gw.direct_dsn
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

from ppg_edge_gateway.testing.servers import (
    READY_TIMEOUT,
    TEST_DATABASE,
    TEST_USER,
    Gateway,
    Launch,
    Postgres,
    _start,
    cli_arguments,
    gateway_environment,
    port_open,
    running_gateway,
    running_postgres,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def descriptor_limit(limit: int) -> dict[str, Any]:
    """``popen_options`` for a gateway allowed at most ``limit`` open descriptors."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    return {"preexec_fn": cap}


__all__ = [
    "READY_TIMEOUT",
    "REPO_ROOT",
    "TEST_DATABASE",
    "TEST_USER",
    "Gateway",
    "Launch",
    "Postgres",
    "_start",
    "cli_arguments",
    "descriptor_limit",
    "gateway_environment",
    "port_open",
    "running_gateway",
    "running_postgres",
]
