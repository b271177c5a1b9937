"""``GET /v0/session``: one WebSocket is one database session on one pinned connection.

A reader task reads ahead (statements queue up, bounded in number and in
bytes: at most ``max_body_size`` queued, or one statement) while an executor
runs them in order and answers FIFO as URN/JSON text pairs. When the socket
closes for any reason, the running statement is cancelled and the connection
closed at once, which rolls back any open transaction. Under the cancel
extension (ws_cancel) the client may also cancel one statement and keep the session.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import WSCloseCode, WSMessage, WSMsgType, web

from ppg_edge.core.protocol import (
    CANCEL_URN,
    CLOSE_GOING_AWAY,
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_SERVER_ERROR,
    COMPLETE_URN,
    DATAROW_URN,
    ERROR_URN,
    QUERY_CANCELED_SQLSTATE,
    WS_SUBPROTOCOL_CANCEL,
)

from . import drain, metrics
from .credentials import check_credentials
from .errors import (
    AuthenticationFailed,
    BodyTooLarge,
    InvalidCredentials,
    ProtocolViolation,
    UpstreamUnavailable,
)
from .execute import (
    MAX_PIPELINE,
    Frame,
    RowLines,
    gateway_error,
    pipelinable,
    run_pipeline,
    run_statement,
)
from .state import GATEWAY, LOG, LOGGED, Gateway
from .statement import Statement
from .upstream import Connection, Credentials, connect, discard
from .wire_text import close_reason
from .ws_assembler import StatementAssembler
from .ws_cancel import Cancels, parse_cancel, session_protocols
from .ws_socket import FRAME_ERRORS, Enclosed, GatewaySocket, Texts

QUEUE_DEPTH = 256
Numbered = tuple[int, Statement]
"""A statement and its position in the session, counted from 1 (what a cancel names)."""
ANSWER_ENDS = (COMPLETE_URN, ERROR_URN)
SKIPPED_FRAME = gateway_error(
    "canceling statement due to user request (cancelled before it started)",
    QUERY_CANCELED_SQLSTATE,
)
UNAUTHENTICATED = web.AppKey("unauthenticated", set[web.WebSocketResponse])
"""Upgraded sockets that have not sent their auth message yet (they hold no session slot)."""


def _auth_message(message: WSMessage) -> tuple[str, str]:
    if message.type != WSMsgType.TEXT:
        raise ProtocolViolation("the first message must be the text auth message")
    try:
        doc = json.loads(message.data)
    except ValueError:
        raise ProtocolViolation("the auth message is not valid JSON") from None
    except RecursionError:
        raise ProtocolViolation("the auth message is nested too deeply") from None
    if not isinstance(doc, dict) or not all(
        isinstance(doc.get(key), str) for key in ("username", "password")
    ):
        raise ProtocolViolation('the auth message must be {"username": ..., "password": ...}')
    # Checked here already so that the session's log line only ever names a valid user.
    check_credentials(doc["username"], doc["password"], None)
    return doc["username"], doc["password"]


class Session:
    """One WebSocket session from authentication to close."""

    def __init__(
        self,
        gateway: Gateway,
        ws: GatewaySocket,
        database: str | None,
        unauthenticated: set[web.WebSocketResponse],
    ) -> None:
        self.gateway = gateway
        self.ws = ws
        self.unauthenticated = unauthenticated
        self.database = database
        self.user = "-"
        self.queue: asyncio.Queue[Numbered] = asyncio.Queue(QUEUE_DEPTH)
        self.cancels = Cancels()
        self.cancellable = ws.ws_protocol == WS_SUBPROTOCOL_CANCEL
        self._cancel_next = False
        self.assembler = StatementAssembler(gateway.config.max_body_size)
        self.queued_bytes = 0
        self.most_queued_bytes = 0
        self._room = asyncio.Event()
        self._executor: asyncio.Task[None] | None = None
        self.busy = False
        self.last_activity = time.monotonic()
        self.statements = 0
        self.note = ""
        self.code: int | None = None
        drain.track(self)

    async def close(self, code: int, reason: str) -> None:
        """Close the socket with a code and a readable reason (once)."""
        if not self.note:
            self.note, self.code = reason, code
        await self.ws.close(code=code, message=close_reason(reason))

    async def run(self) -> None:
        """Authenticate, then read and execute until the socket closes."""
        conn = await self._login()
        if conn is None:
            return
        executor = self._executor = asyncio.create_task(self._execute(conn))
        executor.add_done_callback(lambda _: self._room.set())
        try:
            await self._read(conn)
        finally:
            self.cancels.close()
            executor.cancel()
            try:
                # wait() never raises the executor's own cancellation, but a second
                # cancellation of this task still propagates.
                await asyncio.wait([executor])
            finally:
                await asyncio.shield(discard(conn))

    async def _login(self) -> Connection | None:
        config = self.gateway.config
        try:
            # Not receive(timeout=...): aiohttp restarts that timeout after every ping or
            # pong, so a client pinging every few seconds would never have to authenticate.
            async with asyncio.timeout(config.auth_timeout):
                message = await self.ws.receive()
        except TimeoutError:
            reason = f"no auth message within {config.auth_timeout:g} s"
            await self.close(CLOSE_POLICY_VIOLATION, reason)
            return None
        if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            self.note = self._ended(message)
            return None
        try:
            user, password = _auth_message(message)
            self.user = user
            if not await self._take_slot():
                return None
            return await connect(self.gateway.upstream, Credentials(user, password, self.database))
        except InvalidCredentials as exc:
            await self.close(CLOSE_POLICY_VIOLATION, f"invalid credentials: {exc}")
        except ProtocolViolation as exc:
            await self.close(CLOSE_PROTOCOL_ERROR, str(exc))
        except AuthenticationFailed as exc:
            await self.close(CLOSE_POLICY_VIOLATION, f"authentication failed: {exc}")
        except UpstreamUnavailable as exc:
            busy = exc.status == 503
            await self.close(WSCloseCode.TRY_AGAIN_LATER if busy else CLOSE_SERVER_ERROR, str(exc))
        return None

    async def _take_slot(self) -> bool:
        """Trade the socket's unauthenticated place for a session slot, if one is free."""
        self.unauthenticated.discard(self.ws)
        config = self.gateway.config
        if len(self.gateway.sessions) >= config.max_sessions:
            metrics.rejected("max_sessions")
            reason = f"too many sessions (limit {config.max_sessions}); try again later"
            await self.close(WSCloseCode.TRY_AGAIN_LATER, reason)
            return False
        self.gateway.sessions.add(self.ws)
        return True

    def _pending(self) -> bool:
        """Work in hand: the idle timeout never ends a session with any (half-sent ones too)."""
        return self.busy or not self.queue.empty() or not self.assembler.idle or self._cancel_next

    async def _receive(self) -> WSMessage | None:
        """The next message, or None after closing an idle session (idle since the last answer)."""
        idle = self.gateway.config.idle_timeout
        if not idle:
            return await self.ws.receive()
        while True:
            left = idle if self._pending() else self.last_activity + idle - time.monotonic()
            try:
                async with asyncio.timeout(max(left, 0.01)):  # pongs must not extend it
                    message = await self.ws.receive()
            except TimeoutError:
                if self._pending() or time.monotonic() - self.last_activity < idle:
                    continue
                await self.close(CLOSE_GOING_AWAY, f"idle timeout: no statement for {idle:g} s")
                return None
            self.last_activity = time.monotonic()
            return message

    async def _read(self, conn: Connection) -> None:
        assembler = self.assembler
        try:
            while (message := await self._receive()) is not None:
                if message.type == WSMsgType.TEXT and self._cancel_message(message.data, conn):
                    continue
                if message.type == WSMsgType.TEXT:
                    statement = assembler.text(message.data)
                elif message.type == WSMsgType.BINARY:
                    statement = assembler.binary(message.data)
                else:
                    self.note = self.note or self._ended(message)
                    return
                if statement is not None and not await self._enqueue(statement):
                    return
        except ProtocolViolation as exc:
            await self.close(CLOSE_PROTOCOL_ERROR, f"protocol error: {exc}")
        except BodyTooLarge as exc:
            await self.close(CLOSE_MESSAGE_TOO_BIG, f"too big: {exc}")

    def _cancel_message(self, text: str, conn: Connection) -> bool:
        """Take a message of the cancel extension (True), or leave it to the assembler."""
        if self._cancel_next:
            self._cancel_next = False
            self.cancels.request(parse_cancel(text), conn)
            return True
        if self.cancellable and text == CANCEL_URN and self.assembler.idle:
            self._cancel_next = True
            return True
        return False

    async def _enqueue(self, statement: Statement) -> bool:
        """Queue a statement once the read-ahead has room for its bytes; False if the
        executor has ended (nothing will ever make room)."""
        size = statement.byte_size()
        limit = self.gateway.config.max_body_size
        while self.queued_bytes and self.queued_bytes + size > limit:
            if self._executor is not None and self._executor.done():
                return False
            self._room.clear()
            await self._room.wait()
        self.queued_bytes += size
        self.most_queued_bytes = max(self.most_queued_bytes, self.queued_bytes)
        self.cancels.received += 1
        await self.queue.put((self.cancels.received, statement))
        return True

    def _dequeued(self, item: Numbered) -> Numbered:
        self.queued_bytes -= item[1].byte_size()
        self._room.set()
        return item

    def _ended(self, message: WSMessage) -> str:
        if message.type == WSMsgType.ERROR:
            return f"error: {message.data}"
        return "client closed"

    async def _next_batch(self, carry: list[Numbered]) -> list[Numbered]:
        """The next statement, plus those queued right behind it that can share a pipeline
        (not one cancelled already: it is answered alone, without running)."""
        batch = [carry.pop(0) if carry else self._dequeued(await self.queue.get())]
        if not pipelinable(batch[0][1]) or batch[0][0] in self.cancels.skipped:
            return batch
        while len(batch) < MAX_PIPELINE and not self.queue.empty():
            item = self._dequeued(self.queue.get_nowait())
            if not pipelinable(item[1]) or item[0] in self.cancels.skipped:
                carry.append(item)
                break
            batch.append(item)
        return batch

    async def _execute(self, conn: Connection) -> None:
        carry: list[Numbered] = []
        try:
            while True:
                batch = await self._next_batch(carry)
                self.busy = True
                started = time.monotonic()
                await self.cancels.start(tuple(number for number, _ in batch))
                await self._answer(conn, batch)
                self.cancels.done()
                self.busy = False
                self.last_activity = time.monotonic()
                self.statements += len(batch)
                metrics.ws_answered(len(batch), self.last_activity - started)
                if conn.closed:
                    await self.close(CLOSE_SERVER_ERROR, "connection to PostgreSQL lost")
                    return
        except ConnectionError:  # the client went away while an answer was being sent
            return
        except Exception:
            LOG.exception("session executor failed")
            await self.close(CLOSE_SERVER_ERROR, "internal gateway error")

    async def _answer(self, conn: Connection, batch: list[Numbered]) -> None:
        if len(batch) == 1 and self.cancels.skip(batch[0][0]):
            await self._send([SKIPPED_FRAME])
            return
        numbers = [number for number, _ in batch]
        statements = [statement for _, statement in batch]
        if len(statements) > 1:
            answers = run_pipeline(conn, statements)
        else:
            answers = run_statement(conn, statements[0])
        self.cancels.reading(numbers[0], conn)
        ended = 0
        async for frames in answers:
            if self.cancels.gave_up.is_set():  # rows nobody reads: only the answer's end goes out
                frames = [frame for frame in frames if frame[0] != DATAROW_URN]
            await self._send(frames)
            ended += sum(urn in ANSWER_ENDS for urn, _ in frames)
            if 0 < ended < len(numbers):  # the statements before this one are answered
                self.cancels.reading(numbers[ended], conn)

    async def _send(self, frames: list[Frame]) -> None:
        """A batch of frames as URN/JSON message pairs, in one write; the wait for the client
        to take them ends when the statement is given up (ws_cancel)."""
        pairs = [(urn, _texts(text)) for urn, text in frames]
        await self.ws.send_pairs(pairs, until=self.cancels.gave_up)


def _texts(lines: bytes | RowLines) -> Texts:
    """A frame's messages: its lines, or a batch of rows as the parts it was joined from."""
    if isinstance(lines, RowLines):
        return Enclosed(lines.bodies, RowLines.OPENING, RowLines.CLOSING)
    return lines.split(b"\n")


async def session_handler(request: web.Request) -> web.StreamResponse:
    """Upgrade to a WebSocket session (subprotocol selected) and serve it.

    The socket takes a session slot only once its auth message is in; until
    then it is one of at most ``--max-unauthenticated`` waiting for
    ``--auth-timeout`` seconds, with its first message capped by the frame gate.
    """
    gateway = request.app[GATEWAY]
    config = gateway.config
    if config.origin_refused(request.headers.get("Origin")):
        raise web.HTTPForbidden(text="origin not allowed")
    ws = GatewaySocket(
        protocols=session_protocols(request.headers.get("Sec-WebSocket-Protocol", "")),
        max_msg_size=config.max_body_size,
        compress=False,
        heartbeat=config.heartbeat or None,
    )
    await ws.prepare(request)
    waiting = request.app[UNAUTHENTICATED]
    session = Session(gateway, ws, gateway.database(request), waiting)
    started = time.monotonic()
    try:
        if len(waiting) >= config.max_unauthenticated:
            metrics.rejected("max_unauthenticated")
            reason = (
                f"too many sockets waiting to authenticate (limit {config.max_unauthenticated}); "
                "try again later"
            )
            await session.close(WSCloseCode.TRY_AGAIN_LATER, reason)
        else:
            waiting.add(ws)
            await session.run()
    except asyncio.CancelledError:  # the connection is gone (aiohttp cancels its handler)
        lost = ws.exception()  # e.g. no pong within the heartbeat
        session.note = session.note or (f"error: {lost}" if lost else "client went away")
        raise
    finally:
        waiting.discard(ws)
        gateway.sessions.discard(ws)
        _log_session(session, request, started)
        request[LOGGED] = True
        if not ws.closed:
            await asyncio.shield(ws.close())
    return ws


def _log_session(session: Session, request: web.Request, started: float) -> None:
    failure = getattr(request.protocol, "websocket_failure", None)
    if failure is not None:  # the frame gate failed the connection below aiohttp
        session.code, session.note = failure
    sent = getattr(session.ws, "sent", None)
    if session.code is None and sent is not None and sent[0] in FRAME_ERRORS:
        session.code, session.note = sent  # aiohttp's parser found the violation
    info: dict[str, Any] = {
        "user": session.user,
        "db": session.database or "-",
        "statements": session.statements,
        "readahead": session.most_queued_bytes,
        "close": session.code or session.ws.close_code,
    }
    metrics.session_ended(info["close"])
    fields = " ".join(f"{key}={value}" for key, value in info.items())
    elapsed = (time.monotonic() - started) * 1000
    LOG.info("WS %s %s %s (%s) %.0fms", request.path, fields, request.remote, session.note, elapsed)
