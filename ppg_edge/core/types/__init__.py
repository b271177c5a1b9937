"""The type system: PostgreSQL text values <-> Python values, psycopg-style.

`ValueParser`s turn a column's text into a Python value by type OID;
`ValueSerializer`s turn parameters into wire values. A `TypeRegistry` holds both
and can be layered per client and per session (user serializers go first).
`array_parser(element)` builds a parser for an array type from its element's
parser; `array_literal(values)` renders a list as a PostgreSQL array literal
parameter (plain lists are otherwise sent as JSON).
"""

from ppg_edge.core.types.model import ValueParser, ValueSerializer
from ppg_edge.core.types.parsers import array_parser, default_parsers
from ppg_edge.core.types.registry import RowParser, TypeRegistry, default_registry
from ppg_edge.core.types.serializers import array_literal, default_serializers

__all__ = [
    "RowParser",
    "TypeRegistry",
    "ValueParser",
    "ValueSerializer",
    "array_literal",
    "array_parser",
    "default_parsers",
    "default_registry",
    "default_serializers",
]
