"""The session cancel extension (PROTOCOL.md section 6): stop a statement nobody waits for.

The protocol has no cancel message, so a client that gives up on a statement
(its timeout passed) could only close the session. A client that offers the
subprotocol ``prisma-postgres-1.0+cancel`` (beside the standard one, which
the official client alone offers) and gets it selected may send, between
statements, the text ``urn:ppg-edge:session:cancel`` and then
``{"statement": N}``, N counting the session's statements from 1. The
gateway then:

- ignores it when statement N was already answered;
- answers N, when it has not started yet, with an error (SQLSTATE 57014)
  instead of running it, keeping the answers first-in, first-out;
- sends PostgreSQL a libpq cancel once N is what runs and nothing was sent
  after it (N alone, or last in its pipeline, the statements before it
  answered); and holds the next statement back until the cancel request is
  delivered, so it can only ever hit N (or nothing, if N just finished:
  PostgreSQL ignores a cancel that finds the session idle);
- lets N run to its end when later statements share its pipeline, which
  PostgreSQL already has: a cancel could hit one of them instead.

Once the cancel of the statement being read is sent, its rows are dropped and
the executor stops waiting for the client to take what was already written
(``gave_up``): a client that cancels and then reads nothing (it has no use for
the rows) must not keep the gateway from reading PostgreSQL, or PostgreSQL,
blocked writing to the gateway, never gets to act on the cancel.
"""

from __future__ import annotations

import asyncio
import json

import psycopg

from ppg_edge.core.protocol import CANCEL_STATEMENT_KEY, WS_SUBPROTOCOL, WS_SUBPROTOCOL_CANCEL

from .errors import ProtocolViolation
from .state import LOG
from .upstream import CANCEL_SECONDS, Connection


def session_protocols(offer: str) -> tuple[str, ...]:
    """The subprotocol to select: the extension when the client offers it, else the standard.

    aiohttp picks the first of the client's list it supports, and a client lists
    the standard one first (a server that echoes the first offer stays safe).
    """
    offered = {token.strip() for token in offer.split(",")}
    return (WS_SUBPROTOCOL_CANCEL,) if WS_SUBPROTOCOL_CANCEL in offered else (WS_SUBPROTOCOL,)


def parse_cancel(text: str) -> int:
    """The statement number of a cancel message's JSON, ``{"statement": N}`` with N >= 1."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolViolation("the cancel message is not valid JSON") from None
    number = doc.get(CANCEL_STATEMENT_KEY) if isinstance(doc, dict) else None
    if type(number) is not int or number < 1 or len(doc) != 1:
        raise ProtocolViolation('the cancel message must be {"statement": N}, N >= 1')
    return number


class Cancels:
    """Which statements of one session were cancelled, and the cancel in flight."""

    def __init__(self) -> None:
        self.received = 0
        """Statements received so far (the number of the latest)."""
        self.answered = 0
        """Every statement up to this number is answered."""
        self.running: tuple[int, ...] = ()
        """The batch PostgreSQL has: one statement, or a pipeline."""
        self.current: int | None = None
        """The statement of the batch whose results are being read (those before it are done)."""
        self.skipped: set[int] = set()
        self.gave_up = asyncio.Event()
        """Set once the statement being read was cancelled: its client reads none of its rows."""
        self._deferred: int | None = None
        self._request: asyncio.Task[None] | None = None

    def request(self, number: int, conn: Connection) -> None:
        """A client's cancel of statement ``number``; a number not yet sent is a violation.

        Only the last statement of the running batch can be cancelled, and only while
        its own results are read: PostgreSQL then has nothing after it, and is past
        everything before it, so the cancel can hit nothing else.
        """
        if number > self.received:
            raise ProtocolViolation(f"cancel of statement {number}, which was never sent")
        if number <= self.answered:
            return
        if number not in self.running:
            self.skipped.add(number)
        elif number == self.running[-1] and self._request is None:
            self._deferred = number
            self._fire(conn)

    def reading(self, number: int, conn: Connection) -> None:
        """The executor reads the results of ``number`` now: a cancel waiting for it goes."""
        self.current = number
        self._fire(conn)

    def _fire(self, conn: Connection) -> None:
        if self._deferred is not None and self._deferred == self.current:
            self._deferred = None
            self._request = asyncio.create_task(_cancel(conn))
            self.gave_up.set()

    def skip(self, number: int) -> bool:
        """True (once) when statement ``number`` was cancelled before it started."""
        if number in self.skipped:
            self.skipped.discard(number)
            return True
        return False

    async def start(self, numbers: tuple[int, ...]) -> None:
        """Before a batch runs: wait for a cancel in flight, so it cannot hit this batch.

        The batch counts as running from here: a cancel naming one of its statements
        no longer takes it out of the batch.
        """
        self.running, self.current, self._deferred = numbers, None, None
        self.gave_up.clear()
        if self._request is not None:
            await asyncio.wait([self._request])
            self._request = None

    def done(self) -> None:
        """The running batch is answered."""
        if self.running:
            self.answered = self.running[-1]
        self.running, self.current, self._deferred = (), None, None

    def close(self) -> None:
        """The session ends (its connection is discarded, which cancels on its own)."""
        if self._request is not None:
            self._request.cancel()


async def _cancel(conn: Connection) -> None:
    """libpq cancel, bounded; a failure only means the statement runs to its end (logged:
    its rows are still read and dropped, which an operator should be able to explain)."""
    try:
        await asyncio.wait_for(conn.cancel_safe(), CANCEL_SECONDS)
    except (psycopg.Error, OSError, TimeoutError) as exc:
        LOG.warning("a session's cancel request did not reach PostgreSQL: %s", type(exc).__name__)
