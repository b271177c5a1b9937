"""The low-level client: `query` and `exec` over HTTP, `new_session` over WebSocket.

Every HTTP statement is one `Runtime.request`; its rows are parsed lazily as
the response streams in, and leaving early closes the response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from ppg_edge._answers import effective_timeout, exec_count, start_query, statement_deadline
from ppg_edge._closing import AsyncClosing
from ppg_edge._concurrency import Closer, Deadline
from ppg_edge._failures import TRANSPORT_ERRORS, cut_short, transport_failure
from ppg_edge._parameter_streams import body_chunks
from ppg_edge._results import QueryResult
from ppg_edge._session import Session
from ppg_edge.core.answer import AnswerItem, HttpAnswer
from ppg_edge.core.config import DEFAULT_CONNECT_TIMEOUT, ClientConfig
from ppg_edge.core.errors import GenericError, HttpResponseError, ValidationError
from ppg_edge.core.frames import Failure
from ppg_edge.core.multipart import MultipartBody
from ppg_edge.core.protocol import EXEC_KIND, MAX_RESULT_FRAME_BYTES, NDJSON, QUERY_KIND
from ppg_edge.core.statement import encode_statement
from ppg_edge.core.types import (
    TypeRegistry,
    ValueParser,
    ValueSerializer,
    default_parsers,
    default_serializers,
)
from ppg_edge.rows import RowFactory, check_factory, values_row
from ppg_edge.runtime.base import HttpResponse, ReplayableBody, Runtime

_ERROR_BODY_LIMIT = 64 * 1024


def default_client_config(
    connection_string: str,
    *,
    parsers: Sequence[ValueParser] | None = None,
    serializers: Sequence[ValueSerializer] | None = None,
    endpoint: str | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
) -> ClientConfig:
    """A config with the default parsers and serializers; the given ones take precedence."""
    return ClientConfig(
        connection_string,
        parsers=[*default_parsers(), *(parsers or ())],
        serializers=[*(serializers or ()), *default_serializers()],
        endpoint=endpoint,
        timeout=timeout,
        connect_timeout=connect_timeout,
        max_frame_bytes=max_frame_bytes,
    )


def client(
    config: ClientConfig | str,
    *,
    endpoint: str | None = None,
    parsers: Sequence[ValueParser] | None = None,
    serializers: Sequence[ValueSerializer] | None = None,
    timeout: float | None = None,
    connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
    max_frame_bytes: int = MAX_RESULT_FRAME_BYTES,
    runtime: Runtime | None = None,
    row_factory: RowFactory = values_row,
) -> Client:
    """A low-level client from a ClientConfig, or from a connection string with the defaults.

    `row_factory` shapes `query()`'s rows (`ppg_edge.rows`); `Row`s by default.
    """
    if isinstance(config, str):
        config = default_client_config(
            config,
            parsers=parsers,
            serializers=serializers,
            endpoint=endpoint,
            timeout=timeout,
            connect_timeout=connect_timeout,
            max_frame_bytes=max_frame_bytes,
        )
    elif (
        endpoint is not None
        or parsers
        or serializers
        or timeout is not None
        or connect_timeout != DEFAULT_CONNECT_TIMEOUT
        or max_frame_bytes != MAX_RESULT_FRAME_BYTES
    ):
        raise ValidationError("with a ClientConfig, pass every option in the ClientConfig")
    return Client(config, runtime=runtime, row_factory=row_factory)


class Client(AsyncClosing):
    """Runs statements over HTTP and opens WebSocket sessions."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        runtime: Runtime | None = None,
        row_factory: RowFactory = values_row,
    ) -> None:
        if not isinstance(config, ClientConfig):
            raise ValidationError("client() needs a ClientConfig or a connection string")
        self.config = config
        self.row_factory = check_factory(row_factory)
        """How `query()` builds rows unless a statement says otherwise."""
        self.registry = TypeRegistry(config.parsers, config.serializers)
        self._runtime = runtime
        self._owns_runtime = runtime is None
        self._closer = Closer()

    def __repr__(self) -> str:
        return f"Client({self.config!r})"

    @property
    def runtime(self) -> Runtime:
        """The transport, chosen for this Python on first use unless one was given."""
        if self._runtime is None:
            from ppg_edge.runtime import default_runtime

            config = self.config
            self._runtime = default_runtime(
                connect_timeout=config.connect_timeout, max_frame_bytes=config.max_frame_bytes
            )
        return self._runtime

    def deadline(self, timeout: float | None) -> Deadline:
        """A statement's deadline: its own timeout, else the client-wide one."""
        return statement_deadline(timeout, self.config.timeout)

    async def query(
        self,
        sql: str,
        *params: Any,
        timeout: float | None = None,
        row_factory: RowFactory | None = None,
    ) -> QueryResult:
        """Run a query; return once its columns are known, with its rows still streaming."""
        __tracebackhide__ = True
        factory = self.row_factory if row_factory is None else check_factory(row_factory)
        deadline = self.deadline(timeout)
        frames = await self._statement(QUERY_KIND, sql, params, deadline)
        return await start_query(frames, self.registry, factory)

    async def exec(self, sql: str, *params: Any, timeout: float | None = None) -> int:
        """Run a statement and return the number of rows it affected."""
        __tracebackhide__ = True
        deadline = self.deadline(timeout)
        return await exec_count(await self._statement(EXEC_KIND, sql, params, deadline))

    async def new_session(
        self,
        *,
        parsers: Sequence[ValueParser] | None = None,
        serializers: Sequence[ValueSerializer] | None = None,
        timeout: float | None = None,
    ) -> Session:
        """Open a WebSocket session; its parsers and serializers go over the client's."""
        __tracebackhide__ = True
        registry = self.registry.layered(parsers or (), serializers or ())
        session = await Session.open(
            self.runtime,
            self.config.connection,
            registry,
            effective_timeout(timeout, self.config.timeout),
            self.config.connect_timeout,
        )
        session.row_factory = self.row_factory
        return session

    async def _statement(
        self, kind: str, sql: str, params: Sequence[Any], deadline: Deadline
    ) -> AsyncIterator[list[AnswerItem]]:
        __tracebackhide__ = True
        values = [self.registry.serialize(value) for value in params]
        body = MultipartBody(encode_statement(kind, sql, values))
        connection = self.config.connection
        headers = [
            ("Authorization", connection.authorization()),
            ("Content-Type", body.content_type),
            ("Accept", NDJSON),
        ]
        chunks = ReplayableBody(lambda: body_chunks(body)) if body.replayable else body_chunks(body)
        request = self.runtime.request
        url = connection.statement_url()
        try:
            response = await deadline.run(request, "POST", url, headers, chunks, body.size)
        except GenericError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise transport_failure(exc, f"the request to {connection.endpoint} failed") from exc
        if not 200 <= response.status < 300:
            raise await _http_error(response, deadline)
        return _http_frames(response, deadline, kind, self.config.max_frame_bytes)

    def close_later(self, session: Session) -> None:
        """Close a finished session without waiting for the close handshake.

        Used once a batch or transaction has its answer, so the handshake's round
        trip is not added to it; `aclose()` waits for these closes.
        """
        self._closer.later(session.close)

    async def aclose(self) -> None:
        """Wait for sessions still closing, then release a runtime this client created."""
        await self._closer.wait()
        if self._owns_runtime and self._runtime is not None:
            await self._runtime.aclose()


async def _http_error(response: HttpResponse, deadline: Deadline) -> HttpResponseError:
    """Read (a bounded part of) a non-2xx body: it is the server's plain-text message."""
    data = bytearray()
    try:
        body = response.body()
        while len(data) < _ERROR_BODY_LIMIT:
            chunk = await deadline.run(anext, body, None)
            if chunk is None:
                break
            data += chunk
    except (GenericError, OSError):
        pass
    finally:
        await response.aclose()
    text = data[:_ERROR_BODY_LIMIT].decode("utf-8", "replace").strip()
    return HttpResponseError(response.status, text or f"HTTP error {response.status}")


async def _http_frames(
    response: HttpResponse, deadline: Deadline, kind: str, max_line_bytes: int
) -> AsyncIterator[list[AnswerItem]]:
    """A response's frames, read by read; raises the error frame's DatabaseError at its place.

    The body is read to its end so the connection can be reused; a body that ends
    before `complete` or `error` is a ProtocolError, never a short result. A line
    over `max_line_bytes` is a ProtocolError too, and the connection is dropped.
    Decoding is `HttpAnswer`'s; this only moves the bytes.
    """
    __tracebackhide__ = True
    answer = HttpAnswer(kind, max_line_bytes)
    clean = False
    body = response.body()
    try:
        while True:
            try:
                chunk = await deadline.run(anext, body, None)
            except GenericError:
                raise
            except OSError as exc:
                raise cut_short(exc) from exc
            if chunk is None:
                clean = True
                batch = answer.end()
            else:
                batch = answer.feed(chunk)
            if batch:
                yield batch
            if chunk is None:
                break
    finally:
        if not clean:
            await response.aclose()
    if isinstance(answer.outcome, Failure):
        raise answer.outcome.error
