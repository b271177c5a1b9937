"""``--workers N``: a supervisor and N worker processes serving one address.

Each worker is a fresh interpreter (multiprocessing's ``spawn``: no state of the
supervisor's event loop or libpq is inherited) that binds ``--listen`` and
``--admin-listen`` with ``SO_REUSEPORT``, so the kernel spreads new connections
over the workers' own listening sockets. A shared listening socket would not:
the first asyncio worker to wake accepts a whole burst, and a few keep-alive
clients would all land on one process. The supervisor binds the address first
without listening, so an address in use is an error before any worker starts,
and so nothing else of another user can take the port.

SIGTERM or SIGINT to the supervisor is forwarded to every worker as SIGTERM
(each drains, see ``drain``); the supervisor exits 0 when all of them did.
Workers are in their own process group, so a terminal's Ctrl-C reaches only the
supervisor (one drain, not two signals), and each stops by itself if the
supervisor disappears. A worker that dies while serving is logged and replaced.
Limits (``--max-connections``, ``--max-sessions``, ``--max-clients``,
``--max-buffered-bytes``…) are each worker's: N workers allow N times as much.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

from .config import GatewayConfig
from .metrics import MULTIPROC_VARIABLE, worker_exited

LOG = logging.getLogger("ppg_edge_gateway")
RESTART_BACKOFF_SECONDS = 1.0
"""A worker that died sooner than this after its start is replaced only this much later."""
STOP_MARGIN_SECONDS = 10.0
"""Past the shutdown grace, how long workers may take to exit before they are killed."""
POLL_SECONDS = 0.5


def holder(host: str, port: int) -> socket.socket:
    """Bind the address for the workers (``SO_REUSEPORT``, not listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def worker_main(config: GatewayConfig, index: int) -> None:
    """A worker: its own process group, logging tagged with its number, then serve."""
    os.setpgrp()
    from .server import configure_logging, run

    configure_logging(config.log_level, tag=f"worker {index}")
    run(config, reuse_port=True, parent=os.getppid())


@dataclass
class Worker:
    """One worker slot: its process and when it started."""

    index: int
    process: BaseProcess
    started: float


class Supervisor:
    """Starts, watches, replaces and stops the workers."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, Worker] = {}
        self.stopping = False

    def start(self, index: int) -> None:
        process = self.context.Process(
            target=worker_main, args=(self.config, index), name=f"ppg_edge worker {index}"
        )
        process.start()
        self.workers[index] = Worker(index, process, time.monotonic())
        LOG.info("worker %d started (pid %d)", index, process.pid)

    def stop(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: forward SIGTERM once to every worker."""
        if self.stopping:
            return
        self.stopping = True
        for worker in self.workers.values():
            if worker.process.pid is not None and worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)

    def watch(self) -> None:
        """Until stopped: replace every worker that dies."""
        while not self.stopping:
            sentinels = [w.process.sentinel for w in self.workers.values()]
            multiprocessing.connection.wait(sentinels, timeout=POLL_SECONDS)
            for worker in list(self.workers.values()):
                if not self.stopping and not worker.process.is_alive():
                    self._replace(worker)

    def _replace(self, worker: Worker) -> None:
        worker.process.join()
        pid, status = worker.process.pid, worker.process.exitcode
        LOG.warning(
            "worker %d (pid %s) exited with status %s; starting another", worker.index, pid, status
        )
        if pid is not None:
            worker_exited(pid)
        if time.monotonic() - worker.started < RESTART_BACKOFF_SECONDS:
            time.sleep(RESTART_BACKOFF_SECONDS)
        if not self.stopping:
            self.start(worker.index)

    def wait(self) -> int:
        """After the signal: every worker's exit (killed past the grace); 0 if all exited 0."""
        deadline = time.monotonic() + self.config.shutdown_grace + STOP_MARGIN_SECONDS
        status = 0
        for worker in self.workers.values():
            worker.process.join(max(deadline - time.monotonic(), 0))
            if worker.process.is_alive():
                LOG.warning("worker %d did not stop in time; killed", worker.index)
                worker.process.kill()
                worker.process.join()
            status = status or (0 if worker.process.exitcode == 0 else 1)
        return status


def supervise(config: GatewayConfig) -> int:
    """Run ``config.workers`` workers until SIGTERM or SIGINT; the exit status."""
    address = holder(config.listen_host, config.listen_port)
    config.listen_port = address.getsockname()[1]  # port 0: every worker binds the one chosen
    admin = None
    if config.admin_listen is not None:
        admin = holder(*config.admin_listen)
        config.admin_listen = (config.admin_listen[0], admin.getsockname()[1])
    with tempfile.TemporaryDirectory(prefix="ppg-edge-metrics-") as metrics_dir:
        os.environ[MULTIPROC_VARIABLE] = metrics_dir  # read by the workers' prometheus-client
        supervisor = Supervisor(config)
        previous = {
            sig: signal.signal(sig, supervisor.stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for index in range(1, config.workers + 1):
                supervisor.start(index)
            supervisor.watch()
            return supervisor.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            address.close()
            if admin is not None:
                admin.close()
            del os.environ[MULTIPROC_VARIABLE]
