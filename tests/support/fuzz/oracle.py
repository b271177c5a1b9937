"""The fuzz oracle: each exchange judged against its case's outlook, and a compact summary.

HTTP. A correct gateway answers every complete request, never with a 5xx:
the fuzz gateway's limits (bodies buffered, connections, sessions) are far
above what the fuzz's few concurrent connections can reach, so no 5xx is
legitimate here, 503 included. Only two silences are allowed: a request the
client never finished (the gateway may wait for the rest: ``answer_optional``),
and a connection the gateway drops after answering. A 200 must be a whole
NDJSON answer ending with ``complete`` or ``error``.

WebSocket. The gateway either answers the probe (the session stayed in step)
or closes with a frame: never 1000 or 1011 for the client's input, never a
code outside 1002/1003/1007/1008/1009 (1013 would be a limit, not reachable
here), always with a reason. A TCP end without a close frame breaks the
README's promise of a readable reason. Wrong logins never get anything served.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from ppg_edge.core.protocol import COMPLETE_KEY, ERROR_KEY

from .http_cases import HttpCase
from .wire import HttpOutcome, WsOutcome
from .ws_cases import WsCase

INTERNAL_ERROR = "XX000"
"""SQLSTATE internal_error: the gateway's own failures mid-answer (PostgreSQL's are rare)."""
ERROR_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009})
"""Close codes a client's bad input may get (RFC 6455 section 7.4.1)."""
SHOWN_PER_CLASS = 3


@dataclass
class Violation:
    """One broken promise, with what is needed to replay the case."""

    klass: str
    family: str
    index: int
    labels: str
    detail: str
    sample: bytes

    def reproducer(self, seed: str) -> str:
        """One line: how to replay it and what was sent."""
        shown = self.sample if len(self.sample) <= 200 else self.sample[:200] + b"..."
        what = (
            f"{len(self.sample)} bytes" if self.family == "http" else "session (messages unmasked)"
        )
        return (
            f"PPG_EDGE_FUZZ_SEED={seed} PPG_EDGE_FUZZ_CASE={self.index} "
            f"({self.family}, {self.labels}): "
            f"{self.detail}\n      sent {what} {shown!r}"
        )


def _ndjson_problem(body: bytes) -> str | None:
    lines = [line for line in body.split(b"\n") if line]
    try:
        frames = [json.loads(line) for line in lines]
    except ValueError:
        return "a line is not JSON"
    if not frames or not isinstance(frames[-1], dict):
        return "empty answer"
    if COMPLETE_KEY not in frames[-1] and ERROR_KEY not in frames[-1]:
        return "no complete or error frame at the end"
    return None


def _internal_error(frames: list[object]) -> str | None:
    """The message of an internal-error frame among the answer's frames, if any."""
    for frame in frames:
        error = frame.get(ERROR_KEY) if isinstance(frame, dict) else None
        if isinstance(error, dict) and error.get("code") == INTERNAL_ERROR:
            return str(error.get("message"))[:100]
    return None


def _rows(body: bytes) -> list[object]:
    frames = [json.loads(line) for line in body.split(b"\n") if line]
    return [frame["values"] for frame in frames if "values" in frame]


def judge_http(case: HttpCase, outcome: HttpOutcome) -> list[tuple[str, str]]:
    """(class, detail) for every promise this HTTP exchange broke."""
    look = case.outlook
    found: list[tuple[str, str]] = []
    status = outcome.status
    text = outcome.body[:120].decode("utf-8", "replace").strip()
    if outcome.problem:
        return [("http: answer is not valid HTTP", outcome.problem)]
    if status is None:
        if outcome.timed_out and not look.answer_optional:
            found.append(("http: no answer in time (hang)", f"after {outcome.seconds:.1f}s"))
        elif outcome.closed and not look.answer_optional:
            found.append(("http: connection closed without an answer", "no status line"))
        return found
    if status >= 500:
        found.append((f"http: {status} for client input", text))
    if status == 200 and look.wrong_login:
        found.append(("http: wrong login served (200)", "statement ran"))
    elif status == 200 and look.expect == "refuse":
        found.append((f"http: bad input served (200) [{look.labels[0]}]", text))
    if look.expect == "ok" and status != 200:
        found.append(("http: valid request refused", f"{status} {text}"))
    if status == 200 and outcome.complete and not case.head_only:
        problem = _ndjson_problem(outcome.body)
        if problem:
            found.append(("http: 200 answer truncated or malformed", problem))
        elif internal := _internal_error(
            [json.loads(line) for line in outcome.body.split(b"\n") if line]
        ):
            found.append(("http: internal error frame for client input", internal))
        elif case.rows is not None and _rows(outcome.body) != case.rows:
            found.append(
                (
                    "http: valid request answered wrongly",
                    f"{_rows(outcome.body)!r} != {case.rows!r}",
                )
            )
    elif status == 200 and not outcome.complete and not look.answer_optional:
        found.append(
            ("http: 200 answer never finished", "timed out" if outcome.timed_out else "closed")
        )
    if 400 <= status < 500 and not text and not case.head_only:
        found.append(("http: error answer without a message", str(status)))
    return found


def _answers_problem(outcome: WsOutcome) -> str | None:
    if outcome.problem:
        return outcome.problem
    for answer in outcome.answers:
        if not all(isinstance(body, dict) for _, body in answer):
            return "an answer body is not a JSON object"
    return None


def _judge_close(case: WsCase, outcome: WsOutcome) -> list[tuple[str, str]]:
    assert outcome.close is not None
    code, reason = outcome.close
    look = case.outlook
    found: list[tuple[str, str]] = []
    shown = f"close {code} {reason[:80]!r}"
    if case.client_closes or outcome.closed_after_ours:
        if code == 1011:
            found.append(("ws: close 1011 for client input", shown))
        elif case.client_closes and look.expect == "refuse" and (code == 1000 or not reason):
            found.append(
                (
                    f"ws: invalid client close answered {code}"
                    + ("" if reason else " without a reason"),
                    shown,
                )
            )
        return found
    if code == 1000:
        found.append(("ws: close 1000 for client input", shown))
    elif code == 1011:
        found.append(("ws: close 1011 for client input", shown))
    elif code not in ERROR_CLOSE_CODES:
        found.append((f"ws: unexpected close code {code}", shown))
    if code != 1000 and not reason:
        found.append((f"ws: close {code} without a reason", shown))
    if look.expect == "ok":
        found.append(("ws: valid session closed", shown))
    return found


def judge_ws(case: WsCase, outcome: WsOutcome) -> list[tuple[str, str]]:
    """(class, detail) for every promise this WebSocket exchange broke."""
    look = case.outlook
    found: list[tuple[str, str]] = []
    if outcome.handshake_status is not None:
        if outcome.handshake_status >= 500:
            found.append((f"ws: upgrade answered {outcome.handshake_status}", case.target[:80]))
        return found
    problem = _answers_problem(outcome)
    if problem:
        found.append(("ws: gateway broke the protocol", problem))
    internal = _internal_error([body for answer in outcome.answers for _, body in answer])
    if internal:
        found.append(("ws: internal error frame for client input", internal))
    if look.wrong_login and outcome.answers:
        found.append(("ws: wrong login served", f"{len(outcome.answers)} answers"))
    probe = outcome.probe_answered(case.probe)
    if probe and look.expect == "refuse" and not look.wrong_login:
        found.append(
            (
                f"ws: bad input served [{look.labels[0]}]",
                f"{len(outcome.answers)} answers, probe too",
            )
        )
    if case.answers is not None and probe:
        got = [
            [
                body.get("values")
                for _, body in answer
                if isinstance(body, dict) and "values" in body
            ]
            for answer in outcome.answers
        ]
        if got != case.answers:
            found.append(
                ("ws: valid session answered wrongly", f"{got!r:.200} != {case.answers!r:.200}")
            )
    if outcome.close is not None:
        found += _judge_close(case, outcome)
    elif outcome.dropped:
        found.append(
            ("ws: connection dropped without a close frame", f"{len(outcome.answers)} answers")
        )
    elif (
        outcome.timed_out and not look.answer_optional and not (probe and outcome.closed_after_ours)
    ):
        found.append(
            ("ws: no answer and no close in time (hang)", f"{len(outcome.answers)} answers")
        )
    elif outcome.timed_out and outcome.closed_after_ours:
        found.append(("ws: our close was never answered", "no close frame"))
    return found


@dataclass
class Summary:
    """Every violation, counted by class, with the first few reproducers of each."""

    seed: str
    violations: list[Violation] = field(default_factory=list)
    cases: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)
    """Wall-clock seconds spent per family (cases overlap: a measure of cost, not of the run)."""

    def add(
        self,
        family: str,
        index: int,
        labels: str,
        sample: bytes,
        found: list[tuple[str, str]],
        seconds: float,
    ) -> None:
        """Record a judged case."""
        self.cases[family] += 1
        self.seconds[family] += seconds
        for klass, detail in found:
            self.violations.append(Violation(klass, family, index, labels, detail, sample))

    def note(self, klass: str, detail: str) -> None:
        """A violation of the run as a whole (the legit client, the process, memory)."""
        self.violations.append(Violation(klass, "run", -1, "", detail, b""))

    def report(self) -> str:
        """Counts by class, then up to three reproducers per class."""
        counts = Counter(v.klass for v in self.violations)
        lines = [
            f"{sum(counts.values())} violations in {sum(self.cases.values())} cases "
            f"{dict(self.cases)}:"
        ]
        for klass, count in counts.most_common():
            lines.append(f"  {count:5d}  {klass}")
        for klass, _ in counts.most_common():
            matching = [v for v in self.violations if v.klass == klass]
            causes = Counter(v.labels.split("+")[0] for v in matching if v.family != "run")
            shown = ", ".join(f"{label} {n}" for label, n in causes.most_common(6))
            lines.append(f"-- {klass}" + (f" (first mutation: {shown})" if shown else ""))
            for violation in matching[:SHOWN_PER_CLASS]:
                if violation.family == "run":
                    lines.append(f"   {violation.detail}")
                else:
                    lines.append(f"   {violation.reproducer(self.seed)}")
        return "\n".join(lines)
