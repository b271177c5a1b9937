"""Decoding the JSON a server sends, on either transport.

Whatever the text holds, the only exception that leaves is ProtocolError: bad
syntax, and also nesting so deep that the decoder gives up (`[` x 100,000 makes
`json` raise RecursionError), which is a hostile or broken server, not a bug.
"""

from __future__ import annotations

import json
from typing import Any

from ppg_edge.core.errors import ProtocolError

_DECODE = json.JSONDecoder().decode


def decode_json(text: str, what: str) -> Any:
    """The JSON value of `text`; `what` names it in the error ("a message", say)."""
    try:
        return _DECODE(text)
    except (ValueError, RecursionError) as exc:
        raise _refused(what, exc) from None


def decode_all(texts: list[str], what: str) -> list[Any]:
    """The JSON value of each text, in order (one loop, for the many lines of a body)."""
    try:
        return [_DECODE(text) for text in texts]
    except (ValueError, RecursionError) as exc:
        raise _refused(what, exc) from None


def _refused(what: str, exc: Exception) -> ProtocolError:
    if isinstance(exc, RecursionError):
        return ProtocolError(f"the server sent {what} whose JSON is nested too deeply")
    return ProtocolError(f"the server sent {what} that is not JSON: {exc}")
