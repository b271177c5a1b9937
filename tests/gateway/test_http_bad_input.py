"""Bad HTTP input gets a clear plain-text 4xx and the gateway keeps serving (issue point 8)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.support.raw import (
    BOUNDARY,
    RawHttp,
    binary_part,
    descriptor_part,
    multipart_body,
    statement_parts,
    text_part,
)

LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def small_gateway(gateway_factory: Callable[..., Any]) -> Any:
    """A gateway with a 1 MiB request limit."""
    return gateway_factory(max_body_size=LIMIT)


async def assert_still_serving(http: RawHttp) -> None:
    answer = await http.query("SELECT 'still serving'")
    assert answer.rows == [["still serving"]]


def body_of(*parts: Any) -> bytes:
    return multipart_body(parts)


BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "not multipart at all": (b"SELECT 1", "boundary"),
    "no closing delimiter": (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="urn:prisma:query:descriptor"'
        '\r\n\r\n{"query": "SELECT 1"}'.encode(),
        "",
    ),
    "bad descriptor JSON": (body_of(descriptor_part(b"{query: SELECT")), "JSON"),
    "descriptor not an object": (body_of(descriptor_part(b"[1, 2]")), "object"),
    "descriptor without kind": (body_of(descriptor_part({"sql": "SELECT 1"})), "query"),
    "descriptor with both kinds": (
        body_of(descriptor_part({"query": "x", "exec": "y"})),
        "exactly one",
    ),
    "parameter of unknown type": (
        body_of(
            descriptor_part({"query": "SELECT $1", "parameters": [{"type": "json", "value": "1"}]})
        ),
        "type",
    ),
    "negative byteSize": (
        body_of(
            descriptor_part(
                {"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": -1}]}
            )
        ),
        "byteSize",
    ),
    "bad inline base64": (
        body_of(
            descriptor_part(
                {"query": "SELECT $1", "parameters": [{"type": "binary", "value": "@@"}]}
            )
        ),
        "base64",
    ),
    "unknown part name": (
        body_of(
            descriptor_part(
                {"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 2}]}
            ),
            ("urn:prisma:query:param:json", "text/plain", b"ab"),
        ),
        "urn:prisma:query:param:text",
    ),
    "descriptor part missing": (body_of(text_part("x")), "descriptor"),
    "extended part missing": (
        body_of(
            descriptor_part({"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 2}]})
        ),
        "ended before",
    ),
    "unexpected extra part": (
        body_of(descriptor_part({"query": "SELECT 1"}), text_part("x")),
        "unexpected",
    ),
    "byteSize larger than part": (
        body_of(
            descriptor_part(
                {"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 5}]}
            ),
            text_part("abc"),
        ),
        "byteSize is 5",
    ),
    "byteSize smaller than part": (
        body_of(
            descriptor_part(
                {"query": "SELECT $1", "parameters": [{"type": "binary", "byteSize": 2}]}
            ),
            binary_part(b"abcdef"),
        ),
        "more than the 2 bytes",
    ),
    "binary part for a text parameter": (
        body_of(
            descriptor_part(
                {"query": "SELECT $1", "parameters": [{"type": "text", "byteSize": 2}]}
            ),
            binary_part(b"ab"),
        ),
        "expected part",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
async def test_bad_body_is_400_with_a_message(http: RawHttp, case: str) -> None:
    body, fragment = BAD_BODIES[case]
    answer = await http.post(body)
    assert answer.status == 400, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.text.startswith("bad request:")
    assert fragment in answer.text
    assert "Traceback" not in answer.text
    await assert_still_serving(http)


async def test_wrong_content_type_is_400(http: RawHttp) -> None:
    async with http.session.post(
        http.gateway.url + "/v0/statement",
        data=json.dumps({"query": "SELECT 1"}),
        headers={"Content-Type": "application/json", "Authorization": http.auth()},
    ) as response:
        assert response.status == 400
        assert "multipart/form-data" in await response.text()
    await assert_still_serving(http)


@pytest.mark.parametrize("path", ["/", "/v0", "/v0/statements", "/v1/statement", "/v0/session/x"])
async def test_unknown_path_is_404(http: RawHttp, path: str) -> None:
    async with http.session.get(http.gateway.url + path) as response:
        assert response.status == 404
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "unknown path" in await response.text()
    answer = await http.post(multipart_body(statement_parts("query", "SELECT 1")), path=path)
    assert answer.status in (404, 405)
    await assert_still_serving(http)


async def test_wrong_method_is_405(http: RawHttp) -> None:
    async with http.session.get(http.gateway.url + "/v0/statement") as response:
        assert response.status == 405
        assert "Traceback" not in await response.text()
    await assert_still_serving(http)


async def test_body_over_limit_with_length_is_413(
    client: aiohttp.ClientSession, small_gateway: Any
) -> None:
    http = RawHttp(client, small_gateway)
    answer = await http.query(
        "SELECT octet_length($1::bytea)", [b"x" * (LIMIT + 10)], extended=True
    )
    assert answer.status == 413
    assert f"limit of {LIMIT} bytes" in answer.text
    await assert_still_serving(http)


async def test_chunked_body_over_limit_is_413(
    client: aiohttp.ClientSession, small_gateway: Any
) -> None:
    http = RawHttp(client, small_gateway)
    body = multipart_body(statement_parts("query", "SELECT $1::bytea", [b"y" * (3 * LIMIT)], True))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    try:
        answer = await http.post(chunks())
    except aiohttp.ClientError:
        pytest.fail("the gateway must answer 413, not drop the connection")
    assert answer.status == 413
    await assert_still_serving(http)


async def test_body_just_under_limit_is_served(
    client: aiohttp.ClientSession, small_gateway: Any
) -> None:
    http = RawHttp(client, small_gateway)
    blob = b"z" * (LIMIT - 4096)
    answer = await http.query("SELECT octet_length($1::bytea)", [blob], extended=True)
    assert answer.rows == [[str(len(blob))]]


async def test_concurrent_clients_survive_a_bad_one(http: RawHttp) -> None:
    import asyncio

    good = [http.query("SELECT pg_sleep(0.2), $1::int", [str(i)]) for i in range(5)]
    bad = http.post(b"--" + BOUNDARY.encode() + b"\r\ngarbage")
    answers = await asyncio.gather(bad, *good)
    assert answers[0].status == 400
    assert [a.rows[0][1] for a in answers[1:]] == [str(i) for i in range(5)]


async def test_connection_limit_answers_503_when_the_queue_wait_ends(
    client: aiohttp.ClientSession, gateway_factory: Callable[..., Any]
) -> None:
    import asyncio

    one = RawHttp(client, gateway_factory(max_connections=1, queue_timeout=0.3))
    slow = asyncio.create_task(one.query("SELECT pg_sleep(1.5), 'slow'"))
    await asyncio.sleep(0.3)
    refused = await one.query("SELECT 'queued too long'")
    assert refused.status == 503
    assert "too many concurrent statements (limit 1)" in refused.text
    assert (await slow).rows == [["", "slow"]]
    await assert_still_serving(one)


async def test_plain_get_on_the_session_path_is_400(http: RawHttp) -> None:
    async with http.session.get(http.gateway.url + "/v0/session") as response:
        assert response.status == 400
        text = await response.text()
        assert "WebSocket" in text or "Upgrade" in text or "upgrade" in text
    await assert_still_serving(http)
