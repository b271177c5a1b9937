"""The HTTP request body of a statement: lazy multipart/form-data (PROTOCOL.md section 3).

The body is produced piece by piece so a large parameter is never joined into
one buffer; its exact size is known up front because every extended parameter
declares its size. Where a user's stream goes, `pieces()` yields the stream
parameter itself: the face (async or sync) pulls it in place.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from ppg_edge.core.parameters import TEXT, BoundedByteStreamParameter, Bytes
from ppg_edge.core.protocol import (
    BINARY_PARAM_CONTENT_TYPE,
    BINARY_PARAM_URN,
    DESCRIPTOR_CONTENT_TYPE,
    DESCRIPTOR_URN,
    TEXT_PARAM_CONTENT_TYPE,
    TEXT_PARAM_URN,
    multipart_content_type,
)
from ppg_edge.core.statement import EncodedStatement, ExtendedParameter

_CRLF = b"\r\n"


def new_boundary() -> str:
    """A random boundary; 128 random bits make a collision with the data negligible.

    `os.urandom` is what `secrets.token_hex` reads; calling it directly keeps
    `secrets` (and the `random` module it loads) out of the import.
    """
    return "ppgedge" + os.urandom(16).hex()


class MultipartBody:
    """A statement's multipart body: `content_type`, exact `size` and lazy `chunks()`."""

    def __init__(self, statement: EncodedStatement, boundary: str | None = None) -> None:
        self.statement = statement
        self.boundary = boundary or new_boundary()
        self.content_type = multipart_content_type(self.boundary)
        self._descriptor = statement.descriptor.encode("utf-8")

    def _part_head(self, name: str, content_type: str) -> bytes:
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode("ascii")

    def _param_head(self, parameter: ExtendedParameter) -> bytes:
        if parameter.format == TEXT:
            return self._part_head(TEXT_PARAM_URN, TEXT_PARAM_CONTENT_TYPE)
        return self._part_head(BINARY_PARAM_URN, BINARY_PARAM_CONTENT_TYPE)

    def _closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("ascii")

    @property
    def replayable(self) -> bool:
        """Whether `chunks()` can run twice: true unless a parameter is a one-shot stream."""
        return not any(
            isinstance(parameter.data, BoundedByteStreamParameter)
            for parameter in self.statement.extended
        )

    @property
    def size(self) -> int:
        """The exact body length in bytes."""
        total = len(self._part_head(DESCRIPTOR_URN, DESCRIPTOR_CONTENT_TYPE))
        total += len(self._descriptor) + len(_CRLF) + len(self._closing())
        for parameter in self.statement.extended:
            total += len(self._param_head(parameter)) + parameter.size + len(_CRLF)
        return total

    def pieces(self) -> Iterator[Bytes | BoundedByteStreamParameter]:
        """The body in order: bytes, or a stream parameter whose chunks go in its place."""
        yield self._part_head(DESCRIPTOR_URN, DESCRIPTOR_CONTENT_TYPE) + self._descriptor + _CRLF
        for parameter in self.statement.extended:
            yield self._param_head(parameter)
            yield parameter.data
            yield _CRLF
        yield self._closing()
