"""One log line for a storm of events: counts, logged at most once per interval."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

TALLY_SECONDS = 10.0


class Tally:
    """Counts repeated events (late heads, evictions, EMFILE) and logs them in batches.

    The first event is logged at once; later ones are summed and logged together
    at most once per ``interval``, so an attack costs a few lines, not one each.
    """

    def __init__(self, logger: logging.Logger, level: int, interval: float = TALLY_SECONDS):
        self.logger = logger
        self.level = level
        self.interval = interval
        self.counts: Counter[str] = Counter()
        self._last = -interval
        self._flush: asyncio.TimerHandle | None = None

    def note(self, event: str) -> None:
        """Count one ``event`` (a short phrase such as "connections refused at the limit")."""
        self.counts[event] += 1
        if self._flush is None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, self._last + self.interval - loop.time())
            self._flush = loop.call_later(delay, self.flush)

    def flush(self) -> None:
        """Log what was counted since the last line (called by the timer)."""
        self._flush = None
        if not self.counts:
            return
        self._last = asyncio.get_running_loop().time()
        summary = "; ".join(f"{event}: {count}" for event, count in self.counts.items())
        self.counts.clear()
        self.logger.log(self.level, "%s", summary)
