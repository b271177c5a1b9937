"""Pulling users' stream parameters: the async face's half of a statement's bytes.

The core lays out a statement (`MultipartBody.pieces`, `statement_messages`)
without reading anything; a stream parameter stays a marker there. This module
reads such a stream, sync or async, through the core's `ExactSize` check, and
fills the markers in: the HTTP body as chunks, the session's messages whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ppg_edge._concurrency import pull
from ppg_edge.core.multipart import MultipartBody
from ppg_edge.core.parameters import BoundedByteStreamParameter, Bytes
from ppg_edge.core.session import statement_messages
from ppg_edge.core.statement import EncodedStatement, ExactSize, check_source


async def stream_chunks(parameter: BoundedByteStreamParameter) -> AsyncIterator[Bytes]:
    """A stream parameter's non-empty chunks, held to its declared size."""
    source = parameter.source
    check_source(source)
    check = ExactSize(parameter)
    async for chunk in pull(source):
        if piece := check.take(chunk):
            yield piece
    check.finish()


async def body_chunks(body: MultipartBody) -> AsyncIterator[Bytes]:
    """An HTTP statement body, piece by piece, streams pulled in place."""
    for piece in body.pieces():
        if isinstance(piece, BoundedByteStreamParameter):
            async for chunk in stream_chunks(piece):
                yield chunk
        else:
            yield piece


async def session_messages(statement: EncodedStatement) -> list[str | bytes]:
    """A statement's session messages, every stream read in full first."""
    pulled: list[Bytes] = []
    for parameter in statement.extended:
        if parameter.stream is not None:
            data = bytearray()
            async for chunk in stream_chunks(parameter.stream):
                data += chunk
            pulled.append(data)
    return statement_messages(statement, pulled)
