"""Waiting on a libpq connection's socket from asyncio (non-blocking libpq API).

psycopg's public ``psycopg.pq`` wrapper gives libpq itself; these helpers do
the documented non-blocking dance (flush until sent, consume input until a
result is ready) with the event loop's readers and writers.
"""

from __future__ import annotations

import asyncio

from psycopg import pq


async def _socket_ready(fd: int, *, write: bool) -> None:
    """Wait until the socket is readable (or, with ``write``, readable or writable)."""
    loop = asyncio.get_running_loop()
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    if write:
        loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_reader(fd)
        if write:
            loop.remove_writer(fd)


async def flush(pgconn: pq.abc.PGconn) -> None:
    """Send everything libpq has queued; large parameters take several rounds."""
    while pgconn.flush() == 1:
        await _socket_ready(pgconn.socket, write=True)
        pgconn.consume_input()


async def next_result(pgconn: pq.abc.PGconn) -> pq.abc.PGresult | None:
    """The next result of the running command, or None when it is finished."""
    while pgconn.is_busy():
        await _socket_ready(pgconn.socket, write=False)
        pgconn.consume_input()
    return pgconn.get_result()


async def copy_out_drain(pgconn: pq.abc.PGconn) -> None:
    """Read and drop COPY TO STDOUT data so the connection gets back to normal."""
    while True:
        nbytes, _ = pgconn.get_copy_data(1)
        if nbytes == -1:
            return
        if nbytes == 0:
            await _socket_ready(pgconn.socket, write=False)
            pgconn.consume_input()
