"""``POST /v0/statement``: a streamed multipart body in, streamed NDJSON out."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import BodyPartReader, ClientPayloadError, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ppg_edge.core.protocol import DESCRIPTOR_URN, MULTIPART_FORM_DATA, NDJSON

from .buffers import BodyBuffers
from .errors import BodyTooLarge, GatewayError, ProtocolViolation
from .execute import frame_lines, gateway_error, run_statement
from .state import GATEWAY, LOG, basic_credentials
from .statement import Statement, parse_descriptor
from .upstream import Connection

READ_CHUNK = 64 * 1024
ANSWERED = "ppg_edge.answered"
"""Set to the status once an answer is completely sent (a later cancellation is not a 499)."""


class BodyTimedOut(GatewayError):
    """The body did not arrive within ``--body-timeout``: HTTP 408, connection closed."""


class _Budget:
    """Counts body bytes as they are read, so chunked bodies meet the limit too.

    Each chunk is reserved in the process-wide BodyBuffers as it is read, never
    what Content-Length merely announces, and only once the login is checked:
    a client that sends headers and no bytes holds nothing. ``release`` gives
    everything back after the statement.
    """

    def __init__(self, limit: int, buffers: BodyBuffers) -> None:
        self.left = limit
        self.limit = limit
        self.buffers = buffers
        self.held = 0

    def spend(self, size: int) -> None:
        self.left -= size
        if self.left < 0:
            raise BodyTooLarge(f"request body exceeds the limit of {self.limit} bytes")
        self.buffers.take(size)
        self.held += size

    def release(self) -> None:
        """Give every reserved byte back (once the statement no longer needs them)."""
        self.buffers.give(self.held)
        self.held = 0


async def _read_part(part: BodyPartReader, budget: _Budget, most: int, what: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(READ_CHUNK):
        budget.spend(len(chunk))
        size += len(chunk)
        if size > most:
            raise ProtocolViolation(f"{what} holds more than the {most} bytes announced")
        chunks.append(chunk)
    return b"".join(chunks)


async def _next_part(reader: MultipartReader, expected: str) -> BodyPartReader:
    part = await reader.next()
    if part is None:
        raise ProtocolViolation(f"body ended before the part {expected!r}")
    if not isinstance(part, BodyPartReader):
        raise ProtocolViolation("nested multipart bodies are not allowed")
    if part.name != expected:
        raise ProtocolViolation(f"expected part {expected!r}, got {part.name!r}")
    return part


async def _parse_body(reader: MultipartReader, budget: _Budget) -> Statement:
    part = await _next_part(reader, DESCRIPTOR_URN)
    statement = parse_descriptor(await _read_part(part, budget, budget.limit, "descriptor"))
    for spec in statement.extended:
        part = await _next_part(reader, spec.urn)
        what = f"parameter {spec.index + 1} (byteSize {spec.byte_size})"
        data = await _read_part(part, budget, spec.byte_size, what)
        statement.fill(spec, data)
    extra = await reader.next()
    if extra is not None:
        name = extra.name if isinstance(extra, BodyPartReader) else "multipart"
        raise ProtocolViolation(f"unexpected part {name!r} after the last parameter")
    return statement


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, lower case, without parameters.

    Cheaper than ``request.content_type``, which builds an email message per request.
    """
    return content_type.partition(";")[0].strip().lower()


def check_head(request: web.Request, limit: int) -> None:
    """What the head alone shows wrong (checked before the login, costs nothing)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"request body exceeds the limit of {limit} bytes")
    content_type = request.headers.get("Content-Type", "")
    if media_type(content_type) != MULTIPART_FORM_DATA:
        raise ProtocolViolation("Content-Type must be multipart/form-data")
    if not content_type.isascii():
        raise ProtocolViolation("the Content-Type header must be ASCII text")


async def read_statement(request: web.Request, budget: _Budget) -> Statement:
    """Read the descriptor and each extended parameter as they arrive, checking sizes."""
    try:
        reader = MultipartReader(request.headers, request.content)
        return await _parse_body(reader, budget)
    except HttpProcessingError as exc:
        raise ProtocolViolation(f"malformed multipart body: {exc.message}") from None
    except (ValueError, AssertionError, RuntimeError, KeyError, ClientPayloadError) as exc:
        raise ProtocolViolation(f"malformed multipart body: {exc}") from None


async def _receive(request: web.Request, budget: _Budget, seconds: float) -> Statement:
    """The whole statement within ``seconds`` (a stalled or trickled body is cut)."""
    try:
        async with asyncio.timeout(seconds):
            return await read_statement(request, budget)
    except TimeoutError:
        raise BodyTimedOut(f"request body not received within {seconds:g} s") from None


async def statement_handler(request: web.Request) -> web.StreamResponse:
    """Log in (or take a pooled login), then read the body, run it and stream its frames.

    The login comes first: Basic credentials are only proven by PostgreSQL, and
    no body byte is read or reserved for a client that has not proven them.
    """
    gateway = request.app[GATEWAY]
    config = gateway.config
    credentials = basic_credentials(request, gateway.database(request))
    check_head(request, config.max_body_size)
    budget = _Budget(config.max_body_size, gateway.buffers)
    try:
        async with gateway.pools.connection(credentials) as conn:
            try:
                statement = await _receive(request, budget, config.body_timeout)
            except GatewayError as exc:
                refused = exc  # raised below, once the connection is back in its pool
            else:
                return await _respond(request, conn, statement)
        raise refused
    finally:
        budget.release()


async def _respond(
    request: web.Request, conn: Connection, statement: Statement
) -> web.StreamResponse:
    """Stream the statement's answer; mark the request answered once it is all sent."""
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
        async for frames in run_statement(conn, statement):
            await response.write(frame_lines(frames))
        # The client has its answer before the connection's reset round trip.
        await response.write_eof()
        request[ANSWERED] = response.status
    except ConnectionError:
        request["ppg_edge.note"] = "client went away"
    except Exception:
        if not response.prepared:
            raise
        LOG.exception("statement failed after its answer started")
        request["ppg_edge.note"] = "internal error mid-stream"
        with contextlib.suppress(Exception):
            _, text = gateway_error("internal gateway error", "XX000")
            await response.write(text + b"\n")
            await response.write_eof()
    return response
