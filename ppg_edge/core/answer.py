"""A statement's HTTP answer as a synchronous machine: bytes in, frames out.

The twin of the session machine (PROTOCOL.md sections 3 and 4): `feed(data)`
takes what one network read gave and returns the frames it completed; `end()`
takes the end of the body and raises ProtocolError if the answer was cut short.

Rows are decoded in batches: all the complete row lines of one read go through
one `json.loads` and come out as one `RowRun` of checked values, whose frame
order is checked once. Anything unusual in a read (an error frame, a blank or
CRLF line, a line that is not exactly `{"values":[...]}`, bad JSON, a wrong
width, a value that is not a string or null) sends that read down the careful
path instead, line by line, so errors are the exact ones that path gives.
`_row_run` says why the fast path accepts only what the careful path accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeAlias

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
from ppg_edge.core.protocol import EXEC_KIND, MAX_RESULT_FRAME_BYTES, VALUES_KEY

_DECODE_AT = json.JSONDecoder().raw_decode
_ROW_HEAD = '{"' + VALUES_KEY + '":['
_ROW_TAIL = "]}"
_ROW_BREAK = _ROW_TAIL + "\n" + _ROW_HEAD
_SEPARATOR = ",true,"
_WIRE_TYPES = {str, type(None)}


@dataclass(slots=True)
class RowRun:
    """The data rows one read completed, decoded in one go, in order.

    `values` holds the rows' values in one flat list, `width` per row, already
    checked to be strings and nulls (no list per row: decoding makes one list
    per read, which also leaves the garbage collector nothing to walk). The
    result's flat row function parses them; if a parser fails, `frames()`
    decodes `text` (the run's lines) carefully, so the error raised is the
    careful path's own.
    """

    values: list[str | None]
    width: int
    text: str

    @property
    def count(self) -> int:
        """How many rows the run holds."""
        return len(self.values) // self.width

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
        columns = self._order.columns
        if columns is None:
            head, newline, body = text.partition("\n")
            description = _description(head)
            if description is None or not newline:
                return None
            columns = description.columns
        rows, _, last = body.rpartition("\n")
        complete = not last.startswith(_ROW_HEAD) and _is_complete(last)
        if not complete:
            rows = body
        run = row_run(rows, len(columns)) if rows else None
        if rows and run is None:
            return None
        frames: list[AnswerItem] = []
        if description is not None:
            frames.append(self._order.check(description))  # type: ignore[arg-type]
        if run is not None:
            self._order.expect_rows(run.count)
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


def row_run(text: str, width: int) -> RowRun | None:
    """Lines that are all `{"values":[...]}` of `width` strings and nulls, as one run.

    The lines are joined into one JSON array by turning each line break
    `]}\n{"values":[` into `,true,`, decoded by one call, then checked at C
    speed: k lines must give k*(width+1)-1 items, `true` at every separator's
    place and only strings and nulls elsewhere. That is exact, not a heuristic:
    a `\n` left after the replacement (a blank or odd line) is refused; JSON
    strings hold no raw newline, so every `true` we put in is a token, and with
    no container among the items every one of them is a top-level item; the k-1
    places kept for separators then hold exactly those, so each line held exactly
    `width` values, as the careful path would have read it. Measured on
    `benchmarks/compare.py --only decode` (runs before and after, one machine):
    one list per read instead of a dict and a list per row took the figure from
    456k to 764k dict rows/s (1.43x to 2.17x @prisma/ppg); of the 0.47 µs saved
    per row, 0.2 was the garbage collector walking the rows' containers, which a
    flat list of strings does not have.
    """
    if not width or not text.startswith(_ROW_HEAD) or not text.endswith(_ROW_TAIL):
        return None
    joined = text.replace(_ROW_BREAK, _SEPARATOR)
    if "\n" in joined:
        return None
    lines = (len(text) - len(joined)) // (len(_ROW_BREAK) - len(_SEPARATOR)) + 1
    try:  # the array from the head's `[` must end at the tail's `]`: decoded in place, no copy
        values, end = _DECODE_AT(joined, len(_ROW_HEAD) - 1)
    except (ValueError, RecursionError):
        return None
    if end != len(joined) - 1 or len(values) != lines * (width + 1) - 1:
        return None
    separators = values[width :: width + 1]
    if separators.count(True) != len(separators):  # no container: `1 == True` is harmless
        return None
    del values[width :: width + 1]
    if not {*map(type, values)} <= _WIRE_TYPES:
        return None
    return RowRun(values, width, text)


def _is_complete(line: str) -> bool:
    """Whether `line` is a complete frame (checked by the careful path's own decoder)."""
    try:
        objects = NdjsonDecoder.objects(line)
        frame = decode_frame(objects[0]) if len(objects) == 1 else None
    except ProtocolError:
        return False
    return isinstance(frame, Complete)
