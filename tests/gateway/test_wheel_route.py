"""The driver wheel at /v0/wheel: CORS from the allow-list, ETag, 404s saying why (issue 11.10)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ppg_edge_gateway.config import parse_config
from tests.support.servers import gateway_environment

ALLOWED = "http://notebook.example"
ELSEWHERE = "http://elsewhere.example"


@pytest.fixture(scope="module")
def wheel_gateway(gateway_factory: Any, ppg_wheel: Path) -> Any:
    """A gateway serving the freshly built driver wheel, allowing one browser origin."""
    return gateway_factory(wheel=ppg_wheel, allow_origin=[ALLOWED])


def wheel_url(gateway: Any, wheel: Path) -> str:
    return f"{gateway.url}/v0/wheel/{wheel.name}"


async def test_an_allowed_origin_gets_the_wheel_with_cors(
    client: aiohttp.ClientSession, wheel_gateway: Any, ppg_wheel: Path
) -> None:
    async with client.get(wheel_url(wheel_gateway, ppg_wheel), headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert "Origin" in r.headers["Vary"]
        assert r.content_type == "application/zip"
        body = await r.read()
        assert r.headers["ETag"] == f'"{hashlib.sha256(body).hexdigest()}"'
        assert r.headers["Cache-Control"] == "no-cache"
    assert body == ppg_wheel.read_bytes()


async def test_an_origin_off_the_list_gets_no_cors_header(
    client: aiohttp.ClientSession, wheel_gateway: Any, ppg_wheel: Path
) -> None:
    for headers in ({"Origin": ELSEWHERE}, {}):
        async with client.get(wheel_url(wheel_gateway, ppg_wheel), headers=headers) as r:
            assert r.status == 200
            assert "Access-Control-Allow-Origin" not in r.headers
            assert await r.read() == ppg_wheel.read_bytes()


async def test_head_answers_the_headers_without_the_body(
    client: aiohttp.ClientSession, wheel_gateway: Any, ppg_wheel: Path
) -> None:
    async with client.head(wheel_url(wheel_gateway, ppg_wheel), headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == str(ppg_wheel.stat().st_size)
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert await r.read() == b""


async def test_a_matching_etag_is_answered_304_without_a_body(
    client: aiohttp.ClientSession, wheel_gateway: Any, ppg_wheel: Path
) -> None:
    etag = f'"{hashlib.sha256(ppg_wheel.read_bytes()).hexdigest()}"'
    url = wheel_url(wheel_gateway, ppg_wheel)
    async with client.get(url, headers={"If-None-Match": etag, "Origin": ALLOWED}) as r:
        assert r.status == 304
        assert r.headers["ETag"] == etag
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert await r.read() == b""
    async with client.get(url, headers={"If-None-Match": '"stale"'}) as r:
        assert r.status == 200
        assert await r.read() == ppg_wheel.read_bytes()


async def test_the_description_names_the_path_version_and_hash(
    client: aiohttp.ClientSession, wheel_gateway: Any, ppg_wheel: Path
) -> None:
    async with client.get(f"{wheel_gateway.url}/v0/wheel", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
        described = await r.json()
    assert described == {
        "filename": ppg_wheel.name,
        "path": f"/v0/wheel/{ppg_wheel.name}",
        "version": ppg_wheel.name.split("-")[1],
        "sha256": hashlib.sha256(ppg_wheel.read_bytes()).hexdigest(),
    }
    async with client.get(wheel_gateway.url + described["path"]) as r:
        assert await r.read() == ppg_wheel.read_bytes()


async def test_another_file_name_is_404_naming_the_served_one(
    client: aiohttp.ClientSession, wheel_gateway: Any, ppg_wheel: Path
) -> None:
    async with client.get(f"{wheel_gateway.url}/v0/wheel/ppg_edge-9.9-py3-none-any.whl") as r:
        assert r.status == 404
        assert f"/v0/wheel/{ppg_wheel.name}" in await r.text()


async def test_without_a_wheel_both_routes_are_404_saying_why(
    client: aiohttp.ClientSession, gateway_factory: Any, ppg_wheel: Path
) -> None:
    bare = gateway_factory(no_wheel=True, allow_origin=[ALLOWED])
    for path in ("/v0/wheel", f"/v0/wheel/{ppg_wheel.name}"):
        async with client.get(bare.url + path, headers={"Origin": ALLOWED}) as r:
            assert r.status == 404
            assert "--wheel PATH" in await r.text()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "no wheel file or folder at"),
        ("not_a_wheel", "is not a pure ppg_edge wheel"),
        ("empty_folder", "expected exactly one ppg_edge-*-py3-none-any.whl"),
    ],
)
def test_a_bad_wheel_flag_stops_the_gateway_at_start_up(
    tmp_path: Path, kind: str, reason: str
) -> None:
    target = {
        "missing": tmp_path / "nothing-here.whl",
        "not_a_wheel": tmp_path / "notes.txt",
        "empty_folder": tmp_path,
    }[kind]
    if kind == "not_a_wheel":
        target.write_text("hello")
    command = [sys.executable, "-m", "ppg_edge_gateway", "--upstream", "postgres://127.0.0.1:1"]
    done = subprocess.run(
        [*command, "--wheel", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        env=gateway_environment(),
        check=False,
    )
    assert done.returncode == 2
    assert "argument --wheel" in done.stderr
    assert reason in done.stderr


def test_without_wheel_flag_no_wheel_is_served(tmp_path: Path) -> None:
    """An installed gateway never guesses a checkout's wheels/ folder: only --wheel names one."""
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "ppg_edge-0.1.0-py3-none-any.whl").write_bytes(b"PK")
    upstream = ["--upstream", "postgres://127.0.0.1:1"]
    assert parse_config(upstream, {}).wheel is None
    given = parse_config([*upstream, "--wheel", str(tmp_path / "wheels")], {})
    assert given.wheel == tmp_path / "wheels" / "ppg_edge-0.1.0-py3-none-any.whl"
