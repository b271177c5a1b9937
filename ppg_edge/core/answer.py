"""A statement's HTTP answer as a synchronous machine: bytes in, frames out.

The twin of the session machine (PROTOCOL.md sections 3 and 4): `feed(data)`
takes what one network read gave and returns the frames it completed; `end()`
takes the end of the body and raises ProtocolError if the answer was cut short.

Rows are decoded in batches: all the complete lines of one read go through one
`json.loads` (as the array `[line,line,...]`) and come out as one `RowRun`,
whose frame order is checked once. Anything unusual in a read (an error frame,
a blank line, a line that is not a plain `{"values": [...]}`, bad JSON) sends
that read down the careful path instead, line by line, so errors are the exact
ones that path gives. The fast path is sound: JSON text holds no raw newline
inside a string, so a newline turned into a comma splits values; a row frame
holds only strings and nulls, so a line that starts with `{` cannot continue
one; and each line must give exactly one value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeAlias

from ppg_edge.core.errors import ProtocolError
from ppg_edge.core.frames import (
    Column,
    Complete,
    DataRow,
    Description,
    Failure,
    FrameOrder,
    decode_frame,
)
from ppg_edge.core.ndjson import NdjsonDecoder
from ppg_edge.core.protocol import COMPLETE_KEY, EXEC_KIND, MAX_RESULT_FRAME_BYTES, VALUES_KEY

_DECODE = json.JSONDecoder().decode
_VALUES = itemgetter(VALUES_KEY)


@dataclass(slots=True)
class RowRun:
    """The data rows one read completed, decoded in one go, in order.

    `values` holds each row's decoded `values` field, not yet checked for width
    or value types: the result's row function checks them while it builds the
    rows. If that check fails, `frames()` decodes `text` (the run's lines)
    carefully, so the error raised is the careful path's own.
    """

    values: list[Any]
    text: str

    def frames(self, columns: tuple[Column, ...]) -> list[DataRow]:
        """The run's rows decoded and checked line by line (the careful path)."""
        order = FrameOrder()
        order.check(Description(columns))
        rows = [order.check(decode_frame(obj)) for obj in NdjsonDecoder.objects(self.text)]
        if not all(isinstance(row, DataRow) for row in rows):
            raise ProtocolError("a frame other than a row arrived among the rows")
        return rows  # type: ignore[return-value]  # checked just above


AnswerItem: TypeAlias = Description | DataRow | RowRun
"""What `feed` hands on: the description and the rows (complete and error are kept)."""


class HttpAnswer:
    """Turns a statement's NDJSON response body into frames, read by read.

    `outcome` is the complete or error frame once it arrived; an error frame's
    DatabaseError is the caller's to raise once the body has been read.
    """

    def __init__(self, kind: str, max_line_bytes: int = MAX_RESULT_FRAME_BYTES) -> None:
        self._lines = NdjsonDecoder(max_line_bytes)
        self._order = FrameOrder(kind)
        self._batched = kind != EXEC_KIND
        self.outcome: Complete | Failure | None = None

    @property
    def columns(self) -> tuple[Column, ...] | None:
        """The columns, once the row description arrived."""
        return self._order.columns

    def feed(self, data: bytes | bytearray | memoryview) -> list[AnswerItem]:
        """The frames completed by `data`, one network read's worth."""
        return self._frames(self._lines.feed_text(data))

    def end(self) -> list[AnswerItem]:
        """The body is over: the last frames; ProtocolError if it ended too early."""
        frames = self._frames(self._lines.end_text())
        if self.outcome is None:
            raise ProtocolError("the response ended before the statement completed (truncated)")
        return frames

    def _frames(self, text: str) -> list[AnswerItem]:
        if not text:
            return []
        if self._batched and not self._order.finished:
            fast = self._fast(text)
            if fast is not None:
                return fast
        return self._careful(text)

    def _careful(self, text: str) -> list[AnswerItem]:
        """Line by line: every check in its place, with its own message."""
        frames: list[AnswerItem] = []
        for obj in NdjsonDecoder.objects(text):
            frame = self._order.check(decode_frame(obj))
            if isinstance(frame, Complete | Failure):
                self.outcome = frame
            else:
                frames.append(frame)
        return frames

    def _fast(self, text: str) -> list[AnswerItem] | None:
        """The frames of `text` if it is [description] rows [complete]; else None."""
        description = None
        body = text
        if self._order.columns is None:
            head, newline, body = text.partition("\n")
            description = _description(head)
            if description is None or not newline:
                return None
        decoded = _row_run(body)
        if decoded is None:
            return None
        run, complete = decoded
        frames: list[AnswerItem] = []
        if description is not None:
            frames.append(self._order.check(description))  # type: ignore[arg-type]
        if run.values:
            self._order.expect_rows(len(run.values))
            frames.append(run)
        if complete:
            self.outcome = self._order.check(Complete())  # type: ignore[assignment]
        return frames


def _description(line: str) -> Description | None:
    """The row description on `line`, if that is what it holds."""
    try:
        objects = NdjsonDecoder.objects(line)
        frame = decode_frame(objects[0]) if len(objects) == 1 else None
    except ProtocolError:
        return None
    return frame if isinstance(frame, Description) else None


def _row_run(text: str) -> tuple[RowRun, bool] | None:
    """Lines of plain row frames, maybe ending in complete, decoded by one JSON call."""
    lines = text.count("\n") + 1
    if not text.startswith("{") or text.count("\n{") != lines - 1:
        return None
    try:
        objects = _DECODE("[" + text.replace("\n", ",") + "]")
    except (ValueError, RecursionError):
        return None
    if len(objects) != lines:
        return None
    complete = _is_complete(objects[-1])
    if complete:
        objects.pop()
        text = text[: max(text.rfind("\n"), 0)]
    try:
        if sum(map(len, objects)) != len(objects):  # one key each: "values"
            return None
        values = list(map(_VALUES, objects))
    except (KeyError, TypeError):
        return None
    return RowRun(values, text), complete


def _is_complete(obj: Any) -> bool:
    return type(obj) is dict and len(obj) == 1 and obj.get(COMPLETE_KEY) is True
