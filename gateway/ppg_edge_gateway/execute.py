"""Run one statement on a PostgreSQL connection and produce protocol frames.

Works at the libpq level (``psycopg.pq``): parameters bound with type OID 0,
text or binary per parameter; statements without parameters use the simple
query protocol so scripts of several statements run as one implicit
transaction; single-row mode hands rows over as PostgreSQL sends them, so
memory stays bounded and a slow consumer slows the reads. Values stay
PostgreSQL's text output, except scalar bytea which goes out as base64 (the
only conversion: a result set without a bytea column is streamed as the bytes
libpq holds, checked rather than decoded and re-encoded; see ``plain_block``).

A WebSocket burst of single statements runs in libpq pipeline mode (one
Sync per statement, so a failure does not cancel the next ones): PostgreSQL
gets them back to back instead of one round trip each.

Single-row mode (not chunked rows mode) because libpq drops a partly filled
chunk when the statement then fails (libpq 18: the chunk never arrives, the
error result comes alone): every row PostgreSQL sent before an error must
reach the client. Rows already buffered are handled in one batch, so the
event loop is entered once per socket read, not once per row.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
from psycopg import pq
from psycopg.adapt import AdaptersMap, Buffer, Loader, Transformer
from psycopg.types.string import TextLoader

from ppg_edge.core.protocol import (
    COLUMNS_KEY,
    COMPLETE_KEY,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    ERROR_FIELDS,
    ERROR_KEY,
    ERROR_URN,
    EXEC_DESCRIPTION,
    EXEC_KIND,
    VALUES_KEY,
)

from .libpq_io import copy_out_drain, flush, next_result
from .statement import Statement

TextFrame = tuple[str, bytes]
"""Protocol messages of one URN: their JSON texts as UTF-8, one per line.

JSON text has no raw newline: HTTP sends the lines as they are (NDJSON), a
session splits them (one C call) and frames each after a message of its URN.
"""
Frame = tuple[str, "bytes | RowLines"]
"""A ``TextFrame``, or a batch of rows joined as libpq holds them (``plain_block``),
whose ``RowLines`` a session frames without splitting."""
RawRow = tuple[bytes | None, ...]
"""One row as libpq holds it: each value's text output, or None for a null."""

BATCH_FRAMES = 2048
BYTEA_OID = 17
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_PROBE: list[str | None] = ['a\u00e9"\n', None, "1"]
_PROBE_JSON = '["a\u00e9\\"\\n",null,"1"]'


def _compact_encoder() -> Callable[[Any], str]:
    """Compact JSON; CPython's C encoder called directly skips ~1 us of Python per call.

    ``c_make_encoder`` is private: if it is missing, its signature changed or its
    output differs from the public encoder's, the public encoder is used instead.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    basestring = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or basestring is None:
        return _DUMPS
    try:
        encode = make(None, None, basestring, None, ":", ",", False, False, False)
        works = "".join(encode(_PROBE, 0)) == _PROBE_JSON
    except Exception:
        # Any failure of a private API means: do not use it.
        return _DUMPS
    if not works:
        return _DUMPS

    def encode_compact(value: Any) -> str:
        return "".join(encode(value, 0))

    return encode_compact


_ROW_JSON = _compact_encoder()
_ROW_SEAM = "],["
_ROW_PREFIX = "{" + _DUMPS(VALUES_KEY) + ":"


def _row_frame(row: list[str | None]) -> TextFrame:
    return (DATAROW_URN, (_ROW_PREFIX + _ROW_JSON(row) + "}").encode("utf-8"))


def _text_frame(urn: str, text: str) -> TextFrame:
    return (urn, text.encode("utf-8"))


_PLAIN_OPEN = (_ROW_PREFIX + '["').encode("ascii")
_PLAIN_SEP = b'","'
_PLAIN_CLOSE = b'"]}'
_PLAIN_ROWS = _PLAIN_CLOSE + b"\n" + _PLAIN_OPEN
_CONTROLS = bytes(range(0x20))


@dataclass(frozen=True, slots=True)
class RowLines:
    """Data rows ``plain_block`` found exact, in the form each transport sends.

    ``text`` is their NDJSON lines (what HTTP writes); ``bodies`` holds each row's
    values as they stand inside its line, between ``OPENING`` and ``CLOSING``. A
    session frames its messages from the bodies (``ws_socket.Enclosed``) with C
    calls alone, instead of splitting the lines and heading each one. Checking and
    framing 1,000 rows of ``benchmarks/compare.py``'s end-to-end query took 272-276
    ns a row that way and 231-233 this way (rows of about 200 bytes: 403-409 and
    331-338), the same bytes; ``benchmarks/session_framing.py`` times both.
    """

    text: bytes
    bodies: list[bytes]
    OPENING: ClassVar[bytes] = _PLAIN_OPEN
    CLOSING: ClassVar[bytes] = _PLAIN_CLOSE


def frame_lines(frames: Sequence[Frame]) -> bytes:
    """The frames' messages as NDJSON, a line each (an HTTP answer's bytes)."""
    lines = [text if isinstance(text, bytes) else text.text for _, text in frames]
    return b"\n".join(lines) + b"\n"


def plain_block(rows: list[RawRow]) -> Frame | None:
    """Datarow messages of rows of libpq's bytes joined as they are, or None when not exact.

    Compact JSON (``ensure_ascii=False``) of a string is the string in quotes
    unless it holds ``"``, ``\\`` or a character under U+0020; its UTF-8 is then
    the value's own bytes. The whole batch is joined by C calls alone (no Python
    step per row), its lines separated by newlines; joining raises TypeError on
    a null. Then one check over the text: its quotes are exactly the structural
    ones (a row without values would also miscount), no backslash, no control
    byte but the separators (bytes of multi-byte UTF-8 are all 0x80 and up),
    valid UTF-8 (what decoding the value demands: such rows take the decoding
    path, which raises).
    """
    if not rows:
        return (DATAROW_URN, b"")
    try:
        bodies = list(map(_PLAIN_SEP.join, rows))  # type: ignore[arg-type]
    except TypeError:
        return None
    text = _PLAIN_OPEN + _PLAIN_ROWS.join(bodies) + _PLAIN_CLOSE
    quotes = 2 * (sum(map(len, rows)) + len(rows))  # each value's pair, each key's pair
    if text.count(b'"') != quotes or b"\\" in text:
        return None
    if len(text.translate(None, _CONTROLS)) != len(text) - (len(rows) - 1):
        return None
    if not text.isascii():
        try:
            text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    return (DATAROW_URN, RowLines(text, bodies))


def decoded(rows: list[RawRow]) -> list[list[str | None]]:
    """Rows of bytes as text, as psycopg's text loader decodes them (strict UTF-8)."""
    return [[None if value is None else value.decode("utf-8") for value in row] for row in rows]


def row_block(rows: list[list[str | None]]) -> TextFrame:
    """Datarow messages for many rows, with as few Python calls per row as exact.

    The rows' JSON from one encoder call is split at row seams: values are
    strings or null, so outside strings "],[" occurs exactly between rows; a
    count above that means some value holds it, and those rows are encoded one by one.
    """
    inner = _ROW_JSON(rows)[1:-1]
    if inner.count(_ROW_SEAM) != len(rows) - 1:
        return (DATAROW_URN, b"\n".join([_row_frame(row)[1] for row in rows]))
    text = _ROW_PREFIX + inner.replace(_ROW_SEAM, "]}\n" + _ROW_PREFIX + "[") + "}"
    return (DATAROW_URN, text.encode("utf-8"))


@functools.lru_cache(maxsize=64)
def _row_getter(width: int) -> Callable[[Callable[[int, int], bytes | None]], RawRow]:
    """A function taking a single-row result's ``get_value`` to the row's values.

    Generated per width: one call per value, none per column index or loop
    step (half the time of a comprehension over the columns). The source holds
    nothing but column numbers.
    """
    calls = "".join(f"get(0, {column})," for column in range(width))
    getter: Callable[[Callable[[int, int], bytes | None]], RawRow] = eval(f"lambda get: ({calls})")
    return getter


_DIAG = pq.DiagnosticField
_ERROR_DIAG = dict(
    zip(
        ERROR_FIELDS,
        (
            _DIAG.MESSAGE_PRIMARY,
            _DIAG.SQLSTATE,
            _DIAG.SEVERITY_NONLOCALIZED,
            _DIAG.MESSAGE_DETAIL,
            _DIAG.MESSAGE_HINT,
            _DIAG.STATEMENT_POSITION,
            _DIAG.INTERNAL_POSITION,
            _DIAG.INTERNAL_QUERY,
            _DIAG.CONTEXT,
            _DIAG.SCHEMA_NAME,
            _DIAG.TABLE_NAME,
            _DIAG.COLUMN_NAME,
            _DIAG.DATATYPE_NAME,
            _DIAG.CONSTRAINT_NAME,
            _DIAG.SOURCE_FILE,
            _DIAG.SOURCE_LINE,
            _DIAG.SOURCE_FUNCTION,
        ),
        strict=True,
    )
)
_ROW_STATUSES = (pq.ExecStatus.SINGLE_TUPLE, pq.ExecStatus.TUPLES_CHUNK, pq.ExecStatus.TUPLES_OK)
_SINGLE = pq.ExecStatus.SINGLE_TUPLE
_END_STATUSES = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY, pq.ExecStatus.TUPLES_OK)
_ERROR_STATUSES = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE)
COMPLETE_FRAME: TextFrame = _text_frame(COMPLETE_URN, _DUMPS({COMPLETE_KEY: True}))
EXEC_DESCRIPTION_FRAME: TextFrame = _text_frame(DESCRIPTION_URN, _DUMPS(EXEC_DESCRIPTION))


class Base64ByteaLoader(Loader):
    """Scalar bytea: PostgreSQL's hex output turned into base64 (PROTOCOL.md section 3)."""

    def load(self, data: Buffer) -> str:
        raw = bytes(data)
        if raw.startswith(b"\\x"):
            return base64.b64encode(bytes.fromhex(raw[2:].decode("ascii"))).decode("ascii")
        return raw.decode("utf-8")


RAW_ADAPTERS = AdaptersMap()
RAW_ADAPTERS.register_loader(0, TextLoader)
RAW_ADAPTERS.register_loader(BYTEA_OID, Base64ByteaLoader)


def error_frame(fields: dict[str, str]) -> TextFrame:
    """An error frame from wire-named fields."""
    return _text_frame(ERROR_URN, _DUMPS({ERROR_KEY: fields}))


def gateway_error(message: str, code: str, severity: str = "ERROR") -> TextFrame:
    """An error frame for a failure the gateway detects itself."""
    return error_frame({"message": message, "code": code, "severity": severity})


def result_error(res: pq.abc.PGresult) -> TextFrame:
    """Every error field PostgreSQL sent, by its wire name; absent ones omitted."""
    fields: dict[str, str] = {}
    for name, code in _ERROR_DIAG.items():
        value = res.error_field(code)
        if value is not None:
            fields[name] = value.decode("utf-8", "replace")
    if "message" not in fields:
        fields["message"] = res.error_message.decode("utf-8", "replace").strip() or "bad response"
    fields.setdefault("code", "XX000")
    fields.setdefault("severity", "ERROR")
    return error_frame(fields)


class _Results:
    """Turns the libpq results of one statement (or script) into frames."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.done = 0
        self.streaming: int | None = None
        self.described = False
        self.count = 0
        self.statement_rows = 0
        self.error: Frame | None = None
        self.transformer = Transformer(RAW_ADAPTERS)
        self.hot = False
        """True while single rows of the streamed row set can take the fast path."""
        self.raw = False
        """True when the streamed row set needs no conversion: rows go out as libpq's bytes."""
        self.blocks = False
        """True once rows went out in blocks (``_hot_rows``): one frame holds many rows, so a
        pipeline's batch ends with this statement (``BATCH_FRAMES`` counts frames)."""

    def accept(self, res: pq.abc.PGresult, frames: list[Frame]) -> None:
        """Add the frames this result produces (if any) to ``frames``."""
        status = res.status
        if status in _ROW_STATUSES:
            self.statement_rows += res.ntuples
            self._rows(res, frames)
        if status in _END_STATUSES or status in _ERROR_STATUSES:
            self.hot = False
        if status in _END_STATUSES:
            # A row-mode statement ends with a TUPLES_OK that may lack a count: count rows.
            rows = self.statement_rows if status == pq.ExecStatus.TUPLES_OK else 0
            self.count = res.command_tuples or rows
            self.statement_rows = 0
            self.done += 1
        elif status in _ERROR_STATUSES and self.error is None:
            self.error = result_error(res)

    def _rows(self, res: pq.abc.PGresult, frames: list[Frame]) -> None:
        if self.kind == EXEC_KIND or self.error is not None:
            return
        if self.streaming is None:
            self.streaming = self.done
        if self.streaming != self.done:
            return
        if not self.described:
            self.described = True
            columns = [
                {"name": (res.fname(i) or b"").decode("utf-8", "replace"), "typeOid": res.ftype(i)}
                for i in range(res.nfields)
            ]
            frames.append(_text_frame(DESCRIPTION_URN, _DUMPS({COLUMNS_KEY: columns})))
            self.transformer.set_pgresult(res)
            self.hot = res.status == pq.ExecStatus.SINGLE_TUPLE
            types = [res.ftype(i) for i in range(res.nfields)]
            self.raw = BYTEA_OID not in types
        if res.ntuples:
            self.transformer.set_pgresult(res, set_loaders=False)
            frames += map(_row_frame, self.transformer.load_rows(0, res.ntuples, list))

    def finish(self) -> list[Frame]:
        if self.error is not None:
            return [self.error]
        if self.kind == EXEC_KIND:
            return [EXEC_DESCRIPTION_FRAME, _row_frame([str(self.count)]), COMPLETE_FRAME]
        return [COMPLETE_FRAME]


def _send(pgconn: pq.abc.PGconn, statement: Statement) -> None:
    sql = statement.sql.encode("utf-8")
    if statement.values:
        pgconn.send_query_params(sql, statement.values, param_formats=statement.formats)
    else:
        pgconn.send_query(sql)
    pgconn.set_single_row_mode()


async def _handle_copy(pgconn: pq.abc.PGconn, res: pq.abc.PGresult) -> Frame | None:
    """COPY has no place in the protocol: end it and report why."""
    if res.status == pq.ExecStatus.COPY_IN:
        pgconn.put_copy_end(b"COPY FROM STDIN is not supported by the gateway")
        await flush(pgconn)
        return None
    await copy_out_drain(pgconn)
    return gateway_error("COPY TO STDOUT is not supported by the gateway", "0A000")


async def _collect(pgconn: pq.abc.PGconn, results: _Results, frames: list[Frame]) -> bool:
    """Wait for one result, then take every result already buffered; True when finished."""
    res = await next_result(pgconn)
    while res is not None:
        if results.hot and res.status == _SINGLE:
            res, paused = _hot_rows(pgconn, results, res, frames)
            if paused:
                return False
            continue
        if res.status in (pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_OUT):
            results.error = results.error or await _handle_copy(pgconn, res)
        else:
            results.accept(res, frames)
        if pgconn.is_busy() or len(frames) >= BATCH_FRAMES:
            return False
        res = pgconn.get_result()
    return True


def _hot_rows(
    pgconn: pq.abc.PGconn, results: _Results, res: pq.abc.PGresult, frames: list[Frame]
) -> tuple[pq.abc.PGresult | None, bool]:
    """Take buffered single-row results of the streamed row set (the hot path of a large result).

    Returns the first other result (None when the statement is finished) and
    whether the batch stops here: no result is buffered, even after reading what
    the socket holds (a batch per wait, not per libpq read of 16 KiB), or the
    batch is full.
    Rows of a result set without conversions are taken as libpq's bytes
    (``_row_getter``), others through psycopg's transformer (``_block``).
    """
    is_busy, get_result = pgconn.is_busy, pgconn.get_result

    def more() -> bool:
        """Read what the socket already holds; True when libpq still has no whole row."""
        pgconn.consume_input()
        return bool(is_busy())

    rows: list[Any] = []
    room = BATCH_FRAMES - len(frames)
    next_res: pq.abc.PGresult | None = res
    paused = False
    # Two twin loops rather than one calling a row function: each row of the hot path
    # costs no Python call beyond its own work.
    if results.raw:
        getter = _row_getter(res.nfields)
        while next_res is not None and next_res.status == _SINGLE:
            rows.append(getter(next_res.get_value))
            if (is_busy() and more()) or len(rows) >= room:
                next_res, paused = None, True
                break
            next_res = get_result()
    else:
        set_result, load_rows = results.transformer.set_pgresult, results.transformer.load_rows
        while next_res is not None and next_res.status == _SINGLE:
            set_result(next_res, set_loaders=False)
            rows.append(load_rows(0, 1, list)[0])
            if (is_busy() and more()) or len(rows) >= room:
                next_res, paused = None, True
                break
            next_res = get_result()
    results.statement_rows += len(rows)
    results.blocks = True
    frames.append(_block(results, rows))
    return next_res, paused


def _block(results: _Results, rows: list[Any]) -> Frame:
    """The datarow messages of a batch of the streamed row set.

    Rows of bytes that cannot be joined as they are (a null, a value JSON
    escapes) are decoded, and the row set takes psycopg's loaders (C decoding)
    from its next batch on: such values tend to recur (a nullable column, jsonb),
    and the encoder is then the faster path.
    """
    if not results.raw:
        return row_block(rows)
    block = plain_block(rows)
    if block is None:
        results.raw = False
        block = row_block(decoded(rows))
    return block


async def run_statement(
    conn: psycopg.AsyncConnection[Any], statement: Statement
) -> AsyncIterator[list[Frame]]:
    """Yield batches of frames; the last batch ends with complete or error.

    A lost upstream connection becomes an error frame (SQLSTATE 08006); the
    caller sees ``conn.broken`` afterwards.
    """
    if statement.invalid_text is not None:
        yield [gateway_error(statement.invalid_text, "22021")]
        return
    pgconn = conn.pgconn
    results = _Results(statement.kind)
    try:
        _send(pgconn, statement)
        await flush(pgconn)
        async for frames in _batches(pgconn, results):
            yield frames
    except psycopg.OperationalError as exc:
        yield _connection_lost(pgconn, exc)
        return
    yield results.finish()


async def _batches(pgconn: pq.abc.PGconn, results: _Results) -> AsyncIterator[list[Frame]]:
    """The frames of one statement's results, a batch per wait, up to its last result.

    A batch taken without waiting for the socket (libpq had the rows already)
    is followed by one pass of the event loop: PostgreSQL can produce rows as
    fast as they are taken, and a consumer that never waits (a fast client, or
    a statement given up, whose rows are dropped) would otherwise hold the
    loop, starving every other session and the cancel request meant to stop it.
    """
    finished = False
    while not finished:
        frames: list[Frame] = []
        waits = pgconn.is_busy()
        finished = await _collect(pgconn, results, frames)
        if frames:
            yield frames
        if not waits:
            await asyncio.sleep(0)


def _connection_lost(pgconn: pq.abc.PGconn, exc: psycopg.OperationalError) -> list[Frame]:
    """Close what is left of the connection; the error frame that ends the answer."""
    pgconn.finish()
    message = f"connection to PostgreSQL lost: {str(exc).strip()}"
    return [gateway_error(message, "08006", "FATAL")]


MAX_PIPELINE = 64


def pipelinable(statement: Statement) -> bool:
    """True when a statement can go through the extended protocol in a pipeline.

    Scripts need the simple query protocol and COPY cannot run in a pipeline;
    a statement without parameters qualifies only when its text shows neither
    a semicolon nor the word COPY (conservative: no SQL parsing).
    """
    if statement.invalid_text is not None:
        return False
    return bool(statement.values) or (
        ";" not in statement.sql and "copy" not in statement.sql.lower()
    )


async def run_pipeline(
    conn: psycopg.AsyncConnection[Any], statements: list[Statement]
) -> AsyncIterator[list[Frame]]:
    """Like run_statement for several pipelinable statements sent at once, answered in order.

    The answers of statements whose results libpq already holds leave together, in one
    batch of frames (one write to the client, not two per statement). A batch ends
    where ``_batches`` ends one (it is full, or PostgreSQL must be waited for), before
    any wait between statements, so no answer waits on a later statement's execution,
    and after a statement whose rows went out in blocks, so it holds ``BATCH_FRAMES``
    rows at most. ``benchmarks/compare.py --only burst`` measures it.
    """
    pgconn = conn.pgconn
    frames: list[Frame] = []
    try:
        pgconn.enter_pipeline_mode()
        for statement in statements:
            sql = statement.sql.encode("utf-8")
            pgconn.send_query_params(sql, statement.values, param_formats=statement.formats or None)
            pgconn.pipeline_sync()
        await flush(pgconn)
        for statement in statements:
            # Before any is_busy(): libpq may parse the statement's first result there,
            # and single-row mode can no longer be set once it has one.
            pgconn.set_single_row_mode()
            results = _Results(statement.kind)
            finished = False
            while not finished:
                if frames and pgconn.is_busy():
                    yield frames
                    frames = []
                waits = pgconn.is_busy()
                finished = await _collect(pgconn, results, frames)
                if not finished:  # the batch ends here: it is full, or a wait is due
                    yield frames
                    frames = []
                    if not waits:
                        await asyncio.sleep(0)
            if frames and (pgconn.is_busy() or results.blocks):
                yield frames
                frames = []
            sync = await next_result(pgconn)
            if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
                raise psycopg.OperationalError("pipeline out of step")
            frames += results.finish()
        pgconn.exit_pipeline_mode()
        yield frames
    except psycopg.OperationalError as exc:
        yield frames + _connection_lost(pgconn, exc)
