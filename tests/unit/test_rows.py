"""The row factories of `ppg_edge.rows` through the real generated batch functions
(`TypeRegistry.batch_builder` / `flat_builder`) and the careful one-row path, which
must build the very same rows."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import pytest

from ppg_edge._answers import RowMaker
from ppg_edge._results import Row
from ppg_edge.core.answer import RowRun
from ppg_edge.core.errors import UnrepresentableValueError, ValidationError
from ppg_edge.core.frames import Column, DataRow
from ppg_edge.core.types import default_registry
from ppg_edge.rows import (
    RowShape,
    class_row,
    dict_row,
    namedtuple_row,
    tuple_row,
    values_row,
)

COLUMNS = (Column("id", 23), Column("name", 25), Column("at", 1184))
VALUES = [["1", "a", "2024-01-02 03:04:05+00"], ["2", None, None]]
AT = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
OIDS = [column.oid for column in COLUMNS]


@dataclass
class Item:
    id: int
    name: str | None
    at: dt.datetime | None


def _run(rows: list[list[str | None]]) -> RowRun:
    """A run as one HTTP read decodes it: flat values and the lines they came from."""
    text = "\n".join(json.dumps({"values": row}) for row in rows) + "\n"
    return RowRun([value for row in rows for value in row], len(COLUMNS), text)


def _both(factory: Any) -> tuple[list[Any], list[Any]]:
    """The rows of VALUES through the checked and the flat generated functions."""
    registry = default_registry()
    shape = factory(COLUMNS)
    checked = registry.batch_builder(OIDS, shape)([list(row) for row in VALUES])
    flat = registry.flat_builder(OIDS, shape)([value for row in VALUES for value in row])
    return checked, flat


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (tuple_row, [(1, "a", AT), (2, None, None)]),
        (dict_row, [{"id": 1, "name": "a", "at": AT}, {"id": 2, "name": None, "at": None}]),
        (values_row, [Row([1, "a", AT]), Row([2, None, None])]),
        (class_row(Item), [Item(1, "a", AT), Item(2, None, None)]),
    ],
    ids=["tuple", "dict", "values", "class"],
)
def test_generated_functions_build_each_shape(factory: Any, expected: list[Any]) -> None:
    checked, flat = _both(factory)
    assert checked == expected
    assert flat == expected
    assert [type(row) for row in checked] == [type(row) for row in expected]
    shape = factory(COLUMNS)
    assert [shape.make(row) for row in ([1, "a", AT], [2, None, None])] == expected


def test_namedtuple_rows_have_fields_and_one_class_per_shape() -> None:
    checked, flat = _both(namedtuple_row)
    assert checked == flat == [(1, "a", AT), (2, None, None)]
    assert (checked[0].id, checked[0].name, checked[0].at) == (1, "a", AT)
    assert type(checked[0]) is type(flat[1])
    odd = namedtuple_row((Column("?column?", 23), Column("class", 23)))
    assert odd.make([1, 2])._fields == ("_0", "_1")


def test_generated_functions_are_cached_by_shape() -> None:
    registry = default_registry()
    assert registry.flat_builder(OIDS, tuple_row(COLUMNS)) is registry.flat_builder(
        OIDS, tuple_row(COLUMNS)
    )
    assert registry.flat_builder(OIDS, tuple_row(COLUMNS)) is not registry.flat_builder(
        OIDS, dict_row(COLUMNS)
    )
    assert registry.flat_builder(OIDS, class_row(Item)(COLUMNS)) is registry.flat_builder(
        OIDS, class_row(Item)(COLUMNS)
    )


def test_row_maker_builds_runs_and_session_rows_with_its_factory() -> None:
    maker = RowMaker(default_registry(), COLUMNS, tuple_row)
    run = _run(VALUES)
    assert maker.rows([run]) == [(1, "a", AT), (2, None, None)]
    assert maker.rows([DataRow(list(VALUES[0]))]) == [(1, "a", AT)]
    assert not maker.use(dict_row)  # rows were built: too late to switch


def test_row_maker_switches_factory_before_the_first_row() -> None:
    maker = RowMaker(default_registry(), COLUMNS)
    assert maker.use(class_row(Item))
    assert maker.rows([DataRow(list(VALUES[1]))]) == [Item(2, None, None)]


def test_careful_path_keeps_the_parsers_exact_error_under_any_factory() -> None:
    for factory in (tuple_row, dict_row, class_row(Item), namedtuple_row):
        maker = RowMaker(default_registry(), COLUMNS, factory)
        run = _run([["1", "a", "infinity"]])
        with pytest.raises(UnrepresentableValueError, match="infinity"):
            maker.rows([run])


def test_class_errors_surface_as_the_class_raises_them() -> None:
    @dataclass
    class Narrow:
        id: int

    maker = RowMaker(default_registry(), COLUMNS, class_row(Narrow))
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        maker.rows([_run(VALUES[:1])])


def test_bad_factories_are_validation_errors() -> None:
    with pytest.raises(ValidationError, match="class_row"):
        class_row(42)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="RowShape"):
        RowMaker(default_registry(), COLUMNS, lambda columns: "dict")  # type: ignore[arg-type,return-value]
    with pytest.raises(ValidationError, match="callable"):
        RowShape("kwargs", ("a",)).make([1])
