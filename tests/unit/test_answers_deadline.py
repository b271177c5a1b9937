"""The one rule for a statement's timeout: its own, else the client's or session's."""

from __future__ import annotations

import asyncio

import pytest

from ppg_edge._answers import effective_timeout, statement_deadline
from ppg_edge.core.errors import QueryTimeoutError, ValidationError


def test_own_timeout_wins_over_the_inherited_one() -> None:
    assert effective_timeout(2, 30.0) == 2.0
    assert effective_timeout(None, 30.0) == 30.0
    assert effective_timeout(None, None) is None


def test_a_bad_own_timeout_is_rejected() -> None:
    with pytest.raises(ValidationError):
        effective_timeout(-1, 30.0)


async def test_statement_deadline_uses_the_inherited_timeout() -> None:
    deadline = statement_deadline(None, 0.05)
    assert deadline.timeout == 0.05
    with pytest.raises(QueryTimeoutError, match=r"0\.05 s"):
        await deadline.wait(asyncio.sleep(5))
    assert await statement_deadline(None, None).wait(asyncio.sleep(0, "done")) == "done"
