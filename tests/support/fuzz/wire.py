"""Raw-socket exchanges with the gateway: our bytes exactly as generated, its answers parsed.

We write whatever a case holds (invalid HTTP, invalid frames) on a fresh TCP
connection to 127.0.0.1 and let h11 and wsproto, strict parsers, read what
the gateway sends back. Every read has a deadline: a case that gets neither an
answer nor a close in time is reported as a hang, never waited on forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import h11
import wsproto
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from ppg_edge.core.protocol import WS_SUBPROTOCOL

from .frames import CLOSE, close_payload, frame
from .http_cases import HttpCase
from .ws_cases import WsCase, answer_end

HOST = "127.0.0.1"
READ_SIZE = 65536
MOST_BODY = 1 << 20
"""Bytes of an answer body kept for the oracle (the fuzz gateway's answers are small)."""


@dataclass
class HttpOutcome:
    """What the gateway did with one HTTP case."""

    status: int | None = None
    body: bytes = b""
    complete: bool = False
    """The whole answer (through its end) arrived."""
    closed: bool = False
    """The gateway closed the connection (before or after answering)."""
    timed_out: bool = False
    problem: str | None = None
    """The answer could not be parsed as HTTP."""
    seconds: float = 0.0


def _virtual_request(case: HttpCase) -> h11.Request:
    """What h11 must believe we sent, so it frames the answer as it should be framed."""
    headers = [("Host", HOST), ("Content-Length", "0")]
    if case.upgrade:
        headers += [("Connection", "Upgrade"), ("Upgrade", "websocket")]
    method = "HEAD" if case.head_only else "GET" if case.upgrade else "POST"
    return h11.Request(method=method, target="/", headers=headers)


async def _send(writer: asyncio.StreamWriter, chunks: list[bytes]) -> None:
    """Write every chunk; a peer that closed early is not an error (it may have answered)."""
    with contextlib.suppress(ConnectionError):
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()


async def http_exchange(port: int, case: HttpCase, timeout: float) -> HttpOutcome:
    """Send one HTTP case and read the gateway's answer (h11 parses it), all within ``timeout``."""
    outcome = HttpOutcome()
    started = time.monotonic()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            await _send(writer, [case.data])
            await _read_http(reader, case, outcome)
    except TimeoutError:
        outcome.timed_out = True
    finally:
        await _hang_up(writer)
        outcome.seconds = time.monotonic() - started
    return outcome


async def _hang_up(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _read_http(reader: asyncio.StreamReader, case: HttpCase, outcome: HttpOutcome) -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(_virtual_request(case))
    conn.send(h11.EndOfMessage())
    received = bytearray()
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            outcome.problem = f"{exc} in {bytes(received[:200])!r}"
            return
        if event is h11.NEED_DATA:
            try:
                data = await reader.read(READ_SIZE)
            except ConnectionError:
                data = b""
            received += data[: max(0, 4096 - len(received))]
            outcome.closed = outcome.closed or not data
            conn.receive_data(data)
            continue
        if isinstance(event, h11.InformationalResponse):
            if event.status_code == 101:
                outcome.status, outcome.complete = 101, True
                return
            continue
        if isinstance(event, h11.Response):
            outcome.status = event.status_code
        elif isinstance(event, h11.Data):
            outcome.body += bytes(event.data)[: max(0, MOST_BODY - len(outcome.body))]
        elif isinstance(event, h11.EndOfMessage):
            outcome.complete = True
            return
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return


@dataclass
class WsOutcome:
    """What the gateway did with one WebSocket case."""

    handshake_status: int | None = None
    """Set when the upgrade was refused (the HTTP status)."""
    answers: list[list[tuple[str, Any]]] = field(default_factory=list)
    close: tuple[int, str] | None = None
    """The gateway's close frame (code, reason), if one came."""
    closed_after_ours: bool = False
    """The close came as the answer to our own close."""
    dropped: bool = False
    """The TCP connection ended without a close frame."""
    timed_out: bool = False
    problem: str | None = None
    """The gateway sent something that breaks RFC 6455 or PROTOCOL.md section 4.3."""
    seconds: float = 0.0

    def probe_answered(self, probe: str) -> bool:
        """True when the last answer is the probe's row."""
        return bool(self.answers) and _rows(self.answers[-1]) == [[f"probe_{probe}"]]


def _rows(answer: list[tuple[str, Any]]) -> list[Any]:
    return [body.get("values") for _, body in answer if isinstance(body, dict) and "values" in body]


class _Session:
    """Reads wsproto events off a socket until a goal, a close, the end or a deadline."""

    def __init__(
        self, reader: asyncio.StreamReader, ws: wsproto.WSConnection, outcome: WsOutcome
    ) -> None:
        self.reader = reader
        self.ws = ws
        self.outcome = outcome
        self.current: list[tuple[str, Any]] = []
        self.urn: str | None = None
        self.text = ""

    async def events(self) -> Event | None:
        """The next event (None at end of input)."""
        while True:
            for event in self.ws.events():
                return event
            try:
                data = await self.reader.read(READ_SIZE)
            except ConnectionError:
                data = b""
            if not data:
                # The connection ended; the goals and closes seen so far are all there is.
                self.outcome.dropped = self.outcome.close is None
                return None
            self.ws.receive_data(data)

    def message(self, event: TextMessage | BytesMessage) -> bool:
        """Collect answer pairs; True once an answer is complete."""
        if isinstance(event, BytesMessage):
            self.outcome.problem = "binary message from the gateway"
            return False
        self.text += event.data
        if not event.message_finished:
            return False
        text, self.text = self.text, ""
        if self.urn is None:
            self.urn = text
            return False
        urn, self.urn = self.urn, None
        try:
            body = json.loads(text)
        except ValueError:
            self.outcome.problem = f"answer {urn!r} is not JSON: {text[:80]!r}"
            body = text
        self.current.append((urn, body))
        if answer_end(urn):
            self.outcome.answers.append(self.current)
            self.current = []
            return True
        return False


async def _handshake(session: _Session, writer: asyncio.StreamWriter, target: str) -> bool:
    request = Request(host=HOST, target=target, subprotocols=[WS_SUBPROTOCOL])
    await _send(writer, [session.ws.send(request)])
    while True:
        event = await session.events()
        if isinstance(event, AcceptConnection):
            return True
        if isinstance(event, RejectConnection):
            session.outcome.handshake_status = event.status_code
            if not event.has_body:
                return False
        elif isinstance(event, RejectData):
            if event.body_finished:
                return False
        elif event is None:
            return False


async def _until_done(session: _Session, case: WsCase) -> None:
    """Read until the probe is answered (then close ourselves) or the gateway closes."""
    outcome = session.outcome
    while True:
        event = await session.events()
        if event is None:
            return
        if isinstance(event, CloseConnection):
            if session.ws.state is wsproto.ConnectionState.OPEN:
                # wsproto could not parse the gateway's frame: it made this close up.
                outcome.problem = f"invalid frame from the gateway: {event.reason}"
            else:
                outcome.close = (event.code, event.reason or "")
            return
        if isinstance(event, TextMessage | BytesMessage):
            if (
                session.message(event)
                and not case.client_closes
                and outcome.probe_answered(case.probe)
            ):
                return
        elif isinstance(event, Ping):
            continue


async def ws_exchange(port: int, case: WsCase, timeout: float) -> WsOutcome:
    """Open a session, write the case's bytes, read answers until the probe or a close."""
    outcome = WsOutcome()
    started = time.monotonic()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(HOST, port)
            ws = wsproto.WSConnection(wsproto.ConnectionType.CLIENT)
            session = _Session(reader, ws, outcome)
            if await _handshake(session, writer, case.target):
                await _send(writer, case.writes)
                await _until_done(session, case)
                if outcome.probe_answered(case.probe) and not (outcome.close or outcome.dropped):
                    await _send(
                        writer, [frame(CLOSE, close_payload(1000, b"done"), random.Random(0))]
                    )
                    outcome.closed_after_ours = True
                    await _until_done(session, case)
    except TimeoutError:
        outcome.timed_out = True
    finally:
        await _hang_up(writer)
        outcome.seconds = time.monotonic() - started
    return outcome
