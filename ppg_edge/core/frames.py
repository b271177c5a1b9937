"""Result frames, their validation and their order (PROTOCOL.md sections 3 and 4).

Both transports deliver the same frames: an optional description, rows, then
exactly one of complete or error. Anything else is a ProtocolError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from ppg_edge.core.errors import DatabaseError, ProtocolError
from ppg_edge.core.protocol import (
    COLUMNS_KEY,
    COMPLETE_KEY,
    COMPLETE_URN,
    DATAROW_URN,
    DESCRIPTION_URN,
    ERROR_KEY,
    ERROR_URN,
    EXEC_KIND,
    VALUES_KEY,
)
from ppg_edge.core.sqlstate import lookup

_COUNT = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Column:
    """A result column: its name and PostgreSQL type OID."""

    name: str
    oid: int


@dataclass(frozen=True)
class Description:
    """The row description that precedes a statement's rows."""

    columns: tuple[Column, ...]


@dataclass(frozen=True)
class DataRow:
    """One row of raw text values (None is SQL NULL)."""

    values: list[str | None]


@dataclass(frozen=True)
class Complete:
    """The statement finished successfully."""


@dataclass(frozen=True)
class Failure:
    """The statement failed; `error` is what the consumer sees."""

    error: DatabaseError


Frame: TypeAlias = Description | DataRow | Complete | Failure
_URN_KEYS = {
    DESCRIPTION_URN: COLUMNS_KEY,
    DATAROW_URN: VALUES_KEY,
    COMPLETE_URN: COMPLETE_KEY,
    ERROR_URN: ERROR_KEY,
}


def decode_frame(obj: Any) -> Frame:
    """Turn one NDJSON object into a frame, by its key."""
    if not isinstance(obj, dict):
        raise ProtocolError("a result frame must be a JSON object")
    if VALUES_KEY in obj:
        return _data_row(obj[VALUES_KEY])
    if COLUMNS_KEY in obj:
        return _description(obj[COLUMNS_KEY])
    if ERROR_KEY in obj:
        return Failure(database_error(obj[ERROR_KEY]))
    if obj.get(COMPLETE_KEY) is True:
        return Complete()
    raise ProtocolError(f"unknown result frame with keys {sorted(obj)[:5]}")


def decode_ws_frame(urn: str, obj: Any) -> Frame:
    """Turn a WebSocket URN + JSON pair into a frame; the two must agree."""
    key = _URN_KEYS.get(urn)
    if key is None:
        raise ProtocolError(f"unknown result URN {urn[:80]!r}")
    if not isinstance(obj, dict) or key not in obj:
        raise ProtocolError(f"the payload of {urn} lacks its {key!r} field")
    if key == VALUES_KEY:
        return _data_row(obj[key])
    return decode_frame({key: obj[key]})


def _description(columns: Any) -> Description:
    if not isinstance(columns, list):
        raise ProtocolError("a row description's columns must be a list")
    parsed = []
    for column in columns:
        if not isinstance(column, dict):
            raise ProtocolError("a column description must be an object")
        name, oid = column.get("name"), column.get("typeOid")
        if not isinstance(name, str) or not isinstance(oid, int) or isinstance(oid, bool):
            raise ProtocolError("a column needs a string name and an integer typeOid")
        parsed.append(Column(name, oid))
    return Description(tuple(parsed))


def _data_row(values: Any) -> DataRow:
    if not isinstance(values, list) or not all(v is None or isinstance(v, str) for v in values):
        raise ProtocolError("a data row's values must be a list of strings and nulls")
    return DataRow(values)


def database_error(error: Any) -> DatabaseError:
    """An error frame's DatabaseError, of its SQLSTATE's class; other fields go to details."""
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        raise ProtocolError("an error frame needs an object with a string message")
    details = {
        key: str(value)
        for key, value in error.items()
        if key not in ("message", "code")
        and isinstance(value, str | int)
        and not isinstance(value, bool)
    }
    code = str(error.get("code", ""))
    return lookup(code)(error["message"], code, details)


class FrameOrder:
    """Checks one statement's frames: [description] rows* (complete | error).

    Given the statement's kind, an exec answer's shape is checked too: a
    one-column description, at most one row holding a count, and complete only
    after that row. Checked as the frames arrive, a session sees an answer that
    does not fit its statement (a server's stray frame shifted the FIFO) as the
    protocol error it is, instead of handing it to the statement behind.
    """

    def __init__(self, kind: str | None = None) -> None:
        self.columns: tuple[Column, ...] | None = None
        self.finished = False
        self._exec = kind == EXEC_KIND
        self._rows = 0

    def check(self, frame: Frame) -> Frame:
        """Return the frame if it may come now; raise ProtocolError otherwise."""
        if self.finished:
            raise ProtocolError("a frame arrived after the statement had finished")
        if isinstance(frame, Description):
            if self.columns is not None:
                raise ProtocolError("a second row description arrived")
            if self._exec and len(frame.columns) != 1:
                raise ProtocolError("an exec answer's description must have exactly one column")
            self.columns = frame.columns
        elif isinstance(frame, DataRow):
            columns = self.expect_row()
            if len(frame.values) != len(columns):
                raise ProtocolError(
                    f"a data row has {len(frame.values)} values for {len(columns)} columns"
                )
            if self._exec:
                affected_count([frame])
        else:
            if self._exec and isinstance(frame, Complete) and self._rows != 1:
                raise ProtocolError("an exec answer must hold exactly one row")
            self.finished = True
        return frame

    def expect_row(self) -> tuple[Column, ...]:
        """The columns, if a data row may come now (checked without the row itself)."""
        if self.finished:
            raise ProtocolError("a frame arrived after the statement had finished")
        if self.columns is None:
            raise ProtocolError("a data row arrived before the row description")
        if self._exec and self._rows:
            raise ProtocolError("an exec answer holds more than one row")
        self._rows += 1
        return self.columns

    def expect_rows(self, count: int) -> tuple[Column, ...]:
        """`expect_row` for a run of `count` rows of a query, checked once for the run.

        An exec answer holds at most one row, so its rows are checked one by one.
        """
        if self._exec:
            raise ProtocolError("an exec answer's rows are checked one at a time")
        columns = self.expect_row()
        self._rows += count - 1
        return columns


def affected_count(rows: list[DataRow]) -> int:
    """The count an exec statement reports in its single one-value row."""
    if len(rows) != 1 or len(rows[0].values) != 1:
        raise ProtocolError("an exec answer must hold exactly one row with one value")
    value = rows[0].values[0]
    if value is None or not _COUNT.fullmatch(value):
        raise ProtocolError("an exec answer's count is not a decimal number")
    return int(value)
