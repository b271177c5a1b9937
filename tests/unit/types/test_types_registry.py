"""TypeRegistry: lookups, row parsers, layering and serializer order."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ppg_edge.core.errors import DataError, ProtocolError, ValidationError
from ppg_edge.core.types import (
    TypeRegistry,
    ValueParser,
    ValueSerializer,
    array_parser,
    default_parsers,
    default_registry,
    default_serializers,
)


def test_row_parser_parses_each_column_by_its_oid() -> None:
    row = default_registry().row_parser([23, 25, 16, 1082, 600])
    assert row(["1", "x", "t", "2024-01-02", "(1,2)"]) == [1, "x", True, date(2024, 1, 2), "(1,2)"]
    assert row([None, None, None, None, None]) == [None] * 5


def test_row_parser_is_built_once_per_oid_list() -> None:
    registry = default_registry()
    assert registry.row_parser([23, 25]) is registry.row_parser((23, 25))
    assert registry.parse_row([23, 25], ["5", "y"]) == [5, "y"]


def test_zero_columns() -> None:
    assert default_registry().parse_row([], []) == []


def test_wide_rows() -> None:
    row = default_registry().row_parser([23] * 1600)
    assert row([str(i) for i in range(1600)]) == list(range(1600))


def test_row_parser_accepts_tuples() -> None:
    assert default_registry().parse_row((23, 16), ("1", "f")) == [1, False]


@pytest.mark.parametrize("values", [["1"], ["1", "2", "3"], [], None, 5])
def test_row_of_wrong_width_is_a_protocol_error(values: Any) -> None:
    with pytest.raises(ProtocolError, match="a row needs 2 values"):
        default_registry().parse_row([23, 23], values)


def test_row_failure_names_oid_and_value() -> None:
    with pytest.raises(DataError, match=r"'oops' of type OID 23") as caught:
        default_registry().parse_row([25, 23], ["fine", "oops"])
    assert isinstance(caught.value.__cause__, ValueError)


def test_parser_raising_generic_error_is_not_rewrapped() -> None:
    with pytest.raises(DataError, match="infinite") as caught:
        default_registry().parse_row([1082], ["infinity"])
    assert caught.value.__cause__ is None


def test_defaults_are_fresh_lists() -> None:
    first = default_parsers()
    first.clear()
    assert default_parsers()
    assert len(default_serializers()) >= 10


def test_layered_parsers_override_by_oid_without_touching_the_base() -> None:
    base = default_registry()
    layered = base.layered(parsers=[ValueParser(23, lambda s: f"int:{s}")])
    assert layered.parse(23, "4") == "int:4"
    assert layered.parse(16, "t") is True
    assert base.parse(23, "4") == 4
    assert layered.row_parser([23])(["4"]) == ["int:4"]
    assert base.row_parser([23])(["4"]) == [4]


def test_layered_parser_can_claim_a_text_oid_and_an_unknown_oid() -> None:
    layered = default_registry().layered([ValueParser(25, str.upper), ValueParser(600, len)])
    assert layered.parse_row([25, 600], ["ab", "(1,2)"]) == ["AB", 5]


def test_later_parser_for_same_oid_wins() -> None:
    registry = TypeRegistry([ValueParser(23, int), ValueParser(23, float)])
    assert registry.parse(23, "2") == 2.0
    assert [p.oid for p in registry.parsers] == [23]


def test_layered_serializers_are_tried_first() -> None:
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    base = default_registry()
    client = base.layered(
        serializers=[
            ValueSerializer(lambda v: isinstance(v, Money), lambda v: f"{v.cents / 100:.2f}")
        ]
    )
    session = client.layered(
        serializers=[ValueSerializer(lambda v: isinstance(v, int), lambda v: f"#{v}")]
    )
    assert client.serialize(Money(150)) == "1.50"
    assert session.serialize(Money(150)) == "1.50"
    assert session.serialize(7) == "#7"
    assert client.serialize(7) == "7"
    with pytest.raises(ValidationError, match="Money"):
        base.serialize(Money(1))


def test_none_is_null_even_without_serializers() -> None:
    assert TypeRegistry().serialize(None) is None
    with pytest.raises(ValidationError, match="int"):
        TypeRegistry().serialize(1)


def test_empty_registry_leaves_everything_raw() -> None:
    assert TypeRegistry().parse_row([23, 16], ["1", None]) == ["1", None]


def test_user_parser_sees_text_and_never_null() -> None:
    seen: list[Any] = []

    def record(text: str) -> int:
        seen.append(text)
        return 0

    registry = TypeRegistry([ValueParser(23, record)])
    registry.parse_row([23, 23], [None, "9"])
    assert seen == ["9"]


def test_custom_scalar_parser_with_array_parser_for_infinity() -> None:
    def clamped(text: str) -> date:
        return {"infinity": date.max, "-infinity": date.min}.get(text) or date.fromisoformat(text)

    registry = default_registry().layered(
        [ValueParser(1082, clamped), ValueParser(1182, array_parser(clamped))]
    )
    assert registry.parse_row([1082, 1182], ["infinity", "{-infinity,2024-01-02,NULL}"]) == [
        date.max,
        [date.min, date(2024, 1, 2), None],
    ]


def test_serializer_failures_become_validation_errors() -> None:
    def explode(value: Any) -> str:
        raise RuntimeError("boom")

    registry = default_registry().layered(serializers=[ValueSerializer(lambda v: v == 3, explode)])
    with pytest.raises(ValidationError, match="int parameter: boom"):
        registry.serialize(3)
    with pytest.raises(ValidationError, match="int"):
        default_registry().serialize(10**5000)


def test_repr_counts() -> None:
    assert repr(TypeRegistry([ValueParser(1, int)], [])) == "TypeRegistry(1 parsers, 0 serializers)"


@pytest.mark.parametrize(("oid", "parse"), [("23", int), (True, int), (-1, int), (23, "int")])
def test_value_parser_checks_its_fields(oid: Any, parse: Any) -> None:
    with pytest.raises(ValidationError, match="ValueParser"):
        ValueParser(oid, parse)


def test_value_serializer_checks_its_fields() -> None:
    with pytest.raises(ValidationError, match="ValueSerializer"):
        ValueSerializer(lambda v: True, "t")  # type: ignore[arg-type]
