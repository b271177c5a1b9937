"""CORS for browsers, static files, and the command line (issue points 7 and 9)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import psycopg
import pytest

from ppg_edge_gateway.__main__ import web_demo_line
from ppg_edge_gateway.config import GatewayConfig
from ppg_edge_gateway.embedded import free_port, stop_process
from tests.support.raw import RawHttp
from tests.support.servers import REPO_ROOT, Gateway, gateway_environment, port_open

ORIGIN = "http://app.example"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text("<h1>demo</h1>")
    (root / "pkg").mkdir()
    for name, data in {
        "mod.wasm": b"\x00asm\x01",
        "app.mjs": b"export {}",
        "a.js": b"1",
        "x.whl": b"PK",
        "m.json": b"{}",
    }.items():
        (root / "pkg" / name).write_bytes(data)
    return root


@pytest.fixture(scope="module")
def cors_gateway(gateway_factory: Callable[..., Any], site: Path) -> Any:
    return gateway_factory(allow_origin=[ORIGIN, "http://other.example"], static=site)


@pytest.fixture(scope="module")
def star_gateway(gateway_factory: Callable[..., Any]) -> Any:
    return gateway_factory(allow_origin=["*"])


async def test_preflight_allows_authorization_and_content_type(
    client: aiohttp.ClientSession, cors_gateway: Any
) -> None:
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with client.options(cors_gateway.url + "/v0/statement", headers=headers) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
        allowed = {
            h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
        }
        assert {"authorization", "content-type"} <= allowed
        assert "POST" in response.headers["Access-Control-Allow-Methods"]


async def test_preflight_from_unknown_origin_is_refused(
    client: aiohttp.ClientSession, cors_gateway: Any
) -> None:
    headers = {"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}
    async with client.options(cors_gateway.url + "/v0/statement", headers=headers) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_streamed_and_error_answers_carry_cors_headers(
    client: aiohttp.ClientSession, cors_gateway: Any
) -> None:
    http = RawHttp(client, cors_gateway)
    ok = await http.query("SELECT generate_series(1, 1000)", headers={"Origin": ORIGIN})
    assert ok.status == 200 and len(ok.rows) == 1000
    assert ok.headers["Access-Control-Allow-Origin"] == ORIGIN
    denied = await http.query("SELECT 1", headers={"Origin": ORIGIN}, auth=http.auth(password="x"))
    assert denied.status == 401 and denied.headers["Access-Control-Allow-Origin"] == ORIGIN
    foreign = await http.query("SELECT 1", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign.headers


async def test_wildcard_origin(client: aiohttp.ClientSession, star_gateway: Any) -> None:
    answer = await RawHttp(client, star_gateway).query("SELECT 1", headers={"Origin": "http://any"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    async with client.options(
        star_gateway.url + "/v0/statement", headers={"Origin": "http://any"}
    ) as response:
        assert response.status == 204
        assert "Authorization" in response.headers["Access-Control-Allow-Headers"]


async def test_no_cors_headers_without_allow_list(http: RawHttp) -> None:
    answer = await http.query("SELECT 1", headers={"Origin": ORIGIN})
    assert answer.status == 200 and "Access-Control-Allow-Origin" not in answer.headers


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html"),
        ("/pkg/mod.wasm", "application/wasm"),
        ("/pkg/app.mjs", "text/javascript"),
        ("/pkg/a.js", "text/javascript"),
        ("/pkg/x.whl", "application/zip"),
        ("/pkg/m.json", "application/json"),
    ],
)
async def test_static_files_with_mime_types(
    client: aiohttp.ClientSession, cors_gateway: Any, site: Path, path: str, content_type: str
) -> None:
    async with client.get(cors_gateway.url + path) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith(content_type)
        target = site / (path.lstrip("/") or "index.html")
        assert await response.read() == target.read_bytes()


@pytest.mark.parametrize("path", ["/missing.js", "/../../etc/passwd", "/pkg/%2e%2e/%2e%2e/x"])
async def test_static_unknown_or_escaping_paths_are_404(
    client: aiohttp.ClientSession, cors_gateway: Any, path: str
) -> None:
    async with client.get(cors_gateway.url + path) as response:
        assert response.status == 404


async def test_static_site_does_not_shadow_the_protocol(
    client: aiohttp.ClientSession, cors_gateway: Any
) -> None:
    answer = await RawHttp(client, cors_gateway).query("SELECT 'api'")
    assert answer.rows == [["api"]]


def test_cli_requires_an_upstream() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ppg_edge_gateway"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
    )
    assert done.returncode == 2 and "--upstream" in done.stderr


def test_cli_rejects_a_bad_upstream() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ppg_edge_gateway", "--upstream", "http://x:1"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
    )
    assert done.returncode == 2 and "postgres://HOST:PORT" in done.stderr


@contextmanager
def _embedded(cwd: Path, port: int, *options: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m ppg_edge_gateway --embedded`` run in ``cwd``; stopped on exit."""
    command = [sys.executable, "-m", "ppg_edge_gateway", "--embedded"]
    process = subprocess.Popen(
        [*command, "--listen", f"127.0.0.1:{port}", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=gateway_environment(),
    )
    try:
        yield process
    finally:
        stop_process(process, signal.SIGINT, 20)


def _wait_listening(port: int) -> None:
    """Wait until the gateway accepts connections (it prints its banner just before)."""
    deadline = time.monotonic() + 10
    while not port_open(port):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing listens on port {port}")
        time.sleep(0.05)


def test_embedded_prints_a_ready_connection_string_and_stops_cleanly() -> None:
    port = free_port()
    with _embedded(REPO_ROOT, port) as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        banner = "".join(lines)
        match = re.search(
            r"Connection string: (postgres://(\w+):(\S+)@127\.0\.0\.1:(\d+)/(\w+))", banner
        )
        assert match, banner
        assert int(match.group(4)) == port and f"http://127.0.0.1:{port}" in banner
        pg = re.search(r"Embedded PostgreSQL on 127\.0\.0\.1:(\d+)", banner)
        assert pg, banner
        dsn = psycopg.conninfo.make_conninfo(
            host="127.0.0.1",
            port=pg.group(1),
            user=match.group(2),
            password=match.group(3),
            dbname=match.group(5),
        )
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (match.group(2),)
        _wait_listening(port)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(dsn, connect_timeout=2)
        assert process.stderr is not None
        assert match.group(3) not in process.stderr.read()


def test_web_demo_line_depends_on_the_built_vendor_folder(tmp_path: Path) -> None:
    config = GatewayConfig(listen_host="127.0.0.1", listen_port=9999)
    assert web_demo_line(tmp_path / "web-demo", config, "pw") is None
    (tmp_path / "web-demo").mkdir()
    hint = web_demo_line(tmp_path / "web-demo", config, "pw")
    assert hint == 'Web demo: run "python scripts/build_web_demo.py" first'
    (tmp_path / "web-demo" / "vendor").mkdir()
    (tmp_path / "web-demo" / "vendor" / "manifest.json").write_text("{}")
    line = web_demo_line(tmp_path / "web-demo", config, "a b&c")
    assert line == "Web demo: http://127.0.0.1:9999/#user=ppg&password=a+b%26c&database=ppg"


def _demo_layout(root: Path) -> bytes:
    """A built-looking web-demo/ in ``root``; returns its index.html."""
    page = b"<!doctype html><title>ppg_edge web demo</title>"
    (root / "web-demo" / "vendor").mkdir(parents=True)
    (root / "web-demo" / "index.html").write_bytes(page)
    (root / "web-demo" / "vendor" / "manifest.json").write_text('{"wheel": "x.whl"}')
    return page


async def test_embedded_serves_the_built_web_demo(
    client: aiohttp.ClientSession, tmp_path: Path
) -> None:
    page = _demo_layout(tmp_path)
    port = free_port()
    with _embedded(tmp_path, port, "--static", "web-demo") as process:
        assert process.stdout is not None
        banner = "".join(process.stdout.readline() for _ in range(5))
        login = re.search(r"Connection string: postgres://(\w+):(\S+)@", banner)
        assert login, banner
        fragment = urlencode({"user": login[1], "password": login[2], "database": "ppg"})
        assert f"Web demo: http://127.0.0.1:{port}/#{fragment}\n" in banner
        _wait_listening(port)
        async with client.get(f"http://127.0.0.1:{port}/") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
            assert await response.read() == page
        async with client.get(f"http://127.0.0.1:{port}/vendor/manifest.json") as response:
            assert await response.json() == {"wheel": "x.whl"}
        served = Gateway(f"http://127.0.0.1:{port}", "", port, login[1], login[2], "ppg")
        answer = await RawHttp(client, served).query("SELECT 'still the protocol'")
        assert answer.rows == [["still the protocol"]]
