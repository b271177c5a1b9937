"""Descriptor values of the wrong JSON type or that are not Unicode: 400 / close 1002 with a
reason, on both transports (found by the fuzz test: they answered 500, a mid-stream XX000 frame,
or close 1000 / 1011)."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ppg_edge.core.protocol import CLOSE_PROTOCOL_ERROR, DESCRIPTOR_URN
from tests.support.raw import RawHttp, descriptor_part, expect_close, multipart_body, open_session

# Raw JSON text: a lone surrogate escape is valid JSON but no valid Unicode (UTF-8 cannot hold it).
BAD_DESCRIPTORS = {
    "lone surrogate in the SQL": (
        '{"query": "SELECT \'\\ud800\'"}',
        "SQL text is not valid Unicode",
    ),
    "type given as a list": (
        '{"query": "SELECT $1", "parameters": [{"type": ["text"], "value": "1"}]}',
        "type must be 'text' or 'binary'",
    ),
    "type given as an object": (
        '{"query": "SELECT $1", "parameters": [{"type": {"a": 1}, "byteSize": 1}]}',
        "type must be 'text' or 'binary'",
    ),
    "lone surrogate in a text value": (
        '{"query": "SELECT $1", "parameters": [{"type": "text", "value": "\\udfff"}]}',
        "not valid Unicode",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DESCRIPTORS))
async def test_bad_descriptor_value_is_400_over_http(http: RawHttp, case: str) -> None:
    raw, reason = BAD_DESCRIPTORS[case]
    answer = await http.post(multipart_body([descriptor_part(raw.encode())]))
    assert answer.status == 400, (answer.status, answer.text)
    assert reason in answer.text
    assert (await http.query("SELECT 1")).rows == [["1"]]


@pytest.mark.parametrize("case", sorted(BAD_DESCRIPTORS))
async def test_bad_descriptor_value_closes_1002_over_a_session(
    client: aiohttp.ClientSession, gateway: Any, case: str
) -> None:
    raw, reason = BAD_DESCRIPTORS[case]
    ws = await open_session(client, gateway)
    await ws.send_str(DESCRIPTOR_URN)
    await ws.send_str(raw)
    code, said = await expect_close(ws)
    assert code == CLOSE_PROTOCOL_ERROR and reason in said, (code, said)
