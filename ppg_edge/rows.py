"""Row factories: what shape each result row takes (as in `psycopg.rows`).

A row factory is called once per result with its columns and answers with a
`RowShape`: how to build a row from its parsed values. The shape is not a
per-row callback: the result's generated function (`core.types.batches`)
writes the shape out in its row expression, so a dict is one dict display, a
tuple one tuple display, a class one `cls(**{...})` call, with no Python call
per row besides the class's own. `RowShape.make` builds one row the same way,
for the careful path that re-parses a batch row by row for a parser's exact
error.

- `dict_row`: `{column name: value}` (the high-level default; a repeated name
  keeps the last value, as psycopg's `dict_row`).
- `tuple_row`: a tuple in column order (the DB-API cursor's rows).
- `namedtuple_row`: a `collections.namedtuple` per result shape (names that are
  not identifiers are renamed `_0`, `_1`…, as `namedtuple(rename=True)` does).
- `class_row(cls)`: `cls(**{column name: value})`, e.g. a dataclass or a pydantic
  model; a column the class does not take is the class's TypeError.
- `values_row`: a `Row` whose `.values` is the list (the low-level default).
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from ppg_edge._results import Row
from ppg_edge.core.errors import ValidationError
from ppg_edge.core.frames import Column
from ppg_edge.core.types.batches import RowShape

__all__ = [
    "RowFactory",
    "RowShape",
    "class_row",
    "dict_row",
    "namedtuple_row",
    "tuple_row",
    "values_row",
]

T = TypeVar("T")


class RowFactory(Protocol):
    """Called once per result with its columns; says how that result's rows are built."""

    def __call__(self, columns: Sequence[Column], /) -> RowShape: ...


def dict_row(columns: Sequence[Column], /) -> RowShape:
    """Rows as dicts keyed by column name."""
    return RowShape("dict", _names(columns))


def tuple_row(columns: Sequence[Column], /) -> RowShape:
    """Rows as tuples, in column order."""
    return _TUPLE


def values_row(columns: Sequence[Column], /) -> RowShape:
    """Rows as `Row` objects whose `.values` is the list of values (the low-level default)."""
    return _VALUES


def namedtuple_row(columns: Sequence[Column], /) -> RowShape:
    """Rows as named tuples; one class per set of column names, cached."""
    return RowShape("args", build=_namedtuple(_names(columns)))


def class_row(cls: Callable[..., T]) -> RowFactory:
    """Rows as `cls(**{column name: value})`: a dataclass, attrs or pydantic class…"""
    if not callable(cls):
        raise ValidationError("class_row() takes a class (or any callable taking keywords)")

    def factory(columns: Sequence[Column], /) -> RowShape:
        return RowShape("kwargs", _names(columns), cls)

    factory.__name__ = factory.__qualname__ = f"class_row({getattr(cls, '__name__', cls)!s})"
    return factory


def check_factory(factory: Any) -> RowFactory:
    """A row factory as given, or a ValidationError naming what was passed instead."""
    if not callable(factory):
        raise ValidationError(f"row_factory must be a row factory, not {type(factory).__name__}")
    checked: RowFactory = factory
    return checked


def shape_of(factory: RowFactory, columns: Sequence[Column]) -> RowShape:
    """The factory's shape for these columns, checked to be a RowShape."""
    shape = factory(columns)
    if not isinstance(shape, RowShape):
        raise ValidationError("a row factory must return a RowShape")
    return shape


_TUPLE = RowShape("tuple")
_VALUES = RowShape("list", build=Row)


def _names(columns: Sequence[Column]) -> tuple[str, ...]:
    return tuple(column.name for column in columns)


@functools.lru_cache(maxsize=512)
def _namedtuple(names: tuple[str, ...]) -> type[tuple[Any, ...]]:
    """A named tuple class for these column names (cached: one per result shape)."""
    made: type[tuple[Any, ...]] = namedtuple("Row", names, rename=True)  # type: ignore[misc]
    return made
