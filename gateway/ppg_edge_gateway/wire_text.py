"""Text that quotes a client must survive being encoded, in an answer as in a close frame.

aiohttp decodes request heads with ``surrogateescape``: one byte that is not
UTF-8 becomes a lone surrogate, which ``str.encode("utf-8")`` refuses. Every
message that may echo client text (a header, a part name, a user name) goes
through ``safe_text`` before it is encoded, so a client's odd byte is a 400 with
a reason, never a 500.
"""

from __future__ import annotations

MAX_REASON_BYTES = 123
"""A close frame's payload is at most 125 bytes, two of them the code."""


def safe_text(text: str) -> str:
    """``text`` with anything UTF-8 cannot carry (lone surrogates) as backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def close_reason(text: str) -> bytes:
    """A close reason within the 123 bytes a close frame allows, cut on a character."""
    data = safe_text(text).encode("utf-8")
    if len(data) <= MAX_REASON_BYTES:
        return data
    return data[: MAX_REASON_BYTES - 3].decode("utf-8", "ignore").encode("utf-8") + b"..."
