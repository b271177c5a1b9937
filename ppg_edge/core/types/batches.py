"""Generated functions that build a whole batch of rows at once (one per result shape).

Why generated: per row, the work left in Python is unpacking the values, one call
per parsed value and building the dict or list. Writing the row out as one
expression, with every parser and key bound as a closure variable, leaves no
per-value lookup, no call for text columns and no loop over columns. The row's
shape (`RowShape`, from a `ppg_edge.rows` factory) is written out too: a dict or
tuple display, or one call of the row class. Measured on
the rows of `benchmarks/compare.py --only decode` (int4, text, float8,
timestamptz): about 0.6 µs per dict row, of which the dict itself is 0.13, the
three parsers 0.4 and the unpacking 0.04; the rest of a row's 1.3 µs is the one
JSON decode per read (0.27) and `async for` (0.13).

Two shapes of input:
- `compile_checked`: a list of value lists, unchecked; every row's type, width
  and every value's type are checked while building (anything amiss raises);
- `compile_flat`: one flat list of values already checked to be strings and
  nulls, `width` per row (what `core.answer.RowRun` holds): only NULLs are told
  apart, and `zip` over one iterator cuts the rows without a list per row.

Both raise on any failure without saying which row: the caller then takes the
careful path (`TypeRegistry.row_parser`, frame checks) for the exact error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from ppg_edge.core.errors import ProtocolError, ValidationError
from ppg_edge.core.types.model import Parse
from ppg_edge.core.types.temporal import parse_date, parse_timestamp, parse_timestamptz

ShapeKind = Literal["dict", "tuple", "list", "args", "kwargs"]
"""How a row is written out: `dict`/`tuple` displays, `build([values])` (`list`),
`build(*values)` (`args`) or `build(**{names: values})` (`kwargs`)."""


@dataclass(frozen=True, slots=True)
class RowShape:
    """How one result's rows are built; hashable, so generated functions are cached by it."""

    kind: ShapeKind
    names: tuple[str, ...] = ()
    build: Callable[..., Any] | None = None

    def make(self, values: list[Any]) -> Any:
        """One row from its parsed values, exactly as the generated function builds it."""
        kind = self.kind
        if kind == "tuple":
            return tuple(values)
        if kind == "dict":
            return dict(zip(self.names, values, strict=True))
        build = self.builder()
        if kind == "list":
            return build(values)
        if kind == "args":
            return build(*values)
        return build(**dict(zip(self.names, values, strict=True)))

    def builder(self) -> Callable[..., Any]:
        """The callable a `list`, `args` or `kwargs` shape builds its rows with."""
        if self.build is None:
            raise ValidationError(f"a {self.kind!r} row shape needs a callable to build rows")
        return self.build


BatchBuilder = Callable[[list[Any]], list[Any]]
"""Builds a batch of rows from their decoded values; raises on any anomaly."""

_INLINE: tuple[tuple[Parse, str], ...] = (
    (parse_timestamptz, "(t{i} if (t{i} := _fromiso(a{i})).tzinfo is _UTC else p{i}(a{i}))"),
    (parse_timestamp, "_fromiso(a{i})"),
    (parse_date, "_fromdate(a{i})"),
)
"""Default parsers written out in the row expression, saving a Python call per value.

Each expression gives the very value its parser gives whenever it succeeds, and
raises (ValueError) whenever the parser would raise, so the careful path rebuilds
the batch and raises the parser's own DataError (BC, infinity, years past 9999).
timestamptz: `datetime.fromisoformat` reads PostgreSQL's output (`+00`, `+05:30`,
`-03:30:15`, 1 to 6 fraction digits); a UTC offset (the gateway's session
TimeZone) returns `UTC` itself, any other offset goes through the parser, which
converts it. Measured on the decode figure of `benchmarks/compare.py`: a call of
`parse_timestamptz` per value costs about as much as `fromisoformat` itself.
"""
_SCOPE: dict[str, Any] = {
    "_fromiso": datetime.fromisoformat,
    "_fromdate": date.fromisoformat,
    "_UTC": UTC,
}


def _parsed(index: int, parse: Parse) -> str:
    """The expression parsing the non-NULL value `a{index}`."""
    for known, template in _INLINE:
        if parse is known:
            return template.format(i=index)
    return f"p{index}(a{index})"


def _item(scope: dict[str, Any], values: list[str], shape: RowShape) -> str:
    """The expression of one row, of the given shape, built from the value expressions."""
    kind = shape.kind
    if kind == "tuple":
        return f"({''.join(f'{value}, ' for value in values)})"
    if kind in ("dict", "kwargs"):
        scope |= {f"k{index}": name for index, name in enumerate(shape.names)}
        display = "{" + ", ".join(f"k{i}: {v}" for i, v in enumerate(values)) + "}"
        if kind == "dict":
            return display
        scope["_build"] = shape.builder()
        return f"_build(**{display})"
    scope["_build"] = shape.builder()
    if kind == "list":
        return f"_build([{', '.join(values)}])"
    return f"_build({', '.join(values)})"


def _make(scope: dict[str, Any], body: str) -> BatchBuilder:
    """Exec `def build(rows): <body>` as a closure over `scope`; return it."""
    source = (
        f"def make({', '.join(scope)}):\n    def build(rows):\n        {body}\n    return build\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    build: BatchBuilder = namespace["make"](**scope)
    return build


def compile_checked(parsers: list[Parse | None], shape: RowShape) -> BatchBuilder:
    """A builder for a list of unchecked value lists (every type checked on the way)."""
    width = len(parsers)
    scope: dict[str, Any] = {"_check": _shape_check(width), "_null": _null, "_t": type, "_s": str}
    scope |= _SCOPE
    values = []
    for index, parse in enumerate(parsers):
        value = f"a{index}"
        if parse is not None:
            scope[f"p{index}"] = parse
            value = _parsed(index, parse)
        values.append(f"({value} if _t(a{index}) is _s else _null(a{index}))")
    item = _item(scope, values, shape)
    target = f"[{''.join(f'a{index}, ' for index in range(width))}]" if width else "_"
    return _make(scope, f"_check(rows)\n        return [{item} for {target} in rows]")


def compile_flat(parsers: list[Parse | None], shape: RowShape) -> BatchBuilder:
    """A builder for one flat list of checked values (strings and nulls), a row per width."""
    width = len(parsers)
    if not width:
        raise ValueError("a flat batch needs at least one column")
    scope: dict[str, Any] = dict(_SCOPE)
    values = []
    for index, parse in enumerate(parsers):
        if parse is None:
            values.append(f"a{index}")
        else:
            scope[f"p{index}"] = parse
            values.append(f"(None if a{index} is None else {_parsed(index, parse)})")
    item = _item(scope, values, shape)
    target = "".join(f"a{index}, " for index in range(width))
    cut = ", ".join(["_it"] * width)
    return _make(scope, f"_it = iter(rows)\n        return [{item} for {target}in zip({cut})]")


def _shape_check(width: int) -> Callable[[list[Any]], None]:
    """Every row of a batch must be a list of `width` values (checked at C speed)."""

    def check(rows: list[Any]) -> None:
        if rows and ({*map(type, rows)} != {list} or {*map(len, rows)} != {width}):
            raise ProtocolError("a batch holds a row that is not a list of the result's width")

    return check


def _null(value: Any) -> None:
    """A value that is not a string must be null."""
    if value is not None:
        raise ProtocolError("a row value is neither a string nor null")
