"""SQL templates -> SQL text with $n placeholders plus a parameter list.

Two forms: PEP 750 t-strings (`string.templatelib.Template`, Python 3.14+),
recognised by duck typing so this module imports on any Python; and the
portable str.format-style form (`"… {email}", email=…` or `"{} {}", a, b`).
Values never enter the SQL text; `{{` and `}}` are literal braces.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from ppg_edge.core.errors import ValidationError

_FORMATTER = string.Formatter()


def is_template(obj: object) -> bool:
    """True for a PEP 750 Template (checked by shape, not by importing templatelib)."""
    kind = type(obj)
    return (
        kind.__name__ == "Template"
        and kind.__module__ in ("string.templatelib", "templatelib")
        and hasattr(obj, "strings")
        and hasattr(obj, "interpolations")
    )


def template_to_sql(template: Any) -> tuple[str, list[Any]]:
    """A t-string's SQL and values: each interpolation becomes the next $n."""
    strings: Sequence[str] = template.strings
    interpolations: Sequence[Any] = template.interpolations
    parts = [strings[0]]
    values: list[Any] = []
    for index, interpolation in enumerate(interpolations, start=1):
        if interpolation.conversion is not None or interpolation.format_spec:
            raise ValidationError(
                f"interpolation {{{interpolation.expression}}} may not carry a conversion "
                "or format spec: values are sent as parameters, never formatted into SQL"
            )
        values.append(interpolation.value)
        parts.append(f"${index}")
        parts.append(strings[index])
    return "".join(parts), values


def format_to_sql(
    template: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[str, list[Any]]:
    """A str.format-style template's SQL and values; every field becomes a $n.

    `{}` takes the next positional argument, `{0}` a given one, `{name}` a keyword
    argument; a field used twice reuses its $n. Every argument must be used.
    Fields are read by str.format's own parser, but their names are judged here,
    strictly: ASCII digits or an identifier, nothing else (`str.isdigit` also
    holds for "²", which `int` refuses), so every malformed template is a
    ValidationError, never a ValueError, KeyError or IndexError.
    """
    if not isinstance(template, str):
        raise ValidationError("an SQL template must be a str or a t-string")
    builder = _Builder(args, kwargs)
    try:
        pieces = list(_FORMATTER.parse(template))
    except ValueError as exc:
        raise ValidationError(f"malformed SQL template: {exc}") from None
    parts: list[str] = []
    for literal, field, spec, conversion in pieces:
        parts.append(literal)
        if field is None:
            continue
        if spec or conversion:
            raise ValidationError(
                f"template field {{{field}}} may not carry a conversion or format spec: "
                "values are sent as parameters, never formatted into SQL"
            )
        parts.append(builder.placeholder(field))
    builder.check_all_used()
    return "".join(parts), builder.values


class _Builder:
    """Numbers template fields as $1, $2, … and collects their values."""

    def __init__(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        self.args = args
        self.kwargs = kwargs
        self.values: list[Any] = []
        self._numbers: dict[int | str, int] = {}
        self._auto = 0
        self._manual = False

    def placeholder(self, field: str) -> str:
        key = self._key(field)
        if key not in self._numbers:
            self.values.append(self.args[key] if isinstance(key, int) else self.kwargs[key])
            self._numbers[key] = len(self.values)
        return f"${self._numbers[key]}"

    def _key(self, field: str) -> int | str:
        if field == "":
            if self._manual:
                raise ValidationError("cannot mix {} with numbered fields in an SQL template")
            key: int | str = self._auto
            self._auto += 1
        elif field.isascii() and field.isdigit():
            if self._auto:
                raise ValidationError("cannot mix {} with numbered fields in an SQL template")
            self._manual = True
            key = _index(field, len(self.args))
        elif field.isidentifier():
            key = field
        else:
            raise ValidationError(
                f"template field {{{field}}} must be empty, a number or a plain name"
            )
        if isinstance(key, int) and key >= len(self.args):
            raise ValidationError(f"the SQL template needs positional argument {key}")
        if isinstance(key, str) and key not in self.kwargs:
            raise ValidationError(f"the SQL template needs keyword argument {key!r}")
        return key

    def check_all_used(self) -> None:
        unused_args = [i for i in range(len(self.args)) if i not in self._numbers]
        unused_kwargs = [k for k in self.kwargs if k not in self._numbers]
        if unused_args or unused_kwargs:
            names = [str(i) for i in unused_args] + unused_kwargs
            raise ValidationError(f"SQL template arguments not used: {', '.join(names)}")


def _index(digits: str, count: int) -> int:
    """A numbered field's index; one with more digits than any index here is refused
    before `int` sees it (int refuses over 4300 digits with a ValueError)."""
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(count)):
        shown = significant if len(significant) <= 20 else significant[:20] + "…"
        raise ValidationError(f"the SQL template needs positional argument {shown}")
    return int(significant)
