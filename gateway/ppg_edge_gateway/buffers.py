"""A process-wide budget for request bytes held in memory while bodies are read."""

from __future__ import annotations

from . import metrics
from .errors import GatewayBusy


class BodyBuffers:
    """Counts request body bytes buffered by all HTTP statements at once.

    Each body is at most ``max_body_size``, but many concurrent uploads would
    multiply that; beyond ``limit`` a request is refused with 503 instead of
    waiting, so partly read bodies can never block each other.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        """Reserve ``size`` bytes or raise GatewayBusy."""
        if self.used + size > self.limit:
            raise GatewayBusy(
                f"the gateway is buffering too many request bodies (limit {self.limit} bytes); "
                "try again later"
            )
        self.used += size
        metrics.body_bytes(self.used)

    def give(self, size: int) -> None:
        """Release bytes reserved with take."""
        self.used -= size
        metrics.body_bytes(self.used)
