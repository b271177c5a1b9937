"""A valid ``POST /v0/statement`` as editable pieces, and its exact bytes on the wire.

Mutations edit the pieces (request line, headers, multipart parts, framing)
before ``serialize`` turns them into bytes, so each one can break exactly one
layer: the descriptor JSON, the multipart structure, the HTTP framing or the
head.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field

from ppg_edge.core.protocol import (
    BINARY_FORMAT,
    BINARY_PARAM_CONTENT_TYPE,
    BINARY_PARAM_URN,
    DESCRIPTOR_CONTENT_TYPE,
    DESCRIPTOR_URN,
    STATEMENT_PATH,
    TEXT_PARAM_CONTENT_TYPE,
    TEXT_PARAM_URN,
    multipart_content_type,
)

from .logins import Login
from .statements import ValidStatement

CRLF = b"\r\n"


@dataclass
class Part:
    """One multipart part: raw header lines and its data."""

    headers: list[bytes]
    data: bytes


def part(name: str, content_type: str, data: bytes) -> Part:
    """A part exactly as PROTOCOL.md section 3 lays it out."""
    disposition = f'Content-Disposition: form-data; name="{name}"'.encode()
    return Part([disposition, f"Content-Type: {content_type}".encode()], data)


@dataclass
class HttpRequest:
    """A statement request, piece by piece; ``serialize`` gives its bytes."""

    boundary: bytes
    parts: list[Part]
    headers: list[tuple[bytes, bytes]]
    method: bytes = b"POST"
    target: bytes = STATEMENT_PATH.encode()
    version: bytes = b"HTTP/1.1"
    preamble: bytes = b""
    closing: bytes | None = None
    epilogue: bytes = b""
    chunked: bool = False
    chunk_sizes: list[int] = field(default_factory=list)
    chunk_extension: bytes = b""
    chunk_trailer: bytes = b""
    length_header: bytes | None = None
    """Overrides the Content-Length value (a lie); None: the true length."""
    body: bytes | None = None
    """Overrides the multipart body (after byte-level mutations)."""
    raw_lines: list[bytes] = field(default_factory=list)
    """Head lines sent as they are (a line without a colon, a folded line)."""

    def multipart(self) -> bytes:
        """The body: parts between delimiters, then the closing delimiter."""
        out = bytearray(self.preamble)
        for item in self.parts:
            out += b"--" + self.boundary + CRLF
            for line in item.headers:
                out += line + CRLF
            out += CRLF + item.data + CRLF
        out += b"--" + self.boundary + b"--" + CRLF if self.closing is None else self.closing
        return bytes(out + self.epilogue)

    def framed(self, body: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
        """The framing header(s) and the body as sent (Content-Length or chunked)."""
        if not self.chunked:
            length = str(len(body)).encode() if self.length_header is None else self.length_header
            return [(b"Content-Length", length)], body
        out = bytearray()
        sizes = self.chunk_sizes or [len(body)]
        position = 0
        for size in sizes:
            chunk = body[position : position + size]
            position += len(chunk)
            if chunk:
                out += b"%x" % len(chunk) + self.chunk_extension + CRLF + chunk + CRLF
        if position < len(body):
            out += b"%x" % (len(body) - position) + CRLF + body[position:] + CRLF
        out += b"0" + CRLF + self.chunk_trailer + CRLF
        framing = [(b"Transfer-Encoding", b"chunked")]
        if self.length_header is not None:
            framing.append((b"Content-Length", self.length_header))
        return framing, bytes(out)

    def head(self, framing: list[tuple[bytes, bytes]]) -> bytes:
        """Request line and headers, up to and including the blank line."""
        lines = [self.method + b" " + self.target + b" " + self.version]
        lines += [name + b": " + value for name, value in self.headers + framing]
        lines += self.raw_lines
        return CRLF.join(lines) + CRLF + CRLF

    def serialize(self) -> tuple[bytes, bytes]:
        """(head, framed body)."""
        body = self.multipart() if self.body is None else self.body
        framing, framed = self.framed(body)
        return self.head(framing), framed


def basic(user: str, password: str) -> bytes:
    """An ``Authorization: Basic`` value for any user and password (bytes allowed in both)."""
    raw = (
        user.encode("utf-8", "surrogateescape") + b":" + password.encode("utf-8", "surrogateescape")
    )
    return b"Basic " + base64.b64encode(raw)


def statement_parts(statement: ValidStatement, descriptor: bytes) -> list[Part]:
    """The descriptor part, then one part per extended parameter."""
    parts = [part(DESCRIPTOR_URN, DESCRIPTOR_CONTENT_TYPE, descriptor)]
    for param in statement.extended():
        assert param.value is not None
        if param.format == BINARY_FORMAT:
            parts.append(part(BINARY_PARAM_URN, BINARY_PARAM_CONTENT_TYPE, param.value))
        else:
            parts.append(part(TEXT_PARAM_URN, TEXT_PARAM_CONTENT_TYPE, param.value))
    return parts


def valid_request(
    rng: random.Random, statement: ValidStatement, descriptor: bytes, login: Login
) -> HttpRequest:
    """A request a correct gateway must serve, with a random boundary and framing."""
    boundary = b"fz" + rng.randbytes(rng.randrange(4, 20)).hex().encode()
    headers = [
        (b"Host", b"127.0.0.1"),
        (b"Authorization", basic(login.user, login.password)),
        (b"Content-Type", multipart_content_type(boundary.decode()).encode()),
    ]
    request = HttpRequest(boundary, statement_parts(statement, descriptor), headers)
    request.target = STATEMENT_PATH.encode() + b"?db=" + login.database.encode()
    if rng.random() < 0.3:
        request.chunked = True
        request.chunk_sizes = [rng.randrange(1, 400) for _ in range(rng.randrange(1, 8))]
    return request


def header_index(request: HttpRequest, name: bytes) -> int | None:
    """Where a header sits in the list (case-insensitive), or None."""
    for index, (key, _) in enumerate(request.headers):
        if key.lower() == name.lower():
            return index
    return None


def set_header(request: HttpRequest, name: bytes, value: bytes | None) -> None:
    """Replace (or remove, with None) a header, keeping its place."""
    index = header_index(request, name)
    if index is None:
        if value is not None:
            request.headers.append((name, value))
        return
    if value is None:
        del request.headers[index]
    else:
        request.headers[index] = (request.headers[index][0], value)
