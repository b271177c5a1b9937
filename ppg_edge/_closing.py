"""The `async with` protocol for everything the driver lets a caller close.

Clients, databases, sessions and row iterators all hold a connection or a
response; `async with` hands the object back and closes it however the block
ends, through the one `aclose` each class defines.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    """Mixin: `async with obj` yields `obj` and awaits `obj.aclose()` on the way out."""

    async def aclose(self) -> None:
        """Release what the object holds; subclasses say what that is."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
