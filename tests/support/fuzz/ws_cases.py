"""Seeded WebSocket cases: a valid session (auth, statements, a probe), then mutations.

Message-level cases (family ``ws``) reorder, drop, duplicate or retype the
messages of PROTOCOL.md section 4 and break the auth message or a
descriptor. Frame-level cases (family ``frame``) keep the messages valid and
break RFC 6455 instead. Every case ends with a probe statement of its own:
a session that is still in step answers it, so "answered the probe" and
"closed with a code" are the only two outcomes that are not a hang.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ppg_edge.core.protocol import (
    BINARY_FORMAT,
    BINARY_PARAM_URN,
    COMPLETE_URN,
    DESCRIPTOR_URN,
    ERROR_URN,
    TEXT_PARAM_URN,
)

from .descriptors import mutate_descriptor, nested_json
from .frames import (
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    Message,
    close_payload,
    frame,
    message_frames,
)
from .logins import Login, credential_variant, database_variant, session_target
from .outlook import Outlook, case_random, pick_weighted
from .statements import Rows, ValidStatement, token_for, valid_statement

MESSAGES = "ws"
FRAMES = "frame"


@dataclass
class WsCase:
    """What to write after the handshake, and what a correct gateway answers."""

    index: int
    family: str
    outlook: Outlook
    target: str
    writes: list[bytes]
    probe: str
    answers: list[Rows] | None = None
    """For ``ok`` cases: the rows of every statement in order, the probe's last."""
    client_closes: bool = False
    """The case itself sends a close frame: the gateway must answer it, not the probe."""
    shown: bytes = b""
    """The messages, unmasked and shortened, for reproducers."""


@dataclass
class Session:
    """A session under mutation: the auth message, one message group per statement."""

    rng: random.Random
    login: Login
    outlook: Outlook
    auth: Message
    statements: list[ValidStatement]
    groups: list[list[Message]]
    target: str
    flat: list[Message] = field(default_factory=list)
    spoiled: set[int] = field(default_factory=set)
    """Groups whose descriptor a mutation already replaced."""
    login_replaced: bool = False
    """The auth message was already replaced: later mutations must not restore the real login."""

    def fresh_descriptor(self) -> tuple[int, dict[str, Any]] | None:
        """A group whose descriptor is still the valid one, and that descriptor."""
        left = [at for at in range(len(self.groups)) if at not in self.spoiled]
        if not left:
            return None
        at = self.rng.choice(left)
        self.spoiled.add(at)
        return at, self.statements[at].descriptor()


def statement_messages(statement: ValidStatement, descriptor: bytes) -> list[Message]:
    """The messages of one statement (section 4.2)."""
    messages = [Message.text(DESCRIPTOR_URN), Message.text(descriptor)]
    for param in statement.extended():
        assert param.value is not None
        if param.format == BINARY_FORMAT:
            messages += [Message.text(BINARY_PARAM_URN), Message.binary(param.value)]
        else:
            messages += [Message.text(TEXT_PARAM_URN), Message.text(param.value)]
    return messages


def auth_message(user: str, password: str) -> Message:
    """The first message of a session."""
    return Message.text(json.dumps({"username": user, "password": password}))


def probe_statement(token: str) -> tuple[list[Message], Rows]:
    """The case's last statement: answered only by a session still in step."""
    probe = ValidStatement("query", f"SELECT 'probe_{token}'::text", [], [[f"probe_{token}"]])
    return statement_messages(probe, json.dumps(probe.descriptor()).encode()), probe.rows


def _new_session(rng: random.Random, index: int, login: Login, most: int) -> Session:
    statements = [
        valid_statement(rng, token_for(rng, index)) for _ in range(rng.randrange(1, most + 1))
    ]
    groups = [statement_messages(s, json.dumps(s.descriptor()).encode()) for s in statements]
    auth = auth_message(login.user, login.password)
    return Session(rng, login, Outlook(), auth, statements, groups, session_target(login))


# --- statement-level mutations (keep groups and statements aligned) ----------------------


def _credentials(session: Session) -> None:
    label, user, password = credential_variant(session.rng, session.login)
    session.outlook.note(f"auth-{label}", wrong_login=True)
    session.login_replaced = True
    session.auth = auth_message(user, password)
    if label.endswith("-no-db"):
        session.target = session_target(session.login, b"")


def _auth_shape(session: Session) -> None:
    if session.login_replaced:
        return
    rng, login = session.rng, session.login
    real = {"username": login.user, "password": login.password}
    choices: list[tuple[str, bytes, str]] = [
        ("not-json", f"{login.user}:{login.password}".encode(), "refuse"),
        ("truncated", json.dumps(real).encode()[:-1], "refuse"),
        ("array", json.dumps([login.user, login.password]).encode(), "refuse"),
        ("no-password", json.dumps({"username": login.user}).encode(), "refuse"),
        ("no-username", json.dumps({"password": login.password}).encode(), "refuse"),
        ("number-user", json.dumps({"username": 5, "password": login.password}).encode(), "refuse"),
        (
            "null-password",
            json.dumps({"username": login.user, "password": None}).encode(),
            "refuse",
        ),
        (
            "key-case",
            json.dumps({"Username": login.user, "password": login.password}).encode(),
            "refuse",
        ),
        ("empty", b"", "refuse"),
        ("extra-key", json.dumps({**real, "database": "x"}).encode(), "any"),
        ("restyled", json.dumps(real, indent=2, ensure_ascii=False).encode(), "ok"),
        (
            "escaped",
            json.dumps(real).replace(login.user[0], f"\\u{ord(login.user[0]):04x}", 1).encode(),
            "ok",
        ),
        ("doubled-key", b'{"username": "x", ' + json.dumps(real).encode()[1:], "any"),
    ]
    label, data, expect = rng.choice(choices)
    if rng.random() < 0.25:
        nested = nested_json(rng)
        spot = rng.choice(["all", "username", "password"])
        marked = json.dumps({**real, spot: "__nest__"}) if spot != "all" else '"__nest__"'
        data, label, expect = (
            marked.replace('"__nest__"', nested).encode(),
            f"deep-nesting-{spot}",
            "refuse",
        )
    session.outlook.note(f"authmsg-{label}", expect, wrong_login=expect == "refuse")  # type: ignore[arg-type]
    session.auth = Message.text(data)


def _database(session: Session) -> None:
    label, query, expect, wrong = database_variant(session.rng, session.login)
    session.outlook.note(f"db-{label}", expect, wrong_login=wrong)  # type: ignore[arg-type]
    session.target = session_target(session.login, query)


def _descriptor(session: Session) -> None:
    fresh = session.fresh_descriptor()
    if fresh is None:
        return
    at, doc = fresh
    session.groups[at][1] = Message.text(mutate_descriptor(session.rng, doc, session.outlook))


def _urn(session: Session) -> None:
    rng = session.rng
    group = rng.choice(session.groups)
    at = rng.randrange(0, len(group), 2)
    urn = group[at].data.decode()
    wrong = rng.choice(
        [
            "urn:prisma:query:foo",
            "urn:prisma:query:result:complete",
            "urn:prisma:query:result:datarow",
            urn.upper(),
            urn + " ",
            urn + "\n",
            urn + "\x00",
            "",
            TEXT_PARAM_URN if urn != TEXT_PARAM_URN else BINARY_PARAM_URN,
            DESCRIPTOR_URN if urn != DESCRIPTOR_URN else TEXT_PARAM_URN,
        ]
    )
    session.outlook.note("urn-wrong")
    group[at] = Message.text(wrong)


def _value_size(session: Session) -> None:
    rng = session.rng
    with_values = [group for group in session.groups if len(group) > 2]
    if not with_values:
        _huge_byte_size(session)
        return
    group = rng.choice(with_values)
    at = rng.randrange(3, len(group), 2)
    value = group[at]
    data = value.data + b"x" if rng.random() < 0.5 or not value.data else value.data[:-1]
    session.outlook.note("value-size")
    group[at] = Message(value.opcode, data)


def _huge_byte_size(session: Session) -> None:
    rng = session.rng
    fresh = session.fresh_descriptor()
    if fresh is None:
        return
    at, doc = fresh
    size = rng.choice([64 * 1024 + 1, 1 << 20, 1 << 40, 10**15])
    doc.setdefault("parameters", []).append({"type": "text", "byteSize": size})
    session.outlook.note("byte-size-over-limit")
    session.groups[at][1] = Message.text(json.dumps(doc))


def _repeat_statement(session: Session) -> None:
    at = session.rng.randrange(len(session.groups))
    session.groups.insert(at, list(session.groups[at]))
    session.statements.insert(at, session.statements[at])
    session.outlook.note("statement-repeated", "ok")


def _reorder_statements(session: Session) -> None:
    pairs = list(zip(session.groups, session.statements, strict=True))
    session.rng.shuffle(pairs)
    session.groups = [group for group, _ in pairs]
    session.statements = [statement for _, statement in pairs]
    session.outlook.note("statements-reordered", "ok")


# --- message-level mutations on the flat sequence (auth first) ---------------------------


def _drop(session: Session) -> None:
    del session.flat[session.rng.randrange(len(session.flat))]
    session.outlook.note("msg-dropped")


def _duplicate(session: Session) -> None:
    at = session.rng.randrange(len(session.flat))
    session.flat.insert(at, session.flat[at])
    session.outlook.note("msg-duplicated")


def _swap(session: Session) -> None:
    flat = session.flat
    at = session.rng.randrange(len(flat) - 1)
    if flat[at] == flat[at + 1]:
        return
    flat[at], flat[at + 1] = flat[at + 1], flat[at]
    session.outlook.note("msg-swapped")


def _retype(session: Session) -> None:
    flat = session.flat
    at = session.rng.randrange(len(flat))
    message = flat[at]
    flat[at] = Message(3 - message.opcode, message.data)  # text <-> binary
    session.outlook.note("msg-binary-for-text" if message.opcode == TEXT else "msg-text-for-binary")


def _empty(session: Session) -> None:
    flat = session.flat
    flat.insert(session.rng.randrange(len(flat) + 1), Message(session.rng.choice([1, 2]), b""))
    session.outlook.note("msg-empty-inserted")


STATEMENT_MUTATIONS: list[tuple[int, Callable[[Session], None]]] = [
    # Applied in this order, each at most once: the first two move whole groups.
    (2, _repeat_statement),
    (2, _reorder_statements),
    (6, _credentials),
    (5, _auth_shape),
    (3, _database),
    (10, _descriptor),
    (4, _urn),
    (3, _value_size),
    (2, _huge_byte_size),
]
MESSAGE_MUTATIONS: list[tuple[int, Callable[[Session], None]]] = [
    (3, _drop),
    (3, _duplicate),
    (3, _swap),
    (3, _retype),
    (1, _empty),
]


def _finish(
    index: int, family: str, session: Session, writes: list[bytes], probe: str, probe_rows: Rows
) -> WsCase:
    answers = None
    if session.outlook.expect == "ok":
        answers = [statement.rows for statement in session.statements] + [probe_rows]
    shown = b" | ".join(message.data[:48] for message in session.flat)
    return WsCase(
        index, family, session.outlook, session.target, writes, probe, answers, shown=shown
    )


def _flatten(session: Session) -> list[Message]:
    return [session.auth] + [message for group in session.groups for message in group]


def message_case(seed: str, index: int, login: Login) -> WsCase:
    """The message-level WebSocket case number ``index`` of this seed."""
    rng = case_random(seed, MESSAGES, index)
    session = _new_session(rng, index, login, most=3)
    count = pick_weighted(rng, [(10, 0), (60, 1), (22, 2), (8, 3)])
    statement_level = [mutation for _, mutation in STATEMENT_MUTATIONS]
    picked: set[Callable[[Session], None]] = set()
    for _ in range(count):
        table = STATEMENT_MUTATIONS if rng.random() < 0.7 else MESSAGE_MUTATIONS
        picked.add(pick_weighted(rng, table))
    first = sorted((m for m in picked if m in statement_level), key=statement_level.index)
    for mutation in first:
        mutation(session)
    session.flat = _flatten(session)
    message_level = [mutation for _, mutation in MESSAGE_MUTATIONS]
    for mutation in sorted(
        (m for m in picked if m not in statement_level), key=message_level.index
    ):
        mutation(session)
    flat = session.flat
    probe = token_for(rng, index)
    probe_messages, probe_rows = probe_statement(probe)
    frames = [f for message in flat + probe_messages for f in message_frames(message, rng)]
    return _finish(index, MESSAGES, session, [b"".join(frames)], probe, probe_rows)


# --- frame-level cases -------------------------------------------------------------------

INVALID_UTF8 = [b"\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82"]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]


@dataclass
class FrameDraft:
    """Frames under mutation: one list of frames per message, and where the mutation goes."""

    rng: random.Random
    outlook: Outlook
    messages: list[Message]
    frames: list[list[bytes]]
    at: int
    client_closes: bool = False
    dribble: bool = False


def _insert(draft: FrameDraft, raw: bytes) -> None:
    draft.frames[draft.at].insert(0, raw)


def _text_at(draft: FrameDraft) -> int:
    texts = [i for i in range(draft.at + 1) if draft.messages[i].opcode == TEXT]
    return draft.rng.choice(texts)


def _f_invalid_utf8(draft: FrameDraft) -> None:
    at = _text_at(draft)
    data = draft.messages[at].data
    cut = draft.rng.randrange(len(data) + 1)
    bad = data[:cut] + draft.rng.choice(INVALID_UTF8) + data[cut:]
    draft.frames[at] = [frame(TEXT, bad, draft.rng)]
    draft.outlook.note("f-invalid-utf8")


def _f_unmasked(draft: FrameDraft) -> None:
    message = draft.messages[draft.at]
    draft.frames[draft.at] = [frame(message.opcode, message.data, draft.rng, masked=False)]
    draft.outlook.note("f-unmasked")


def _f_rsv(draft: FrameDraft) -> None:
    message = draft.messages[draft.at]
    rsv = draft.rng.randrange(1, 8)
    draft.frames[draft.at] = [frame(message.opcode, message.data, draft.rng, rsv=rsv)]
    draft.outlook.note(f"f-rsv{rsv}")


def _f_reserved_opcode(draft: FrameDraft) -> None:
    opcode = draft.rng.choice([3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    _insert(draft, frame(opcode, draft.rng.randbytes(draft.rng.randrange(0, 20)), draft.rng))
    draft.outlook.note(f"f-opcode-{opcode:x}")


def _f_big_control(draft: FrameDraft) -> None:
    opcode = draft.rng.choice([PING, PONG])
    _insert(draft, frame(opcode, b"p" * draft.rng.randrange(126, 300), draft.rng))
    draft.outlook.note("f-control-over-125")


def _f_fragmented_control(draft: FrameDraft) -> None:
    _insert(
        draft, frame(PING, b"ping", draft.rng, fin=False) + frame(CONTINUATION, b"x", draft.rng)
    )
    draft.outlook.note("f-fragmented-ping")


def _f_orphan_continuation(draft: FrameDraft) -> None:
    _insert(draft, frame(CONTINUATION, b"orphan", draft.rng, fin=draft.rng.random() < 0.5))
    draft.outlook.note("f-orphan-continuation")


def _f_interleaved(draft: FrameDraft) -> None:
    message = draft.messages[draft.at]
    if len(message.data) < 2:
        _f_orphan_continuation(draft)
        return
    half = len(message.data) // 2
    rng = draft.rng
    first = frame(message.opcode, message.data[:half], rng, fin=False)
    rest = frame(CONTINUATION, message.data[half:], rng)
    draft.frames[draft.at] = [first, frame(TEXT, b"interloper", rng), rest]
    draft.outlook.note("f-new-message-inside-fragmented-one")


def _f_oversize(draft: FrameDraft) -> None:
    rng = draft.rng
    declared = rng.choice([64 * 1024 + 1, 10 << 20, 1 << 40, (1 << 62) + 3])
    _insert(draft, frame(rng.choice([TEXT, 2]), b"x" * 16, rng, declared=declared))
    draft.outlook.note("f-length-over-limit")


def _f_length_msb(draft: FrameDraft) -> None:
    _insert(draft, frame(TEXT, b"x" * 8, draft.rng, declared=(1 << 63) + 5))
    draft.outlook.note("f-length-msb")


def _f_bad_close(draft: FrameDraft) -> None:
    rng = draft.rng
    choice = rng.randrange(4)
    if choice == 0:
        payload, label = b"\x03", "f-close-one-byte"
    elif choice == 1:
        payload, label = close_payload(rng.choice(INVALID_CLOSE_CODES), b"bye"), "f-close-bad-code"
    elif choice == 2:
        payload, label = close_payload(1000, b"bad " + rng.choice(INVALID_UTF8)), "f-close-bad-utf8"
    else:
        payload, label = close_payload(1000, b"r" * rng.randrange(124, 200)), "f-close-over-125"
    _insert(draft, frame(CLOSE, payload, rng))
    draft.outlook.note(label)
    draft.client_closes = True


def _f_client_close(draft: FrameDraft) -> None:
    code = draft.rng.choice([1000, 1001, 3000, 4999])
    _insert(
        draft,
        frame(CLOSE, close_payload(code, draft.rng.choice([b"", b"bye", "é".encode()])), draft.rng),
    )
    draft.outlook.note(f"f-client-close-{code}", "any")
    draft.client_closes = True


def _f_pings(draft: FrameDraft) -> None:
    rng = draft.rng
    opcode = rng.choice([PING, PONG])
    for _ in range(rng.randrange(1, 4)):
        _insert(draft, frame(opcode, rng.randbytes(rng.randrange(0, 126)), rng))
    draft.outlook.note("f-ping" if opcode == PING else "f-unsolicited-pong", "ok")


def _f_fragmented(draft: FrameDraft) -> None:
    rng = draft.rng
    message = draft.messages[draft.at]
    pieces = message_frames(message, rng, rng.randrange(2, 6))
    if rng.random() < 0.4 and len(pieces) > 1:
        pieces.insert(1, frame(PING, b"between", rng))
    if rng.random() < 0.3 and len(pieces) > 1:
        pieces.insert(1, frame(CONTINUATION, b"", rng, fin=False))
    draft.frames[draft.at] = pieces
    draft.outlook.note("f-fragmented", "ok")


def _f_non_minimal_length(draft: FrameDraft) -> None:
    message = draft.messages[draft.at]
    form = draft.rng.choice([2, 8])
    draft.frames[draft.at] = [frame(message.opcode, message.data, draft.rng, length_bytes=form)]
    draft.outlook.note("f-non-minimal-length", "any")


def _f_zero_mask(draft: FrameDraft) -> None:
    message = draft.messages[draft.at]
    draft.frames[draft.at] = [frame(message.opcode, message.data, draft.rng, mask=b"\x00" * 4)]
    draft.outlook.note("f-zero-mask", "ok")


def _f_length_lie(draft: FrameDraft) -> None:
    message = draft.messages[draft.at]
    declared = len(message.data) + draft.rng.randrange(1, 4000)
    draft.frames[draft.at] = [frame(message.opcode, message.data, draft.rng, declared=declared)]
    draft.outlook.note("f-length-lie", "any", optional=True)


def _f_garbage(draft: FrameDraft) -> None:
    _insert(draft, draft.rng.randbytes(draft.rng.randrange(1, 40)))
    draft.outlook.note("f-garbage", "any", optional=True)


def _f_dribble(draft: FrameDraft) -> None:
    draft.dribble = True
    draft.outlook.note("f-dribble", "ok")


FRAME_MUTATIONS: list[tuple[int, Callable[[FrameDraft], None]]] = [
    (5, _f_invalid_utf8),
    (3, _f_unmasked),
    (3, _f_rsv),
    (3, _f_reserved_opcode),
    (2, _f_big_control),
    (2, _f_fragmented_control),
    (2, _f_orphan_continuation),
    (2, _f_interleaved),
    (3, _f_oversize),
    (1, _f_length_msb),
    (4, _f_bad_close),
    (2, _f_client_close),
    (2, _f_pings),
    (3, _f_fragmented),
    (1, _f_non_minimal_length),
    (1, _f_zero_mask),
    (1, _f_length_lie),
    (1, _f_garbage),
    (1, _f_dribble),
]


def _dribbled(data: bytes, rng: random.Random) -> list[bytes]:
    """The first bytes in tiny writes (a peer on a slow link), the rest at once."""
    writes, position = [], 0
    while position < min(len(data), 120):
        step = rng.randrange(1, 8)
        writes.append(data[position : position + step])
        position += step
    return [*writes, data[position:]] if position < len(data) else writes


def frame_case(seed: str, index: int, login: Login) -> WsCase:
    """The frame-level WebSocket case number ``index`` of this seed."""
    rng = case_random(seed, FRAMES, index)
    session = _new_session(rng, index, login, most=2)
    probe = token_for(rng, index)
    probe_messages, probe_rows = probe_statement(probe)
    messages = session.flat = _flatten(session)
    frames = [message_frames(message, rng) for message in messages]
    draft = FrameDraft(rng, session.outlook, messages, frames, rng.randrange(len(messages)))
    pick_weighted(rng, FRAME_MUTATIONS)(draft)
    tail = [f for message in probe_messages for f in message_frames(message, rng)]
    data = b"".join(f for group in draft.frames for f in group) + b"".join(tail)
    writes = _dribbled(data, rng) if draft.dribble else [data]
    case = _finish(index, FRAMES, session, writes, probe, probe_rows)
    case.client_closes = draft.client_closes
    return case


def answer_end(urn: str) -> bool:
    """True for the URNs that end a statement's answer."""
    return urn in (COMPLETE_URN, ERROR_URN)
