"""Statement descriptors (PROTOCOL.md section 2) parsed into what libpq needs.

Pure code: the HTTP and WebSocket handlers feed it the descriptor JSON and the
extended parameter values in order; it checks every rule and raises
:class:`ProtocolViolation` with a readable message on the first broken one.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ppg_edge.core.protocol import (
    BINARY_FORMAT,
    BINARY_PARAM_URN,
    EXEC_KIND,
    QUERY_KIND,
    TEXT_FORMAT,
    TEXT_PARAM_URN,
)

from .errors import ProtocolViolation

LIBPQ_TEXT = 0
LIBPQ_BINARY = 1
MAX_PARAMETERS = 65535
"""PostgreSQL's limit on bind parameters per statement."""
PARAM_URNS = {TEXT_FORMAT: TEXT_PARAM_URN, BINARY_FORMAT: BINARY_PARAM_URN}


@dataclass(frozen=True)
class Extended:
    """One parameter whose value follows the descriptor as its own frame."""

    index: int
    format: str
    byte_size: int

    @property
    def urn(self) -> str:
        """The part name / WebSocket URN this parameter's frame must carry."""
        return PARAM_URNS[self.format]


@dataclass
class Statement:
    """A statement ready for ``PQsendQueryParams``: values as bytes, formats 0/1."""

    kind: str
    sql: str
    values: list[bytes | None] = field(default_factory=list)
    formats: list[int] = field(default_factory=list)
    extended: list[Extended] = field(default_factory=list)
    invalid_text: str | None = None
    """Set when a text value cannot reach PostgreSQL (bad UTF-8, NUL byte)."""

    def byte_size(self) -> int:
        """Roughly the memory this statement holds: its SQL and its parameter values."""
        return len(self.sql) + sum(len(value) for value in self.values if value is not None)

    def fill(self, spec: Extended, data: bytes) -> None:
        """Store the value of an extended parameter after checking its size."""
        if len(data) != spec.byte_size:
            raise ProtocolViolation(
                f"parameter {spec.index + 1}: byteSize is {spec.byte_size} "
                f"but its frame holds {len(data)} bytes"
            )
        if spec.format == TEXT_FORMAT:
            self.invalid_text = self.invalid_text or text_problem(data)
        self.values[spec.index] = data


def text_problem(data: bytes) -> str | None:
    """Why PostgreSQL could not take these bytes as a text value, or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return 'invalid byte sequence for encoding "UTF8"'
    if b"\x00" in data:
        return 'invalid byte sequence for encoding "UTF8": 0x00'
    return None


def parse_descriptor(raw: bytes | str) -> Statement:
    """Parse a descriptor; extended parameters are left as ``None`` to be filled."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolViolation(f"descriptor is not valid JSON: {exc}") from None
    except RecursionError:
        # json's decoder recurses once per nesting level and stops at the recursion limit.
        raise ProtocolViolation("descriptor is nested too deeply") from None
    if not isinstance(doc, dict):
        raise ProtocolViolation("descriptor must be a JSON object")
    kind, sql = _kind_and_sql(doc)
    statement = Statement(kind=kind, sql=sql)
    params = doc.get("parameters", [])
    if not isinstance(params, list):
        raise ProtocolViolation("descriptor 'parameters' must be a list")
    if len(params) > MAX_PARAMETERS:
        raise ProtocolViolation(f"at most {MAX_PARAMETERS} parameters are possible")
    for index, param in enumerate(params):
        _add_parameter(statement, index, param)
    return statement


def _kind_and_sql(doc: dict[str, Any]) -> tuple[str, str]:
    kinds = [k for k in (QUERY_KIND, EXEC_KIND) if k in doc]
    if len(kinds) != 1:
        raise ProtocolViolation("descriptor needs exactly one of 'query' or 'exec'")
    unknown = set(doc) - {kinds[0], "parameters"}
    if unknown:
        raise ProtocolViolation(f"descriptor has unknown keys: {sorted(unknown)}")
    sql = doc[kinds[0]]
    if not isinstance(sql, str):
        raise ProtocolViolation(f"descriptor '{kinds[0]}' must be a string")
    if "\x00" in sql:
        raise ProtocolViolation("SQL text must not contain NUL characters")
    if not _is_unicode(sql):
        raise ProtocolViolation("SQL text is not valid Unicode (a lone surrogate escape)")
    return kinds[0], sql


def _is_unicode(text: str) -> bool:
    """False for text JSON may carry but UTF-8 cannot: lone surrogate escapes (``\\ud800``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _add_parameter(statement: Statement, index: int, param: Any) -> None:
    where = f"parameter {index + 1}"
    if not isinstance(param, dict):
        raise ProtocolViolation(f"{where} must be a JSON object")
    fmt = param.get("type")
    if not isinstance(fmt, str) or fmt not in PARAM_URNS:
        raise ProtocolViolation(f"{where}: type must be 'text' or 'binary'")
    statement.formats.append(LIBPQ_TEXT if fmt == TEXT_FORMAT else LIBPQ_BINARY)
    if "byteSize" in param:
        size = param["byteSize"]
        if set(param) != {"type", "byteSize"} or type(size) is not int or size < 0:
            raise ProtocolViolation(f"{where}: byteSize must be a non-negative integer")
        statement.values.append(None)
        statement.extended.append(Extended(index, fmt, size))
        return
    if set(param) != {"type", "value"}:
        raise ProtocolViolation(f"{where} needs either 'value' or 'byteSize'")
    statement.values.append(_inline_value(statement, where, fmt, param["value"]))


def _inline_value(statement: Statement, where: str, fmt: str, value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolViolation(f"{where}: value must be a string or null")
    if fmt == BINARY_FORMAT:
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ProtocolViolation(f"{where}: binary value is not valid base64") from None
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        raise ProtocolViolation(f"{where}: text value is not valid Unicode") from None
    statement.invalid_text = statement.invalid_text or text_problem(data)
    return data
