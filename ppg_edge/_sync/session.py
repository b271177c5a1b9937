"""Sessions on the synchronous face: not available yet.

The async session reads its socket from a background task, which has no
blocking twin; once it reads pull-based (the consumer that needs frames reads
the socket), `scripts/generate_sync.py` generates this module from it. Until
then opening a sync session (`new_session`, `transaction()`, `batch()`) raises
a clear GenericError instead of half-working; the methods below only give the
generated callers their types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

from ppg_edge._sync.concurrency import Deadline
from ppg_edge._sync.results import SyncQueryResult
from ppg_edge.core.errors import GenericError
from ppg_edge.core.session import PendingStatement

_UNAVAILABLE = (
    "WebSocket sessions (new_session, transaction, batch) are not available on the "
    "synchronous face yet; use the async face (ppg_edge.connect) for them"
)


def _unavailable() -> NoReturn:
    raise GenericError(_UNAVAILABLE)


class SyncSession:
    """Not available yet: `open` raises GenericError, so no instance ever exists."""

    pending: int = 0

    @classmethod
    def open(cls, *args: Any, **kwargs: Any) -> SyncSession:
        _unavailable()

    def deadline(self, timeout: float | None) -> Deadline:
        _unavailable()

    def prepare(self, kind: str, sql: str, params: Sequence[Any]) -> Any:
        _unavailable()

    def submit(self, prepared: Any) -> PendingStatement:
        _unavailable()

    def abandon(self, pending: PendingStatement) -> None:
        _unavailable()

    def query_result(self, pending: PendingStatement, deadline: Deadline) -> SyncQueryResult:
        _unavailable()

    def exec_result(self, pending: PendingStatement, deadline: Deadline) -> int:
        _unavailable()

    def query(self, sql: str, *params: Any, timeout: float | None = None) -> SyncQueryResult:
        _unavailable()

    def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        _unavailable()

    def close(self) -> None:
        _unavailable()
