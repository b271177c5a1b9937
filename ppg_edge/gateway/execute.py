"""Run one statement on a PostgreSQL connection and produce protocol frames.

Works at the libpq level (``psycopg.pq``): parameters bound with type OID 0,
text or binary per parameter; statements without parameters use the simple
query protocol so scripts of several statements run as one implicit
transaction; chunked rows mode hands rows over as PostgreSQL sends them, so
memory stays bounded and a slow consumer slows the reads. Values stay
PostgreSQL's text output (psycopg's C text loader), except scalar bytea which
goes out as base64.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

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
)

from .libpq_io import copy_out_drain, flush, next_result
from .statement import Statement

Frame = tuple[str, str]
"""One protocol frame: its URN and its JSON text."""

CHUNK_ROWS = 256
BYTEA_OID = 17
_DUMPS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
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
_END_STATUSES = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.EMPTY_QUERY, pq.ExecStatus.TUPLES_OK)
_ERROR_STATUSES = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.BAD_RESPONSE)
COMPLETE_FRAME: Frame = (COMPLETE_URN, _DUMPS({COMPLETE_KEY: True}))
EXEC_DESCRIPTION_FRAME: Frame = (DESCRIPTION_URN, _DUMPS(EXEC_DESCRIPTION))


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


def error_frame(fields: dict[str, str]) -> Frame:
    """An error frame from wire-named fields."""
    return (ERROR_URN, _DUMPS({ERROR_KEY: fields}))


def gateway_error(message: str, code: str, severity: str = "ERROR") -> Frame:
    """An error frame for a failure the gateway detects itself."""
    return error_frame({"message": message, "code": code, "severity": severity})


def result_error(res: pq.abc.PGresult) -> Frame:
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

    def accept(self, res: pq.abc.PGresult) -> list[Frame]:
        status = res.status
        frames: list[Frame] = []
        if status in _ROW_STATUSES:
            self.statement_rows += res.ntuples
            frames = self._rows(res)
        if status in _END_STATUSES:
            # In chunked mode the closing TUPLES_OK has no command tag: count the rows.
            rows = self.statement_rows if status == pq.ExecStatus.TUPLES_OK else 0
            self.count = res.command_tuples or rows
            self.statement_rows = 0
            self.done += 1
        elif status in _ERROR_STATUSES and self.error is None:
            self.error = result_error(res)
        return frames

    def _rows(self, res: pq.abc.PGresult) -> list[Frame]:
        if self.kind == EXEC_KIND or self.error is not None:
            return []
        if self.streaming is None:
            self.streaming = self.done
        if self.streaming != self.done:
            return []
        frames: list[Frame] = []
        if not self.described:
            self.described = True
            columns = [
                {"name": (res.fname(i) or b"").decode("utf-8", "replace"), "typeOid": res.ftype(i)}
                for i in range(res.nfields)
            ]
            frames.append((DESCRIPTION_URN, _DUMPS({COLUMNS_KEY: columns})))
        if res.ntuples:
            self.transformer.set_pgresult(res)
            for row in self.transformer.load_rows(0, res.ntuples, list):
                frames.append((DATAROW_URN, '{"values":' + _DUMPS(row) + "}"))
        return frames

    def finish(self) -> list[Frame]:
        if self.error is not None:
            return [self.error]
        if self.kind == EXEC_KIND:
            row = (DATAROW_URN, '{"values":' + _DUMPS([str(self.count)]) + "}")
            return [EXEC_DESCRIPTION_FRAME, row, COMPLETE_FRAME]
        return [COMPLETE_FRAME]


def _send(pgconn: pq.abc.PGconn, statement: Statement) -> None:
    sql = statement.sql.encode("utf-8")
    if statement.values:
        pgconn.send_query_params(sql, statement.values, param_formats=statement.formats)
    else:
        pgconn.send_query(sql)
    pgconn.set_chunked_rows_mode(CHUNK_ROWS)


async def _handle_copy(pgconn: pq.abc.PGconn, res: pq.abc.PGresult) -> Frame | None:
    """COPY has no place in the protocol: end it and report why."""
    if res.status == pq.ExecStatus.COPY_IN:
        pgconn.put_copy_end(b"COPY FROM STDIN is not supported by the gateway")
        await flush(pgconn)
        return None
    await copy_out_drain(pgconn)
    return gateway_error("COPY TO STDOUT is not supported by the gateway", "0A000")


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
        while (res := await next_result(pgconn)) is not None:
            if res.status in (pq.ExecStatus.COPY_IN, pq.ExecStatus.COPY_OUT):
                results.error = results.error or await _handle_copy(pgconn, res)
                continue
            frames = results.accept(res)
            if frames:
                yield frames
    except psycopg.OperationalError as exc:
        pgconn.finish()
        message = f"connection to PostgreSQL lost: {str(exc).strip()}"
        yield [gateway_error(message, "08006", "FATAL")]
        return
    yield results.finish()
