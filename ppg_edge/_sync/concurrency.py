"""Blocking twin of `ppg_edge.concurrency`: the same names, with no event loop.

A `Deadline` cannot wrap a blocking call from the outside, so `run` publishes
it for the duration of the call (a context variable) and the sync runtime sets
every socket operation's timeout to the time left (`time_left`). A socket that
times out raises TimeoutError, which `run` turns into the QueryTimeoutError
the async face raises.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterable, Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from ppg_edge.core.errors import GenericError, QueryTimeoutError, ValidationError

T = TypeVar("T")

_current: ContextVar[Deadline | None] = ContextVar("ppg_edge_sync_deadline", default=None)


class Deadline:
    """The moment a statement must be finished by; None means no limit."""

    def __init__(self, timeout: float | None, action: str = "the statement") -> None:
        self.timeout = timeout
        self.action = action
        self._when = None if timeout is None else time.monotonic() + timeout

    def left(self) -> float | None:
        """Seconds left (0 once passed), or None for no limit."""
        return None if self._when is None else max(0.0, self._when - time.monotonic())

    def expired(self) -> QueryTimeoutError:
        return QueryTimeoutError(
            f"{self.action} did not finish within its {self.timeout:g} s timeout"
        )

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)`, its socket waits bounded by this deadline."""
        __tracebackhide__ = True
        if self._when is None:
            return function(*args)
        token = _current.set(self)
        try:
            return function(*args)
        except GenericError:
            raise
        except TimeoutError:
            raise self.expired() from None
        finally:
            _current.reset(token)


def time_left() -> float | None:
    """Seconds the statement being run may still wait (None: no limit); checked first.

    The sync runtime calls this before each blocking socket operation and uses
    it as that operation's timeout.
    """
    deadline = _current.get()
    if deadline is None:
        return None
    left = deadline.left()
    if left is not None and left <= 0:
        raise deadline.expired()
    return left


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
