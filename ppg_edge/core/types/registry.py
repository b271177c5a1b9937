"""TypeRegistry: parsers by OID and serializers in order, layered per client and session.

Rows are parsed by a per-result function built once from the column OIDs
(`row_parser`), so the per-value path is one pre-resolved call, text columns
cost nothing, and NULL never reaches a parser.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ppg_edge.core.errors import (
    GenericError,
    ProtocolError,
    UnrepresentableValueError,
    ValidationError,
)
from ppg_edge.core.parameters import WireValue
from ppg_edge.core.types.batches import BatchBuilder as BatchBuilder  # re-exported
from ppg_edge.core.types.batches import RowShape, compile_checked, compile_flat
from ppg_edge.core.types.model import Parse, ValueParser, ValueSerializer, shorten
from ppg_edge.core.types.parsers import default_parsers, parse_text
from ppg_edge.core.types.serializers import default_serializers

RowParser = Callable[[Sequence[str | None]], list[Any]]
_CACHE_LIMIT = 256


class TypeRegistry:
    """Parsers keyed by OID (later ones win) and serializers tried in order."""

    __slots__ = ("_batches", "_parsers", "_rows", "_serializers")

    def __init__(
        self,
        parsers: Iterable[ValueParser] = (),
        serializers: Iterable[ValueSerializer] = (),
    ) -> None:
        self._parsers: dict[int, Parse] = {p.oid: p.parse for p in parsers}
        self._serializers: tuple[ValueSerializer, ...] = tuple(serializers)
        self._rows: dict[tuple[int, ...], RowParser] = {}
        self._batches: dict[tuple[Any, ...], BatchBuilder] = {}

    def __repr__(self) -> str:
        return f"TypeRegistry({len(self._parsers)} parsers, {len(self._serializers)} serializers)"

    @property
    def parsers(self) -> list[ValueParser]:
        """The effective parsers, one per OID."""
        return [ValueParser(oid, parse) for oid, parse in self._parsers.items()]

    @property
    def serializers(self) -> list[ValueSerializer]:
        """The serializers, in the order they are tried."""
        return list(self._serializers)

    def layered(
        self,
        parsers: Iterable[ValueParser] = (),
        serializers: Iterable[ValueSerializer] = (),
    ) -> TypeRegistry:
        """A new registry: `parsers` override by OID, `serializers` are tried first."""
        merged = TypeRegistry((), (*serializers, *self._serializers))
        merged._parsers = {**self._parsers, **{p.oid: p.parse for p in parsers}}
        return merged

    def parser_for(self, oid: int) -> Parse | None:
        """The parser for `oid`, or None when values of that type stay raw strings."""
        parse = self._parsers.get(oid)
        return None if parse is parse_text else parse

    def parse(self, oid: int, text: str | None) -> Any:
        """One value: NULL -> None, unknown OID -> the raw string."""
        if text is None:
            return None
        parse = self.parser_for(oid)
        if parse is None:
            return text
        try:
            return parse(text)
        except GenericError:
            raise
        except Exception as exc:
            raise _failure(oid, text, exc) from exc

    def row_parser(self, oids: Sequence[int]) -> RowParser:
        """A function turning one row's raw values into Python values; build once per result."""
        key = tuple(oids)
        row = self._rows.get(key)
        if row is None:
            row = _compile([self.parser_for(oid) for oid in key], key)
            if len(self._rows) >= _CACHE_LIMIT:
                self._rows.clear()
            self._rows[key] = row
        return row

    def batch_builder(self, oids: Sequence[int], shape: RowShape) -> BatchBuilder:
        """A function building many rows at once from their raw value lists.

        Each row is built as `shape` says (`ppg_edge.rows`: dict, tuple, a class…).
        The function checks every row's width and that each value is a string or
        null, and raises on anything else (a parser's error too) without saying
        which row: the caller then takes the careful path (`row_parser`, frame
        checks) for the exact error. Built once per result shape and cached.
        """
        return self._builder(compile_checked, oids, shape)

    def flat_builder(self, oids: Sequence[int], shape: RowShape) -> BatchBuilder:
        """`batch_builder` for one flat list of already checked values (strings and
        nulls), `len(oids)` per row in order, as `core.answer.RowRun` holds them.

        No list per row, no type check per value (see `types.batches`); a
        parser's failure raises, and the caller takes the careful path.
        """
        return self._builder(compile_flat, oids, shape)

    def _builder(
        self,
        compile_: Callable[[list[Parse | None], RowShape], BatchBuilder],
        oids: Sequence[int],
        shape: RowShape,
    ) -> BatchBuilder:
        """A generated builder, cached by input kind, OIDs and row shape."""
        key = (compile_, tuple(oids), shape)
        build = self._batches.get(key)
        if build is None:
            build = compile_([self.parser_for(oid) for oid in key[1]], shape)
            if len(self._batches) >= _CACHE_LIMIT:
                self._batches.clear()
            self._batches[key] = build
        return build

    def parse_row(self, oids: Sequence[int], values: Sequence[str | None]) -> list[Any]:
        """One row; prefer `row_parser` when parsing many rows of one result."""
        return self.row_parser(oids)(values)

    def serialize(self, value: Any) -> WireValue:
        """The first serializer that supports `value` decides; None is always NULL.

        Anything a serializer raises that is not already a GenericError becomes a
        ValidationError naming the value's type, so bad parameters fail one way.
        """
        if value is None:
            return None
        for serializer in self._serializers:
            if serializer.supports(value):
                try:
                    return serializer.serialize(value)
                except GenericError:
                    raise
                except Exception as exc:
                    name = type(value).__qualname__
                    raise ValidationError(f"cannot serialize a {name} parameter: {exc}") from exc
        raise ValidationError(
            f"no serializer supports a parameter of type {type(value).__qualname__}"
        )


def _failure(oid: int, text: str, exc: Exception) -> UnrepresentableValueError:
    """A parser's own exception, turned into one that names the type OID and value."""
    return UnrepresentableValueError(
        f"cannot parse value {shorten(text)} of type OID {oid}: {exc!r}"
    )


def _compile(parsers: list[Parse | None], oids: tuple[int, ...]) -> RowParser:
    """Generate a row function with every parser bound by position (no per-value lookups).

    The generated code unpacks the row into locals and builds the list in one
    expression; a NULL never reaches a parser and text columns are not called at all.
    """
    names: dict[str, Any] = {"_fail": _row_failure(parsers, oids)}
    targets = "".join(f"a{index}, " for index in range(len(parsers)))
    items = []
    for index, parse in enumerate(parsers):
        if parse is None:
            items.append(f"a{index}")
        else:
            names[f"p{index}"] = parse
            items.append(f"None if a{index} is None else p{index}(a{index})")
    source = (
        f"def make({', '.join(names)}):\n"
        "    def row(v):\n"
        "        try:\n"
        f"            [{targets}] = v\n"
        f"            return [{', '.join(items)}]\n"
        "        except Exception as exc:\n"
        "            _fail(v, exc)\n"
        "            raise\n"
        "    return row\n"
    )
    scope: dict[str, Any] = {}
    exec(source, scope)
    row: RowParser = scope["make"](**names)
    return row


def _row_failure(
    parsers: list[Parse | None], oids: tuple[int, ...]
) -> Callable[[Sequence[str | None], Exception], None]:
    """Raise a clear error for a row whose width is wrong or one of whose values fails."""

    def fail(values: Sequence[str | None], exc: Exception) -> None:
        if isinstance(exc, GenericError):
            return
        if not isinstance(values, Sequence) or len(values) != len(oids):
            got = f"{len(values)} values" if isinstance(values, Sequence) else repr(type(values))
            raise ProtocolError(f"a row needs {len(oids)} values, one per column; got {got}")
        for oid, parse, text in zip(oids, parsers, values, strict=True):
            if parse is not None and text is not None:
                try:
                    parse(text)
                except Exception as inner:
                    raise _failure(oid, text, inner) from inner
        raise UnrepresentableValueError(f"cannot parse a row: {exc!r}") from exc

    return fail


def default_registry() -> TypeRegistry:
    """A registry with the default parsers and serializers."""
    return TypeRegistry(default_parsers(), default_serializers())
