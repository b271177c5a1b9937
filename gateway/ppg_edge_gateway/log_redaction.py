"""Keep credentials and forged lines out of every log record, the libraries' included.

The gateway never logs a secret itself, but aiohttp quotes request bytes in its
parser errors (the first 100 bytes of an oversized header: ``Basic`` plus the
base64 of ``user:password``), psycopg and asyncio format exceptions, and any of
them may quote a client's text. ``RedactSecrets`` is a filter on the handlers
(so it sees records from every logger that propagates to them): it masks
Authorization values, Basic/Bearer tokens, ``password=...`` / ``"password": ...``
pairs and URL passwords in the message and the formatted traceback, and escapes
control characters in the message so a client cannot forge a log line.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_PATTERNS = (
    # An Authorization header quoted with its name: mask everything up to the line's end.
    re.compile(r"(?i)\b((?:proxy-)?authorization\b[\"']?\s*[:=]\s*)[^\r\n\"']*"),
    # A token after its scheme, also when the header name was cut off.
    re.compile(r"(?i)\b((?:basic|bearer|digest)\s+)[A-Za-z0-9+/=._~-]+"),
    # password=..., "password": "...", 'password': '...'
    re.compile(
        r"(?i)(\bpass(?:word)?[\"']?\s*[:=]\s*)(?:\"(?:[^\"\\]|\\.)*\"|'[^']*'|[^\s,;&\"']+)"
    ),
    # scheme://user:password@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+(?=@)"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def redact(text: str) -> str:
    """``text`` with every credential-shaped value replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + REDACTED, text)
    return text


def _escape_controls(text: str) -> str:
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode(), text)


class RedactSecrets(logging.Filter):
    """Rewrites each record in place: its message on one line and without secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let the handler report it as usual
            return True
        record.msg, record.args = _escape_controls(redact(message)), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install(handlers: list[logging.Handler]) -> None:
    """Put the filter on every handler (records from all loggers pass through them)."""
    for handler in handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
