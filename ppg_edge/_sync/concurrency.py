"""Blocking twin of `ppg_edge._concurrency`: the same names, with no event loop.

A `Deadline` cannot wrap a blocking call from the outside, so `run` publishes
it for the duration of the call (a context variable) and the sync runtime sets
every socket operation's timeout to the time left (`time_left`: the tightest
of the bounds in force). A socket that times out makes the runtime raise
`Expired`, which the `run` whose bound ran out turns into its error:
QueryTimeoutError for a statement's deadline, ConnectTimeoutError for a
`ConnectBound`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from ppg_edge.core.errors import (
    ConnectTimeoutError,
    GenericError,
    QueryTimeoutError,
    ValidationError,
)

T = TypeVar("T")

_SLACK = 0.005
"""Seconds of clock granularity: a bound this close to its end when a socket timed out
is the one that ran out."""


class Expired(BaseException):
    """A bound ran out in a blocking socket call (the runtime raises it for TimeoutError).

    Like asyncio's cancellation it is a BaseException, so no `except Exception` on
    the way (a session's reader, say) mistakes it for a broken socket; the `run`
    whose bound ran out turns it into that bound's error.
    """


class Deadline:
    """The moment a statement must be finished by; None means no limit."""

    def __init__(self, timeout: float | None, action: str = "the statement") -> None:
        self.timeout = timeout
        self.action = action
        self._when = None if timeout is None else time.monotonic() + timeout

    def left(self) -> float | None:
        """Seconds left (0 once passed), or None for no limit."""
        return None if self._when is None else max(0.0, self._when - time.monotonic())

    def expired(self) -> GenericError:
        """The error to raise once this bound has run out."""
        return QueryTimeoutError(
            f"{self.action} did not finish within its {self.timeout:g} s timeout"
        )

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)`, its socket waits bounded by this deadline (and outer ones)."""
        __tracebackhide__ = True
        if self._when is None:
            return function(*args)
        token = _bounds.set((*_bounds.get(), self))
        try:
            return function(*args)
        except GenericError:
            raise
        except (Expired, TimeoutError):
            if self._when - time.monotonic() <= _SLACK:
                raise self.expired() from None
            raise  # an outer bound's: its own `run` names it
        finally:
            _bounds.reset(token)


class ConnectBound(Deadline):
    """A bound on connecting (TCP, TLS, upgrade, credentials): ConnectTimeoutError."""

    def expired(self) -> GenericError:
        return ConnectTimeoutError(f"{self.action} did not finish within {self.timeout:g} s")


_bounds: ContextVar[tuple[Deadline, ...]] = ContextVar("ppg_edge_sync_bounds", default=())


def time_left() -> float | None:
    """Seconds the call being run may still wait (None: no limit).

    The sync runtime calls this before each blocking socket operation and uses
    it as that operation's timeout; a bound already run out raises its error.
    """
    tightest: Deadline | None = None
    least: float | None = None
    for bound in _bounds.get():
        left = bound.left()
        if left is not None and (least is None or left < least):
            tightest, least = bound, left
    if tightest is not None and least is not None and least <= 0:
        raise tightest.expired()
    return least


class Closer:
    """The twin of the async Closer: with no background to close in, it closes at once."""

    def later(self, close: Callable[[], None]) -> None:
        """Close now; like the async twin, a failure to close is not the owner's error."""
        with contextlib.suppress(Exception):
            close()

    def wait(self) -> None:
        """Nothing is ever left closing."""


def pull(source: AsyncIterable[T] | Iterable[T]) -> Iterator[T]:
    """The items of a user's sync iterable; an async one cannot be read without a loop."""
    if isinstance(source, AsyncIterable):
        raise ValidationError(
            "the synchronous face reads stream parameters from sync iterables only"
        )
    return iter(source)
