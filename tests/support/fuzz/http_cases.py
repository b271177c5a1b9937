"""Seeded HTTP cases: a valid statement request, then mutations at every layer.

Layers, outermost last: descriptor JSON, multipart parts, credentials and the
database, Content-Type and other headers, HTTP framing (Content-Length,
chunked), the request line, raw bytes of the body or the head, truncation.
A few cases are WebSocket upgrade requests with a broken handshake. Each
mutation tells the case's ``Outlook`` what a correct gateway must answer.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

from ppg_edge.core.protocol import SESSION_PATH, STATEMENT_PATH, WS_SUBPROTOCOL

from .descriptors import mutate_descriptor
from .http_request import CRLF, HttpRequest, Part, basic, header_index, set_header, valid_request
from .logins import Login, credential_variant, database_variant
from .outlook import Outlook, case_random, pick_weighted
from .statements import Rows, token_for, valid_statement

FAMILY = "http"


@dataclass
class HttpCase:
    """Bytes to send on a fresh connection and what a correct gateway answers."""

    index: int
    outlook: Outlook
    data: bytes
    rows: Rows | None = None
    upgrade: bool = False
    """The request asks for a WebSocket upgrade (a 101 answer is then possible)."""
    head_only: bool = False
    """HEAD: the answer has no body."""


@dataclass
class Draft:
    """A request under mutation, and everything the mutations need to know."""

    rng: random.Random
    request: HttpRequest
    outlook: Outlook
    login: Login
    raw: bytes | None = None
    """Set by mutations that work on the final bytes."""
    login_replaced: bool = False
    """The credentials were already replaced: later mutations must not restore the real ones."""


Mutation = Callable[[Draft], None]


# --- credentials and the database ---------------------------------------------------


def _credentials(draft: Draft) -> None:
    label, user, password = credential_variant(draft.rng, draft.login)
    draft.outlook.note(f"auth-{label}", wrong_login=True)
    draft.login_replaced = True
    set_header(draft.request, b"Authorization", basic(user, password))
    if label.endswith("-no-db"):
        draft.request.target = STATEMENT_PATH.encode()


def _authorization_header(draft: Draft) -> None:
    if draft.login_replaced:
        return
    rng, login, request = draft.rng, draft.login, draft.request
    token = basic(login.user, login.password)[6:]
    choices: list[tuple[str, bytes | None, bool | None]] = [
        ("missing", None, True),
        ("bearer", b"Bearer " + token, True),
        ("scheme-only", b"Basic", True),
        ("scheme-space", b"Basic   ", True),
        ("digest", b"Digest username=x", True),
        ("bad-base64", b"Basic " + token[:-2] + b"!!", True),
        ("no-padding", b"Basic " + (token.rstrip(b"=") if b"=" in token else token[:-1]), True),
        ("extra-padding", b"Basic " + token + b"====", None),
        ("inner-space", b"Basic " + token[:4] + b" " + token[4:], True),
        ("no-colon", b"Basic " + base64.b64encode((login.user + login.password).encode()), True),
        ("non-utf8", b"Basic " + base64.b64encode(b"\xff\xfe:\xc3"), True),
        ("huge", b"Basic " + basic(login.user, login.password + "A" * 9000)[6:], True),
        ("lower-scheme", b"basic " + token, False),
        ("upper-scheme", b"BASIC " + token, False),
        ("padded", b"Basic  " + token + b"  ", False),
    ]
    label, value, wrong = rng.choice(choices)
    # None: the real credentials in sloppy base64, which a lenient decoder may accept.
    expect = "any" if wrong is None else "refuse" if wrong else "ok"
    draft.outlook.note(f"authz-{label}", expect, wrong_login=bool(wrong))  # type: ignore[arg-type]
    set_header(request, b"Authorization", value)


def _database(draft: Draft) -> None:
    label, query, expect, wrong = database_variant(draft.rng, draft.login)
    draft.outlook.note(f"db-{label}", expect, wrong_login=wrong)  # type: ignore[arg-type]
    draft.request.target = STATEMENT_PATH.encode() + query


# --- Content-Type and other headers ---------------------------------------------------


def _content_type(draft: Draft) -> None:
    rng, request = draft.rng, draft.request
    index = header_index(request, b"Content-Type")
    assert index is not None
    value = request.headers[index][1]
    boundary = request.boundary
    choice = rng.randrange(12)
    if choice <= 2:
        at = rng.randrange(len(value) + 1)
        high = bytes([rng.randrange(0x80, 0x100) for _ in range(rng.randrange(1, 4))])
        # Refusing is right; a lenient parser may also ignore a parameter it does not need.
        draft.outlook.note("ct-non-ascii", "any")
        new: bytes | None = value[:at] + high + value[at:]
    elif choice == 3:
        draft.outlook.note("ct-control")
        new = value + b"\x01"
    elif choice == 4:
        draft.outlook.note("ct-media")
        new = rng.choice(
            [b"application/json", b"text/plain", b"multipart/mixed; boundary=" + boundary]
        )
    elif choice == 5:
        draft.outlook.note("ct-no-boundary")
        new = rng.choice(
            [
                b"multipart/form-data",
                b"multipart/form-data; boundary=",
                b'multipart/form-data; boundary=""',
            ]
        )
    elif choice == 6:
        draft.outlook.note("ct-missing")
        new = None
    elif choice == 7:
        draft.outlook.note("ct-other-boundary")
        new = b"multipart/form-data; boundary=" + boundary + b"x"
    elif choice == 8:
        draft.outlook.note("ct-quoted", "ok")
        new = b'multipart/form-data; boundary="' + boundary + b'"'
    elif choice == 9:
        draft.outlook.note("ct-case", "ok")
        new = b"Multipart/Form-Data; charset=utf-8; boundary=" + boundary
    elif choice == 10:
        draft.outlook.note("ct-long-boundary", "any")
        request.boundary = boundary + b"b" * 200
        new = b"multipart/form-data; boundary=" + request.boundary
    else:
        draft.outlook.note("ct-doubled", "any")
        request.headers.append((b"Content-Type", b"text/plain"))
        return
    set_header(request, b"Content-Type", new)


def _headers(draft: Draft) -> None:
    rng, request = draft.rng, draft.request
    choice = rng.randrange(14)
    outlook = draft.outlook
    if choice == 0:
        outlook.note("hdr-no-colon")
        request.raw_lines.append(
            rng.choice([b"X-Fuzz value", b"Content-Type", b":", b"X-Fuzz\x00: 1"])
        )
    elif choice == 1:
        outlook.note("hdr-space-before-colon", "any")
        index = rng.randrange(len(request.headers))
        name, value = request.headers[index]
        request.headers[index] = (name + b" ", value)
    elif choice == 2:
        outlook.note("hdr-obs-fold", "any")
        request.raw_lines += [b"X-Fuzz: a", rng.choice([b" continued", b"\tcontinued", b" "])]
    elif choice == 3:
        outlook.note("hdr-nul", "any")
        request.headers.append((b"X-Fuzz", b"a\x00b"))
    elif choice == 4:
        outlook.note("hdr-huge", "any")
        request.headers.append((b"X-Fuzz", b"h" * rng.choice([8000, 9000, 20000])))
    elif choice == 5:
        outlook.note("hdr-many", "any")
        request.headers += [(b"X-Fuzz-%d" % n, b"1") for n in range(rng.choice([50, 120, 300]))]
    elif choice == 6:
        outlook.note("hdr-bad-name", "any")
        request.headers.append(
            (rng.choice([b"X(Fuzz)", b"X Fuzz", b"X\x00Fuzz", b"", b"\xe9"]), b"1")
        )
    elif choice == 7:
        outlook.note("hdr-case", "ok")
        request.headers = [(_random_case(rng, n), v) for n, v in request.headers]
    elif choice == 8:
        outlook.note("hdr-order", "ok")
        rng.shuffle(request.headers)
    elif choice == 9:
        outlook.note("hdr-extra", "ok")
        request.headers.append((b"User-Agent", b"fuzz/1 \xc3\xa9"))
    elif choice == 10:
        outlook.note("hdr-expect-continue", "ok")
        request.headers.append((b"Expect", b"100-continue"))
    elif choice == 11:
        outlook.note("hdr-connection-close", "ok")
        request.headers.append((b"Connection", b"close"))
    elif choice == 12:
        outlook.note("hdr-no-host", "any")
        set_header(request, b"Host", None)
    else:
        outlook.note("hdr-cr-only", "any")
        request.headers.append((b"X-Fuzz", b"a\rb"))


def _random_case(rng: random.Random, name: bytes) -> bytes:
    return bytes(c ^ 0x20 if chr(c).isalpha() and rng.random() < 0.5 else c for c in name)


# --- framing ---------------------------------------------------------------------------


def _framing(draft: Draft) -> None:
    rng, request, outlook = draft.rng, draft.request, draft.outlook
    body_length = len(request.multipart() if request.body is None else request.body)
    choice = rng.randrange(14)
    if draft.raw is not None and choice in (7, 11, 12, 13):
        choice = 8
    if choice == 0:
        request.chunked = False
        short = rng.randrange(1, body_length)
        outlook.note("cl-short", "any")
        request.length_header = str(body_length - short).encode()
    elif choice == 1:
        request.chunked = False
        outlook.note("cl-long", "any", optional=True)
        request.length_header = str(body_length + rng.randrange(1, 5000)).encode()
    elif choice == 2:
        request.chunked = False
        outlook.note("cl-invalid")
        request.length_header = rng.choice([b"-1", b"abc", b"1e3", b"0x10", b"", b"1 2", b"12abc"])
    elif choice == 3:
        request.chunked = False
        outlook.note("cl-huge")
        request.length_header = rng.choice(
            [b"99999999999999999999999", b"9223372036854775808", b"%d" % (1 << 40)]
        )
    elif choice == 4:
        request.chunked = False
        outlook.note("cl-doubled", "any")
        request.headers.append(
            (b"Content-Length", str(body_length + rng.choice([0, 1, -1])).encode())
        )
    elif choice == 5:
        request.chunked = True
        outlook.note("te-with-cl", "any")
        request.length_header = str(body_length).encode()
    elif choice == 6:
        _chunked(request, rng)
        outlook.note("te-bad-size", "any")
        request.chunk_extension = rng.choice([b"zz", b"-1", b" x", b"\x00"])
    elif choice == 7:
        _chunked(request, rng)
        outlook.note("te-huge-size", "any", optional=True)
        draft.raw = b"huge-chunk"
    elif choice == 8:
        _chunked(request, rng)
        outlook.note("te-extension", "ok")
        request.chunk_extension = b";name=value;x"
    elif choice == 9:
        _chunked(request, rng)
        outlook.note("te-trailer", "ok")
        request.chunk_trailer = b"X-Trailer: 1" + CRLF
    elif choice == 10:
        request.chunked = True
        outlook.note("te-coding", "any")
        request.headers.append(
            (b"Transfer-Encoding", rng.choice([b"gzip", b"identity", b"chunked", b"x"]))
        )
    elif choice == 11:
        _chunked(request, rng)
        outlook.note("te-no-last-chunk", "any", optional=True)
        draft.raw = b"strip-last-chunk"
    elif choice == 12:
        _chunked(request, rng)
        outlook.note("te-short-chunk", "any", optional=True)
        draft.raw = b"short-chunk"
    else:
        _chunked(request, rng)
        outlook.note("te-no-crlf", "any")
        draft.raw = b"no-chunk-crlf"


def _chunked(request: HttpRequest, rng: random.Random) -> None:
    request.chunked = True
    request.chunk_sizes = [rng.randrange(1, 300) for _ in range(rng.randrange(1, 6))]


# --- multipart structure ------------------------------------------------------------------


def _multipart(draft: Draft) -> None:
    rng, request, outlook = draft.rng, draft.request, draft.outlook
    parts = request.parts
    choice = rng.randrange(16)
    if choice in (7, 13, 14) and len(parts) < 2:
        choice = rng.choice([0, 5, 6, 8, 10])
    if choice == 0:
        outlook.note("mp-no-closing")
        request.closing = b""
    elif choice == 1:
        outlook.note("mp-closing-no-dashes")
        request.closing = b"--" + request.boundary + CRLF
    elif choice == 2:
        outlook.note("mp-lf-only", "any")
        request.body = request.multipart().replace(CRLF, b"\n")
    elif choice == 3:
        outlook.note("mp-preamble", "any")
        request.preamble = b"This is the preamble." + CRLF
    elif choice == 4:
        outlook.note("mp-epilogue", "any")
        request.epilogue = b"epilogue" + CRLF
    elif choice == 5:
        outlook.note("mp-no-disposition")
        target = rng.choice(parts)
        target.headers = [
            line for line in target.headers if not line.lower().startswith(b"content-disposition")
        ]
    elif choice == 6:
        outlook.note("mp-wrong-name")
        target = rng.choice(parts)
        target.headers[0] = (
            b'Content-Disposition: form-data; name="'
            + rng.choice(
                [b"x", b"", b"urn:prisma:query:DESCRIPTOR", b"urn:prisma:query:param:json"]
            )
            + b'"'
        )
    elif choice == 7 and len(parts) > 1:
        first, second = rng.sample(range(len(parts)), 2)
        outlook.note("mp-reorder", "refuse" if 0 in (first, second) else "any")
        parts[first], parts[second] = parts[second], parts[first]
    elif choice == 8:
        outlook.note("mp-duplicate")
        at = rng.randrange(len(parts))
        parts.insert(at, Part(list(parts[at].headers), parts[at].data))
    elif choice == 9:
        outlook.note("mp-drop")
        del parts[rng.randrange(len(parts))]
    elif choice == 10:
        outlook.note("mp-extra-part")
        parts.append(Part([b'Content-Disposition: form-data; name="extra"'], b"x"))
    elif choice == 11:
        outlook.note("mp-nested")
        parts[0].headers[1] = b"Content-Type: multipart/mixed; boundary=inner"
        parts[0].data = b"--inner" + CRLF + CRLF + b"x" + CRLF + b"--inner--"
    elif choice == 12:
        outlook.note("mp-part-header-non-ascii", "any")
        rng.choice(parts).headers.append(b"X-Fuzz: \xff\xfe")
    elif choice == 13 and len(parts) > 1:
        target = rng.choice(parts[1:])
        outlook.note("mp-param-size")
        target.data = (
            target.data + b"x" if rng.random() < 0.5 or not target.data else target.data[:-1]
        )
    elif choice == 14 and len(parts) > 1:
        target = rng.choice(parts[1:])
        outlook.note("mp-fake-delimiter")
        target.data = target.data[:1] + CRLF + b"--" + request.boundary + target.data[1:]
    else:
        outlook.note("mp-huge-part-header", "any")
        rng.choice(parts).headers.append(b"X-Fuzz: " + b"h" * rng.choice([4000, 9000]))


# --- the descriptor ----------------------------------------------------------------------


def _descriptor(draft: Draft) -> None:
    doc = json.loads(draft.request.parts[0].data)
    draft.request.parts[0].data = mutate_descriptor(draft.rng, doc, draft.outlook)


# --- request line ------------------------------------------------------------------------


def _request_line(draft: Draft) -> None:
    rng, request, outlook = draft.rng, draft.request, draft.outlook
    choice = rng.randrange(5)
    if choice == 0:
        outlook.note("line-method", "any")
        request.method = rng.choice(
            [b"GET", b"PUT", b"DELETE", b"PATCH", b"FOO", b"post", b"OPTIONS", b"TRACE", b"HEAD"]
        )
    elif choice == 1:
        outlook.note("line-path", "any")
        query = request.target.partition(b"?")[2]
        path = rng.choice(
            [
                b"/v0/statement/",
                b"/V0/STATEMENT",
                b"/v0/statement%00",
                b"/v0/%2e%2e/v0/statement",
                b"//v0/statement",
                b"/v0/statement#f",
                b"*",
                b"http://127.0.0.1/v0/statement",
                b"/" + b"p" * 9000,
                b"/v0/st\xc3\xa9",
                b"v0/statement",
            ]
        )
        request.target = path + (b"?" + query if query else b"")
    elif choice == 2:
        outlook.note("line-version", "any")
        request.version = rng.choice(
            [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/0.9", b"HTTPS/1.1", b"HTTP/1.1x", b""]
        )
    elif choice == 3:
        outlook.note("line-spacing", "any")
        request.method = request.method + rng.choice([b"  ", b"\t", b""])
    else:
        outlook.note("line-query-junk", "any")
        request.target = request.target + rng.choice(
            [b"&", b"&&x", b"&=", b"&db", b"&x=%", b"&\xff=1"]
        )


# --- bytes -------------------------------------------------------------------------------


def byte_mutation(rng: random.Random, data: bytes) -> tuple[bytes, int, int]:
    """Flip, insert, delete, repeat or overwrite bytes; returns (data, start, end) of the edit."""
    if not data:
        return rng.randbytes(rng.randrange(1, 16)), 0, 0
    at = rng.randrange(len(data))
    size = min(rng.choice([1, 1, 2, 4, 16, 64]), len(data) - at)
    choice = rng.randrange(5)
    if choice == 0:
        flipped = bytes(b ^ (1 << rng.randrange(8)) for b in data[at : at + size])
        return data[:at] + flipped + data[at + size :], at, at + size
    if choice == 1:
        return data[:at] + rng.randbytes(size) + data[at:], at, at + 1
    if choice == 2:
        return data[:at] + data[at + size :], at, at + size
    if choice == 3:
        return data[:at] + data[at : at + size] * 2 + data[at + size :], at, at + size
    return data[:at] + rng.randbytes(size) + data[at + size :], at, at + size


def _body_bytes(draft: Draft) -> None:
    data = draft.request.multipart() if draft.request.body is None else draft.request.body
    for _ in range(draft.rng.choice([1, 1, 2, 3])):
        data, _, _ = byte_mutation(draft.rng, data)
    draft.outlook.note("body-bytes", "any")
    draft.request.body = data


def _head_bytes(draft: Draft) -> None:
    """Raw edits of the request line and headers (applied at serialization)."""
    draft.outlook.note("head-bytes", "any")
    draft.raw = b"head-bytes"


def _truncate(draft: Draft) -> None:
    draft.outlook.note("truncated", "any", optional=True)
    draft.raw = b"truncate"


MUTATIONS: list[tuple[int, Mutation]] = [
    # In layer order, innermost first: cases apply their mutations in this order.
    (18, _descriptor),
    (10, _multipart),
    (9, _credentials),
    (5, _authorization_header),
    (5, _database),
    (7, _content_type),
    (7, _headers),
    (4, _request_line),
    (7, _body_bytes),
    (9, _framing),
    (4, _head_bytes),
    (2, _truncate),
]
RAW_MODES = frozenset({_head_bytes, _truncate})


def _finish(draft: Draft) -> bytes:
    """Serialize, then apply the raw-byte mutations that need the final bytes."""
    request, rng = draft.request, draft.rng
    head, body = request.serialize()
    mode = draft.raw
    if mode == b"head-bytes":
        token_span = _token_span(head)
        edited, start, end = byte_mutation(rng, head[:-2])
        head = edited + head[-2:]
        if token_span[0] <= start < token_span[1] or token_span[0] < end <= token_span[1]:
            draft.outlook.note("head-bytes-in-credentials", "any", wrong_login=True)
        if _touches_framing(head, start) or start >= len(head) - 8:
            draft.outlook.note("head-bytes-in-framing", "any", optional=True)
    elif mode == b"truncate":
        full = head + body
        return full[: rng.randrange(1, len(full))]
    elif mode == b"huge-chunk":
        body = b"FFFFFFFFFFFFFFFFFFFF" + CRLF + request.multipart() + CRLF + b"0" + CRLF + CRLF
    elif mode == b"strip-last-chunk":
        body = body[: body.rindex(b"0" + CRLF)]
    elif mode == b"short-chunk":
        body = b"%x" % (len(body) + 100) + body[body.index(CRLF) :]
    elif mode == b"no-chunk-crlf":
        first_end = body.index(CRLF) + 2
        size = int(body[: first_end - 2].split(b";")[0], 16)
        body = body[: first_end + size] + body[first_end + size + 2 :]
    return head + body


def _token_span(head: bytes) -> tuple[int, int]:
    marker = b"Authorization: Basic "
    at = head.find(marker)
    if at < 0:
        return (0, 0)
    end = head.find(CRLF, at)
    return (at + len(marker), end)


def _touches_framing(head: bytes, at: int) -> bool:
    """True when an edit at ``at`` lands on a line that frames the body."""
    line_start = head.rfind(CRLF, 0, at) + 2
    line = head[line_start : line_start + 20].lower()
    return line.startswith((b"content-length", b"transfer-encoding"))


def _statement_case(index: int, rng: random.Random, login: Login) -> HttpCase:
    outlook = Outlook()
    statement = valid_statement(rng, token_for(rng, index))
    descriptor = json.dumps(statement.descriptor()).encode()
    request = valid_request(rng, statement, descriptor, login)
    draft = Draft(rng, request, outlook, login)
    count = pick_weighted(rng, [(12, 0), (60, 1), (20, 2), (8, 3)])
    order = [mutation for _, mutation in MUTATIONS]
    picked = sorted({pick_weighted(rng, MUTATIONS) for _ in range(count)}, key=order.index)
    for mutation in picked:
        if draft.raw is None or mutation not in RAW_MODES:
            mutation(draft)
    data = _finish(draft)
    rows = statement.rows if outlook.expect == "ok" else None
    return HttpCase(index, outlook, data, rows, head_only=request.method == b"HEAD")


def _handshake_case(index: int, rng: random.Random, login: Login) -> HttpCase:
    """A WebSocket upgrade request with one part of the handshake broken."""
    outlook = Outlook()
    headers = [
        (b"Host", b"127.0.0.1"),
        (b"Upgrade", b"websocket"),
        (b"Connection", b"Upgrade"),
        (b"Sec-WebSocket-Key", b"dGhlIHNhbXBsZSBub25jZQ=="),
        (b"Sec-WebSocket-Version", b"13"),
        (b"Sec-WebSocket-Protocol", WS_SUBPROTOCOL.encode()),
    ]
    choices: list[tuple[str, int, bytes | None]] = [
        ("no-upgrade", 1, None),
        ("upgrade-other", 1, b"h2c"),
        ("connection-keep-alive", 2, b"keep-alive"),
        ("no-key", 3, None),
        ("bad-key", 3, rng.choice([b"short", b"!!!!", b"", b"\xff" * 24])),
        ("version-8", 4, b"8"),
        ("version-junk", 4, b"13, x"),
        ("no-subprotocol", 5, None),
        ("other-subprotocol", 5, b"chat"),
        ("subprotocol-non-ascii", 5, b"prisma-postgres-1.0\xff"),
    ]
    label, at, value = rng.choice(choices)
    outlook.note(f"handshake-{label}", "any")
    name = headers[at][0]
    headers = [(n, v) for n, v in headers if n != name]
    if value is not None:
        headers.insert(at, (name, value))
    method = rng.choice([b"GET", b"GET", b"POST"])
    target = SESSION_PATH.encode() + b"?db=" + login.database.encode()
    lines = [method + b" " + target + b" HTTP/1.1"] + [n + b": " + v for n, v in headers]
    return HttpCase(index, outlook, CRLF.join(lines) + CRLF + CRLF, upgrade=True)


def http_case(seed: str, index: int, login: Login) -> HttpCase:
    """The HTTP case number ``index`` of this seed."""
    rng = case_random(seed, FAMILY, index)
    if rng.random() < 0.04:
        return _handshake_case(index, rng, login)
    return _statement_case(index, rng, login)
