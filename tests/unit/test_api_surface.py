"""The public API's pure parts: exports, configs, iterators, templates, batch statements."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import ppg_edge
from ppg_edge import CollectableIterator, Exec, Query, ValidationError, ValueParser
from ppg_edge._statements import to_sql
from ppg_edge.core.types import default_parsers, default_serializers

URL = "postgres://user:PASSWORDXYZ@db.example.com:5432/app"
REPO = Path(__file__).resolve().parents[2]


def test_import_loads_no_runtime_gateway_or_browser_code() -> None:
    code = (
        "import sys, ppg_edge; "
        "tops = {'aiohttp', 'psycopg', 'h11', 'wsproto', 'js', 'pyodide', 'workers'}; "
        "bad = [m for m in sys.modules if m.split('.')[0] in tops or m.startswith(("
        "'ppg_edge.runtime.cpython', 'ppg_edge.runtime.pyodide', "
        "'ppg_edge.runtime.cloudflare', 'ppg_edge_gateway'))]; print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_import_loads_no_asyncio_transport_decimal_uuid_or_secrets() -> None:
    """Cold start: these load on first use, not with `import ppg_edge` (or its core)."""
    code = (
        "import sys, ppg_edge, ppg_edge.core.types, ppg_edge.core.multipart; "
        "heavy = ('asyncio', 'h11', 'wsproto', 'uuid', 'decimal', 'secrets'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_lazy_names_resolve_to_their_definitions() -> None:
    """Every exported name loads on access, and `ppg_edge.client` stays the function
    after the private module that defines it was imported by another route."""
    code = (
        "import ppg_edge, ppg_edge._database, ppg_edge._client as c; "
        "from ppg_edge._client import client; "
        "assert ppg_edge.client is client and c.client is client, ppg_edge.client; "
        "missing = [n for n in ppg_edge.__all__ if getattr(ppg_edge, n, None) is None]; "
        "assert set(ppg_edge.__all__) <= set(dir(ppg_edge)); print(missing)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ppg_edge.nothing  # noqa: B018 - the access is the test


def test_api_md_names_are_exported() -> None:
    names = (
        "connect client default_client_config ClientConfig Query Exec Column Row "
        "CollectableIterator ValueParser ValueSerializer byte_array_parameter "
        "bounded_byte_stream_parameter BINARY TEXT GenericError ValidationError "
        "HttpResponseError WebSocketError DatabaseError ProtocolError QueryTimeoutError DataError "
        "ConnectTimeoutError"
    )
    for name in names.split():
        assert hasattr(ppg_edge, name), name


def test_default_client_config_puts_user_types_first() -> None:
    mine = ValueParser(23, lambda text: f"int:{text}")
    config = ppg_edge.default_client_config(URL, parsers=[mine], timeout=3)
    assert len(config.parsers) == len(default_parsers()) + 1
    assert config.parsers[-1] is mine  # later parsers win by OID
    assert len(config.serializers) == len(default_serializers())
    assert ppg_edge.client(config).registry.parse(23, "5") == "int:5"
    assert config.timeout == 3.0
    assert config.connection.endpoint == "https://db.example.com"


def test_plain_client_config_has_no_default_parsers() -> None:
    cl = ppg_edge.client(ppg_edge.ClientConfig(URL))
    assert cl.registry.parse(23, "5") == "5"


def test_clients_hide_the_password() -> None:
    db = ppg_edge.connect(URL, endpoint="http://127.0.0.1:1")
    for text in (repr(db), str(db), repr(db.client), repr(db.client.config)):
        assert "PASSWORDXYZ" not in text


def test_config_options_go_in_the_config_once_it_exists() -> None:
    with pytest.raises(ValidationError):
        ppg_edge.client(ppg_edge.ClientConfig(URL), endpoint="http://127.0.0.1:1")
    for option in ({"connect_timeout": 3}, {"max_frame_bytes": 1024}):
        with pytest.raises(ValidationError):
            ppg_edge.client(ppg_edge.ClientConfig(URL), **option)  # type: ignore[arg-type]
    db = ppg_edge.connect(URL, connect_timeout=3, max_frame_bytes=1024)
    assert (db.client.config.connect_timeout, db.client.config.max_frame_bytes) == (3.0, 1024)
    with pytest.raises(ValidationError):
        ppg_edge.client(object())  # type: ignore[arg-type]


def test_to_sql_accepts_both_forms() -> None:
    assert to_sql("SELECT {a}", (), {"a": 1}) == ("SELECT $1", [1])
    with pytest.raises(ValidationError):
        to_sql(123, (), {})


def test_batch_statements() -> None:
    query = Query("SELECT $1", 5)
    assert (query.kind, query.sql, query.params) == ("query", "SELECT $1", (5,))
    assert Exec("DELETE FROM t").kind == "exec"
    assert "5" not in repr(query)
    with pytest.raises(ValidationError):
        Query(42)


async def _batches(*batches: list[int]) -> AsyncIterator[list[int]]:
    for batch in batches:
        yield batch


async def test_collectable_iterator_iterates_once_and_collects_the_rest() -> None:
    it = CollectableIterator(_batches([1, 2], [], [3]))
    assert await it.__anext__() == 1
    assert await it.collect() == [2, 3]
    assert await it.collect() == []
    assert [x async for x in it] == []


async def test_async_for_shares_its_position_with_the_other_ways_to_read() -> None:
    """`async for` runs on a generator of its own; it and `__anext__`, `consumed`,
    a second loop and `collect()` must see one position, in any order."""
    it = CollectableIterator(_batches([1, 2, 3], [4, 5], [], [6, 7], [8]))
    async for x in it:
        if x == 2:
            break
    assert it.consumed == 2
    assert await it.__anext__() == 3
    seen = []
    async for x in it:
        seen.append(x)
        if x == 4:
            assert await it.__anext__() == 5  # read inside the loop: the loop skips it
        if x == 6:
            break
    assert seen == [4, 6]
    assert it.consumed == 6
    assert await it.collect() == [7, 8]
    assert [x async for x in it] == []
    assert it.closed


async def test_collectable_iterator_aclose_runs_cleanup_once() -> None:
    closed: list[str] = []

    async def source() -> AsyncIterator[list[int]]:
        try:
            yield [1]
            yield [2]
        finally:
            closed.append("source")

    async def on_close() -> None:
        closed.append("hook")

    async with CollectableIterator(source(), on_close) as it:
        assert await it.__anext__() == 1
    await it.aclose()
    assert closed == ["source", "hook"]
    assert await it.collect() == []


async def test_collectable_iterator_map_and_errors() -> None:
    async def failing() -> AsyncIterator[list[int]]:
        yield [1, 2]
        raise ValidationError("boom")

    it = CollectableIterator(failing()).map(lambda x: x * 10)
    assert await it.__anext__() == 10
    assert await it.__anext__() == 20
    with pytest.raises(ValidationError):
        await it.__anext__()
    with pytest.raises(StopAsyncIteration):
        await it.__anext__()
