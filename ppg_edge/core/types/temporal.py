"""Parsers for PostgreSQL's date/time text output (DateStyle=ISO, IntervalStyle=postgres).

Python's date and datetime cover years 1 to 9999 only, so `infinity`, `-infinity`,
BC dates and years past 9999 raise an UnrepresentableValueError that names the value and says how
to map it with a custom ValueParser; nothing is silently clamped (clamping to
date.max would turn a real 9999-12-31 into infinity on the way back). To clamp on
purpose, e.g. `ValueParser(1082, lambda s: {"infinity": date.max,
"-infinity": date.min}.get(s) or date.fromisoformat(s))`. Python's time has no
`24:00:00` either, which PostgreSQL allows; it raises too.
`timestamptz` values come back aware and in UTC, whatever the session's TimeZone.

Intervals follow psycopg's documented convention: a year is 365 days and a month
30 days (timedelta has no months); days and the time part are kept exactly.
PostgreSQL prints every 12 months as a year, so `interval '12 mons'` reads as
365 days, not 360. Need the months themselves? Register a parser for OID 1186.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from ppg_edge.core.errors import UnrepresentableValueError
from ppg_edge.core.types.model import unparsable

_DAYS_PER_YEAR = 365
_DAYS_PER_MONTH = 30
_INTERVAL = re.compile(
    r"(?:([-+]?\d+) years?(?: |$))?"
    r"(?:([-+]?\d+) mons?(?: |$))?"
    r"(?:([-+]?\d+) days?(?: |$))?"
    r"(?:([-+])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?"
)


def _out_of_range(type_name: str, text: str) -> UnrepresentableValueError:
    """Explain why a valid PostgreSQL value has no Python equivalent, or that it is malformed."""
    lowered = text.lower()
    if "infinity" in lowered:
        why = "Python has no infinite date/time; register a ValueParser to map it"
    elif lowered.endswith(" bc"):
        why = "BC dates are outside Python's range (years 1 to 9999)"
    elif re.match(r"\d{5,}-", text):
        why = "years after 9999 are outside Python's range"
    elif text.startswith("24:00:00"):
        why = "Python's time has no 24:00:00"
    else:
        why = ""
    return unparsable(type_name, text, why)


def parse_date(text: str) -> date:
    """`2024-01-31` -> date."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _out_of_range("date", text) from None


def parse_time(text: str) -> time:
    """`04:05:06.789` -> naive time."""
    try:
        return time.fromisoformat(text)
    except ValueError:
        raise _out_of_range("time", text) from None


def parse_timetz(text: str) -> time:
    """`04:05:06.789+02` -> time with a fixed-offset tzinfo."""
    try:
        value = time.fromisoformat(text)
    except ValueError:
        raise _out_of_range("timetz", text) from None
    if value.tzinfo is None:
        raise unparsable("timetz", text, "no UTC offset")
    return value


def parse_timestamp(text: str) -> datetime:
    """`2024-01-31 04:05:06.789` -> naive datetime."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _out_of_range("timestamp", text) from None


def parse_timestamptz(text: str) -> datetime:
    """`2024-01-31 04:05:06.789+00` -> aware datetime in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise _out_of_range("timestamptz", text) from None
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        raise unparsable("timestamptz", text, "no UTC offset")
    return value.astimezone(UTC)


def parse_interval(text: str) -> timedelta:
    """`1 year 2 mons -3 days +04:05:06.789` -> timedelta (year=365d, month=30d)."""
    match = _INTERVAL.fullmatch(text)
    if match is None or not text:
        raise unparsable("interval", text, "expected IntervalStyle 'postgres' output")
    years, months, days, sign, hours, minutes, seconds, fraction = match.groups()
    total_days = int(days or 0) + _DAYS_PER_YEAR * int(years or 0)
    total_days += _DAYS_PER_MONTH * int(months or 0)
    micros = 0
    if hours is not None:
        micros = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1_000_000
        micros += int((fraction or "0").ljust(6, "0"))
        if sign == "-":
            micros = -micros
    try:
        return timedelta(days=total_days, microseconds=micros)
    except OverflowError:
        raise unparsable("interval", text, "beyond timedelta's range") from None
