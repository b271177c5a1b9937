"""Descriptor JSON mutations, shared by HTTP parts and WebSocket messages.

Each mutation takes a valid descriptor object and returns the bytes to send,
telling the outlook whether the result must be refused (a broken rule of
PROTOCOL.md section 2), may go either way (SQL the database may reject), or
is the same statement spelled differently (must still be served).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from .outlook import Outlook, pick_weighted

MAX_NESTING_BYTES = 48 * 1024
"""Deep nesting stays under the fuzz gateway's body limit, so it reaches the JSON parser."""
HUGE_NUMBERS = ["1e400", "-1e400", "1" * 5000, "123456789012345678901234567890", "NaN", "-Infinity"]


def _dump(doc: Any) -> bytes:
    return json.dumps(doc).encode("utf-8")


def nested_json(rng: random.Random) -> str:
    """Arrays or objects nested up to thousands deep (balanced or never closed)."""
    shape = rng.choice(["array", "array", "object", "open"])
    unit = {"array": 2, "object": 6, "open": 1}[shape]
    depth = rng.choice([64, 990, 1100, 3000, MAX_NESTING_BYTES // unit])
    if shape == "array":
        return "[" * depth + "]" * depth
    if shape == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth


def _slot(rng: random.Random, doc: dict[str, Any]) -> tuple[dict[str, Any] | list[Any], Any]:
    """A container and key inside the descriptor to overwrite."""
    kind = next(iter(doc))
    params = doc.get("parameters")
    if params and rng.random() < 0.6:
        index = rng.randrange(len(params))
        if rng.random() < 0.3:
            return params, index
        entry = params[index]
        return entry, rng.choice(sorted(entry))
    return doc, rng.choice([kind, "parameters"])


def deep_nesting(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """Deeply nested arrays or objects where a value belongs, or as the whole descriptor."""
    outlook.note("desc-deep-nesting")
    nested = nested_json(rng)
    if rng.random() < 0.3:
        return nested.encode()
    container, key = _slot(rng, doc)
    marker = "__fuzz_nest__"
    container[key] = marker  # type: ignore[index]
    return _dump(doc).replace(json.dumps(marker).encode(), nested.encode(), 1)


WRONG_BY_SLOT: dict[str, list[Any]] = {
    "sql": [5, 1.5, True, None, [], {}, ["SELECT 1"]],
    "parameters": [5, True, "x", {}, {"a": 1}, [1], ["x"], [None], [[]]],
    "entry": [5, "x", None, [], True, [{"type": "text"}]],
    "type": [5, None, "", "TEXT", "json", "bytea", True, ["text"]],
    "value": [5, 1.5, True, [], {}, ["x"]],
    "byteSize": [5.0, "5", True, False, None, -1, -5, 10**30, 2**63, []],
}


def _slot_kind(doc: dict[str, Any], container: Any, key: Any) -> str:
    if container is doc:
        return "parameters" if key == "parameters" else "sql"
    return "entry" if isinstance(container, list) else str(key)


def wrong_type(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """A value of the wrong JSON type (or a number out of range) where another belongs."""
    container, key = _slot(rng, doc)
    slot = _slot_kind(doc, container, key)
    if rng.random() < 0.3:
        marker = "__fuzz_value__"
        container[key] = marker  # type: ignore[index]
        outlook.note(f"desc-huge-number-{slot}")
        number = rng.choice(HUGE_NUMBERS)
        return _dump(doc).replace(json.dumps(marker).encode(), number.encode(), 1)
    choices = list(WRONG_BY_SLOT[slot])
    if slot == "byteSize":
        current = container[key]  # type: ignore[index]
        choices += [current + 1, current + 1000] + ([0, current - 1] if current > 0 else [])
    container[key] = rng.choice(choices)  # type: ignore[index]
    outlook.note(f"desc-wrong-type-{slot}")
    return _dump(doc)


def bad_keys(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """Unknown, missing, doubled or contradictory keys."""
    kind = next(iter(doc))
    other = "exec" if kind == "query" else "query"
    choice = rng.randrange(6)
    if choice in (3, 4) and not doc.get("parameters"):
        choice = 5
    outlook.note(f"desc-keys-{choice}")
    if choice == 0:
        doc["sql"] = doc[kind]
    elif choice == 1:
        doc[other] = doc[kind]
    elif choice == 2:
        doc["sql"] = doc.pop(kind)
    elif choice == 3:
        entry = rng.choice(doc["parameters"])
        entry["byteSize" if "value" in entry else "value"] = 1
    elif choice == 4:
        rng.choice(doc["parameters"]).pop("type")
    else:
        # A repeated key: JSON parsers keep the last one, here of the wrong type.
        return _dump(doc)[:-1] + b', "' + kind.encode() + b'": 5}'
    return _dump(doc)


def broken_syntax(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """JSON that does not parse, or parses to something that is not a descriptor object."""
    text = _dump(doc)
    choice = rng.randrange(10)
    outlook.note(f"desc-syntax-{choice}")
    if choice == 0:
        return text[: rng.randrange(len(text))]
    if choice == 1:
        return text + rng.choice([b"x", b"}", b",", b" {}", b"\x00"])
    if choice == 2:
        return text.replace(b'"', b"'")
    if choice == 3:
        return text[:-1] + b",}"
    if choice == 4:
        # RFC 8259 section 8.1: a parser MAY ignore a byte order mark.
        outlook.note("desc-bom", "any")
        return b"\xef\xbb\xbf" + text
    if choice == 5:
        return text.replace(b'"', b'"\x01', 1)
    if choice == 6:
        return text.replace(b'"', bytes([rng.choice([0x80, 0xC3, 0xFF, 0xED])]), 1)
    if choice == 7:
        return rng.choice([b"", b" ", b"null", b"[]", b'"query"', b"5", b"true"])
    if choice == 8:
        return _dump([doc])
    return rng.randbytes(rng.randrange(1, 64))


def odd_text(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """Characters PostgreSQL cannot take: NUL, lone surrogates, in the SQL or a value."""
    kind = next(iter(doc))
    params = [p for p in doc.get("parameters", []) if isinstance(p.get("value"), str)]
    poison = rng.choice(["\\u0000", "\\ud800", "\\udfff", "\\ud83d"])
    marker = "__fuzz_poison__"
    if params and rng.random() < 0.5:
        entry = rng.choice(params)
        entry["value"] = entry["value"] + marker
        # A NUL in a text value is the database's error; a lone surrogate cannot be UTF-8.
        outlook.note("desc-value-poison", "any")
    else:
        doc[kind] = doc[kind] + marker
        outlook.note("desc-sql-poison", "any")
    return _dump(doc).replace(marker.encode(), poison.encode(), 1)


def wrong_sql(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """Valid protocol, SQL the database rejects or answers differently: any answer but sane."""
    kind = next(iter(doc))
    choice = rng.randrange(4)
    outlook.note(f"desc-sql-{choice}", "any")
    if choice == 0:
        doc[kind] = doc[kind].replace("$1", "$9")
    elif choice == 1:
        doc.setdefault("parameters", []).append({"type": "text", "value": "extra"})
    elif choice == 2:
        doc[kind] = "SELECT " + "1 + " * rng.randrange(1, 4000) + "1"
    else:
        doc[kind] = rng.choice(["", ";", "SELEC 1", "SELECT 1/0", "COPY x FROM STDIN", "SELECT"])
    return _dump(doc)


def restyled(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """The same descriptor spelled differently (whitespace, escapes, key order): still valid."""
    outlook.note("desc-restyled", "ok")
    items = list(doc.items())
    rng.shuffle(items)
    separators = rng.choice([(",", ":"), (", ", ": "), (" ,\n", " :\t")])
    indent = rng.choice([None, 0, 2])
    text = json.dumps(
        dict(items), ensure_ascii=rng.random() < 0.5, separators=separators, indent=indent
    )
    return (rng.choice(["", " ", "\n", "\t"]) + text + rng.choice(["", " ", "\r\n"])).encode()


MUTATIONS: list[tuple[int, Callable[[random.Random, dict[str, Any], Outlook], bytes]]] = [
    (4, deep_nesting),
    (5, wrong_type),
    (3, bad_keys),
    (4, broken_syntax),
    (2, odd_text),
    (2, wrong_sql),
    (2, restyled),
]


def mutate_descriptor(rng: random.Random, doc: dict[str, Any], outlook: Outlook) -> bytes:
    """One seeded mutation of a descriptor (``doc`` is modified)."""
    return pick_weighted(rng, MUTATIONS)(rng, doc, outlook)
