"""The two user-facing building blocks of the type system, and its error helper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ppg_edge.core.errors import UnrepresentableValueError, ValidationError
from ppg_edge.core.parameters import WireValue

Parse = Callable[[str], Any]
"""Turns PostgreSQL's text output of one non-NULL value into a Python value."""

_SHOWN = 60


@dataclass(frozen=True)
class ValueParser:
    """Parses the text form of columns of type `oid`; SQL NULL never reaches `parse`."""

    oid: int
    parse: Parse

    def __post_init__(self) -> None:
        if not isinstance(self.oid, int) or isinstance(self.oid, bool) or self.oid < 0:
            raise ValidationError(f"a ValueParser's oid must be a type OID, not {self.oid!r}")
        if not callable(self.parse):
            raise ValidationError("a ValueParser's parse must be callable")


@dataclass(frozen=True)
class ValueSerializer:
    """Turns a Python value for which `supports(value)` is true into a wire value."""

    supports: Callable[[Any], bool]
    serialize: Callable[[Any], WireValue]

    def __post_init__(self) -> None:
        if not callable(self.supports) or not callable(self.serialize):
            raise ValidationError("a ValueSerializer's supports and serialize must be callable")


def shorten(text: str) -> str:
    """A value's repr, cut short so a huge value never floods an error message."""
    if len(text) <= _SHOWN:
        return repr(text)
    return repr(text[:_SHOWN]) + f"... ({len(text)} chars)"


def unparsable(type_name: str, text: str, why: str = "") -> UnrepresentableValueError:
    """The error raised when a result value cannot become a Python value."""
    reason = f": {why}" if why else ""
    return UnrepresentableValueError(f"cannot parse {type_name} value {shorten(text)}{reason}")
