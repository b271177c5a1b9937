"""PostgreSQL array literals: parsing `{…}` text output and rendering it for parameters.

Parsing returns nested Python lists; the optional dimension decoration
(`[0:1]={…}`) is accepted and dropped, since Python lists always start at 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

_TOKEN = re.compile(
    r"""
      "(?P<quoted>(?:[^"\\]|\\.)*)"
    | (?P<open>\{)
    | (?P<close>\})
    | (?P<comma>,)
    | (?P<space>[ \t\n\r\v\f]+)
    | (?P<bare>(?:[^{},"\\ \t\n\r\v\f]|\\.)(?:(?:[^{},"\\]|\\.)*(?:[^{},"\\ \t\n\r\v\f]|\\.))?)
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_NEEDS_QUOTES = re.compile(r'[{},"\\ \t\n\r\v\f]|^$|^[Nn][Uu][Ll][Ll]$')
_DIMENSIONS = re.compile(r"(?:\[-?\d+:-?\d+\])+=")
_NULLS = frozenset(a + b + c + d for a in "nN" for b in "uU" for c in "lL" for d in "lL")
"""NULL as a bare element, in any case (PostgreSQL quotes strings spelled so)."""
_BARE = r'[^{},"\\ \t\n\r\v\f]+'
_QUOTED = r'"(?:[^"\\]|\\.)*"'
_BARE_1D = re.compile(rf"\{{{_BARE}(?:,{_BARE})*\}}")
_QUOTED_1D = re.compile(rf"\{{(?:{_BARE}|{_QUOTED})(?:,(?:{_BARE}|{_QUOTED}))*\}}", re.DOTALL)
_ITEM = re.compile(rf'"((?:[^"\\]|\\.)*)"|({_BARE})', re.DOTALL)
"""1-D arrays as PostgreSQL prints them (no whitespace between items) take one
regex validation and one split or findall; anything else takes the token loop."""

Element = Callable[[str], Any] | None


def parse_array(text: str, element: Element = None) -> list[Any]:
    """Parse an array literal; `element` turns each non-NULL item into a value."""
    if text.startswith("["):
        decoration = _DIMENSIONS.match(text)
        if decoration is None:
            raise ValueError("malformed array dimensions")
        text = text[decoration.end() :]
    if text == "{}":
        return []
    if _BARE_1D.fullmatch(text):
        return _bare(text[1:-1].split(","), element)
    if _QUOTED_1D.fullmatch(text):
        return _quoted(_ITEM.findall(text, 1, len(text) - 1), element)
    return _parse_nested(text, element)


def _bare(items: list[str], element: Element) -> list[Any]:
    """The fastest path: a 1-D array whose items are all bare words (numbers, dates...)."""
    if element is None:
        return [None if item in _NULLS else item for item in items]
    return [None if item in _NULLS else element(item) for item in items]


def _quoted(items: list[tuple[str, str]], element: Element) -> list[Any]:
    """A 1-D array with quoted items: (quoted, bare) pairs from `_ITEM`."""
    values: list[Any] = []
    for quoted, bare in items:
        if bare:
            if bare in _NULLS:
                values.append(None)
                continue
            text = bare
        else:
            text = _ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
        values.append(text if element is None else element(text))
    return values


def _parse_nested(text: str, element: Element) -> list[Any]:
    """The general path: quoted items, escapes, whitespace and nesting."""
    stack: list[list[Any]] = []
    result: list[Any] | None = None
    expect_item = True
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:
            raise ValueError(f"unexpected character at offset {position}")
        position = match.end()
        kind = match.lastgroup
        if kind == "space":
            continue
        if result is not None:
            raise ValueError("text after the end of the array")
        if kind == "open":
            if not expect_item:
                raise ValueError("missing comma before '{'")
            stack.append([])
        elif kind == "close":
            if not stack or (expect_item and stack[-1]):
                raise ValueError("unexpected '}'")
            done = stack.pop()
            if stack:
                stack[-1].append(done)
            else:
                result = done
            expect_item = False
        elif kind == "comma":
            if expect_item or not stack:
                raise ValueError("unexpected ','")
            expect_item = True
        else:
            if not stack:
                raise ValueError("an array literal starts with '{'")
            if not expect_item:
                raise ValueError("missing comma between elements")
            stack[-1].append(_item(match, kind, element))
            expect_item = False
    if position != len(text) or result is None:
        raise ValueError("unterminated array")
    return result


def _item(match: re.Match[str], kind: str | None, element: Element) -> Any:
    """One element: unescaped, NULL-checked (bare words only) and converted."""
    raw = match.group(kind or "bare")
    if kind == "bare" and raw in _NULLS:
        return None
    if "\\" in raw:
        raw = _ESCAPE.sub(r"\1", raw)
    return raw if element is None else element(raw)


def render_array(items: Sequence[Any], render: Callable[[Any], str | None] = str) -> str:
    """Render nested sequences as an array literal; `render` gives an item's text or None."""
    parts: list[str] = []
    for item in items:
        if isinstance(item, list | tuple):
            parts.append(render_array(item, render))
            continue
        text = None if item is None else render(item)
        parts.append("NULL" if text is None else quote_element(text))
    return "{" + ",".join(parts) + "}"


def quote_element(text: str) -> str:
    """Quote one element's text the way PostgreSQL's array output does, if needed."""
    if _NEEDS_QUOTES.search(text) is None:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
