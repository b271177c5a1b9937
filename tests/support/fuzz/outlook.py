"""What a correct gateway must do with one fuzz case, narrowed by every mutation applied."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")
Expect = Literal["ok", "refuse", "any"]
"""ok: served with the known answer; refuse: a 4xx / an error close; any: either, but sane."""


@dataclass
class Outlook:
    """The oracle's expectations for one case.

    ``wrong_login`` marks credentials or a database the client did not really
    own (wrong password, NUL bytes, empty fields the gateway's libpq environment
    could fill in): whatever else happens, nothing may be served. An
    ``answer_optional`` case sent an incomplete request (a body shorter than
    announced, a frame shorter than its length): the gateway may wait for the
    rest, so silence is no hang there.
    """

    expect: Expect = "ok"
    wrong_login: bool = False
    answer_optional: bool = False
    labels: list[str] = field(default_factory=list)

    def note(
        self,
        label: str,
        expect: Expect = "refuse",
        *,
        wrong_login: bool = False,
        optional: bool = False,
    ) -> None:
        """Record a mutation: ``ok`` keeps validity, ``refuse`` breaks it, ``any`` may do either."""
        self.labels.append(label)
        if expect == "any" or (expect == "refuse" and self.expect == "ok"):
            self.expect = expect
        self.wrong_login = self.wrong_login or wrong_login
        self.answer_optional = self.answer_optional or optional

    @property
    def label(self) -> str:
        """The mutations, in order, for summaries."""
        return "+".join(self.labels) or "valid"


def case_random(seed: str, family: str, index: int) -> random.Random:
    """The generator of one case: the same (seed, index) always builds the same bytes."""
    return random.Random(f"{seed}/{family}/{index}")


def pick_weighted(rng: random.Random, table: list[tuple[int, T]]) -> T:
    """One entry of a (weight, value) table."""
    weights = [weight for weight, _ in table]
    return rng.choices([value for _, value in table], weights=weights)[0]
