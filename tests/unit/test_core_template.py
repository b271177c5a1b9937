"""SQL templates: t-strings (by shape) and the portable str.format-style form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ppg_edge.core.errors import ValidationError
from ppg_edge.core.template import format_to_sql, is_template, template_to_sql


@dataclass
class Interpolation:
    value: Any
    expression: str
    conversion: str | None = None
    format_spec: str = ""


class Template:
    """Same shape as string.templatelib.Template, for Pythons before 3.14."""

    def __init__(self, strings: tuple[str, ...], interpolations: tuple[Interpolation, ...]):
        self.strings = strings
        self.interpolations = interpolations


Template.__module__ = "string.templatelib"


def test_template_becomes_numbered_placeholders() -> None:
    email, limit = "a'; DROP TABLE users; --", 5
    template = Template(
        ("SELECT * FROM users WHERE email = ", " LIMIT ", ""),
        (Interpolation(email, "email"), Interpolation(limit, "limit")),
    )
    assert is_template(template)
    sql, values = template_to_sql(template)
    assert sql == "SELECT * FROM users WHERE email = $1 LIMIT $2"
    assert values == [email, limit]
    assert email not in sql


def test_template_conversions_and_specs_are_refused() -> None:
    refused = (Interpolation(1, "x", conversion="r"), Interpolation(1, "x", format_spec="05"))
    for interpolation in refused:
        with pytest.raises(ValidationError):
            template_to_sql(Template(("SELECT ", ""), (interpolation,)))


def test_other_objects_are_not_templates() -> None:
    assert not is_template("SELECT 1")
    assert not is_template(Interpolation(1, "x"))


@pytest.mark.parametrize(
    ("template", "args", "kwargs", "sql", "values"),
    [
        ("SELECT {} + {} AS s", (1, 2), {}, "SELECT $1 + $2 AS s", [1, 2]),
        ("WHERE email = {email}", (), {"email": "e"}, "WHERE email = $1", ["e"]),
        ("{a} {b} {a}", (), {"a": 1, "b": 2}, "$1 $2 $1", [1, 2]),
        ("{1} {0} {1}", ("x", "y"), {}, "$1 $2 $1", ["y", "x"]),
        ("SELECT '{{}}'::json, {}", (None,), {}, "SELECT '{}'::json, $1", [None]),
        ("SELECT 1", (), {}, "SELECT 1", []),
        ("{} {name}", (1,), {"name": 2}, "$1 $2", [1, 2]),
    ],
)
def test_portable_form(
    template: str, args: tuple[Any, ...], kwargs: dict[str, Any], sql: str, values: list[Any]
) -> None:
    assert format_to_sql(template, args, kwargs) == (sql, values)


@pytest.mark.parametrize(
    ("template", "args", "kwargs"),
    [
        ("{x!r}", (), {"x": 1}),
        ("{x:>10}", (), {"x": 1}),
        ("{x.attr}", (), {"x": 1}),
        ("{x[0]}", (), {"x": [1]}),
        ("{} {0}", (1,), {}),
        ("{0} {}", (1,), {}),
        ("{}", (), {}),
        ("{missing}", (), {}),
        ("{}", (1, 2), {}),
        ("SELECT 1", (), {"unused": 1}),
        ("SELECT '{'", (), {}),
        ("SELECT '}'", (), {}),
    ],
)
def test_portable_form_errors(template: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        format_to_sql(template, args, kwargs)


def test_values_never_enter_the_sql_text() -> None:
    hostile = "'; DROP TABLE x; --{}"
    sql, values = format_to_sql("SELECT {v}", (), {"v": hostile})
    assert sql == "SELECT $1" and values == [hostile]


@pytest.mark.parametrize(
    "template",
    [
        "SELECT {²}",  # str.isdigit() holds, int() refuses
        "SELECT {①}",
        "SELECT {٣}",  # a decimal digit, but not an ASCII one
        "SELECT {" + "9" * 5000 + "}",  # int() refuses over 4300 digits
        "SELECT {0[0]}",
        "SELECT {a.b}",
        "SELECT { }",
    ],
)
def test_every_malformed_field_is_a_validation_error(template: str) -> None:
    with pytest.raises(ValidationError):
        format_to_sql(template, (1,), {"a": 2})


_template_text = st.text(alphabet=st.sampled_from("{}!:[]. 0123456789²①٣abé_x\n"), max_size=24)


@settings(max_examples=600)
@given(_template_text, st.integers(0, 3), st.lists(st.sampled_from(["a", "b", "é"]), max_size=2))
def test_any_template_text_gives_sql_or_a_validation_error(
    template: str, count: int, names: list[str]
) -> None:
    args = tuple(range(count))
    kwargs = {name: name for name in names}
    try:
        sql, values = format_to_sql(template, args, kwargs)
    except ValidationError:
        return
    assert len(values) == count + len(kwargs)
    assert sql.count("$") >= len(values)
