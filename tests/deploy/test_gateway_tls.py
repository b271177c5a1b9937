"""``--tls-cert``/``--tls-key``: the gateway serves https and wss itself.

The certificate comes from a CA made at test time that only these tests trust:
the driver is given it through ``CPythonRuntime(ssl_context=...)``, the
official client through ``NODE_EXTRA_CA_CERTS``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import ppg_edge
from ppg_edge.runtime.cpython import CPythonRuntime
from tests.deploy.conftest import Certificates
from tests.deploy.proxies import running_haproxy
from tests.support.servers import REPO_ROOT, Gateway, gateway_environment

INTEROP = REPO_ROOT / "tests" / "interop"


@pytest.fixture(scope="module")
def tls_gateway(gateway_factory: Callable[..., Gateway], certificates: Certificates) -> Gateway:
    return gateway_factory(tls_cert=certificates.cert, tls_key=certificates.key)


def https(gateway: Gateway) -> str:
    return f"https://127.0.0.1:{gateway.port}"


async def test_driver_over_https_and_wss(tls_gateway: Gateway, certificates: Certificates) -> None:
    db = ppg_edge.connect(
        tls_gateway.connection_string, endpoint=https(tls_gateway), runtime=certificates.runtime()
    )
    async with db:
        rows = await db.query("SELECT $1::int + 1 AS n, current_user AS who", 41).collect()
        assert rows == [{"n": 42, "who": tls_gateway.user}]
        async with db.transaction() as tx:  # a WebSocket session: wss://
            await tx.exec("CREATE TEMP TABLE t (v int)")
            await tx.exec("INSERT INTO t VALUES (1), (2)")
            assert await tx.query("SELECT sum(v)::int AS s FROM t").collect() == [{"s": 3}]
    session_client = ppg_edge.client(
        tls_gateway.connection_string, endpoint=https(tls_gateway), runtime=certificates.runtime()
    )
    async with session_client:
        session = await session_client.new_session()
        async with session:
            first, second = await asyncio.gather(
                session.query("SELECT 1 AS a"), session.query("SELECT 2 AS a")
            )
            assert [r.values for r in await first.rows.collect()] == [[1]]
            assert [r.values for r in await second.rows.collect()] == [[2]]


async def test_untrusted_certificate_is_a_verification_error(tls_gateway: Gateway) -> None:
    """Without the CA (the system store only), the driver refuses the certificate."""
    db = ppg_edge.connect(
        tls_gateway.connection_string,
        endpoint=https(tls_gateway),
        runtime=CPythonRuntime(connect_timeout=10),
    )
    async with db:
        with pytest.raises(ppg_edge.GenericError, match="certificate verify failed") as caught:
            await db.query("SELECT 1").collect()
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


async def test_wrong_host_name_is_a_verification_error(
    tls_gateway: Gateway, certificates: Certificates
) -> None:
    """The certificate names 127.0.0.1 and localhost; another name for the host fails."""
    context = certificates.client_context()
    with pytest.raises(ssl.SSLCertVerificationError, match=r"[Hh]ostname mismatch"):
        await asyncio.wait_for(
            asyncio.open_connection(
                "127.0.0.1", tls_gateway.port, ssl=context, server_hostname="gateway.invalid"
            ),
            10,
        )


async def test_plain_http_to_the_tls_port_fails_fast(tls_gateway: Gateway) -> None:
    """An http:// client gets its connection closed at once (a failed TLS handshake), no hang."""
    plain = f"http://127.0.0.1:{tls_gateway.port}"
    db = ppg_edge.connect(tls_gateway.connection_string, endpoint=plain)
    async with db:
        # The TLS handshake fails on the first bytes and the gateway drops the connection
        # (asyncio's TLS layer answers below HTTP): a typed error naming the request.
        with pytest.raises(ppg_edge.GenericError, match=f"request to {plain} failed") as caught:
            await asyncio.wait_for(db.query("SELECT 1").collect(), 15)
    assert tls_gateway.password not in str(caught.value)
    with socket.create_connection(("127.0.0.1", tls_gateway.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = sock.recv(1024)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/")


async def test_tls_terminated_at_the_load_balancer(
    two_plain: list[Gateway], certificates: Certificates, tmp_path: Path
) -> None:
    """The other choice: HAProxy speaks https/wss to clients, plain http/ws to gateways."""
    pem = tmp_path / "lb.pem"
    pem.write_text(certificates.cert.read_text() + certificates.key.read_text())
    with running_haproxy([gw.port for gw in two_plain], tls_pem=pem) as balancer:
        gateway = two_plain[0]
        url = f"postgres://{gateway.user}:{gateway.password}@127.0.0.1:{balancer.port}/"
        db = ppg_edge.connect(
            url + gateway.database,
            endpoint=f"https://127.0.0.1:{balancer.port}",
            runtime=certificates.runtime(),
        )
        async with db:
            for i in range(4):
                assert await db.query("SELECT $1::int AS i", i).collect() == [{"i": i}]
            async with db.transaction() as tx:
                assert await tx.query("SELECT 'wss' AS via").collect() == [{"via": "wss"}]


@pytest.fixture(scope="module")
def two_plain(gateway_factory: Callable[..., Gateway]) -> list[Gateway]:
    return [gateway_factory(), gateway_factory()]


def test_certificate_flags_go_together(certificates: Certificates) -> None:
    from ppg_edge_gateway.config import parse_config

    with pytest.raises(SystemExit):
        parse_config(["--upstream", "postgres://x", "--tls-cert", str(certificates.cert)], {})
    with pytest.raises(SystemExit):
        parse_config(["--upstream", "postgres://x", "--tls-key", "no/such/file"], {})
    config = parse_config(
        ["--upstream", "postgres://x", "--tls-cert", str(certificates.cert)],
        {"PPG_EDGE_GATEWAY_TLS_KEY": str(certificates.key)},
    )
    assert (config.tls_cert, config.tls_key, config.scheme) == (
        certificates.cert,
        certificates.key,
        "https",
    )


def test_a_key_that_does_not_match_stops_the_gateway(certificates: Certificates) -> None:
    """A bad pair is refused at startup with the reason, before the gateway listens."""
    pair = ["--tls-cert", str(certificates.cert), "--tls-key", str(certificates.other_key)]
    upstream = ["--upstream", "postgres://127.0.0.1:9", "--listen", "127.0.0.1:0"]
    done = subprocess.run(
        [sys.executable, "-m", "ppg_edge_gateway", *upstream, *pair],
        env=gateway_environment(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "cannot load --tls-cert" in done.stderr
    assert "Traceback" not in done.stderr


async def test_official_client_over_https_and_wss(
    tls_gateway: Gateway, certificates: Certificates
) -> None:
    """@prisma/ppg, unchanged, trusting the CA through Node's NODE_EXTRA_CA_CERTS."""
    node = shutil.which("node")
    assert node is not None, "node is needed (see tests/interop)"
    env = {
        **os.environ,
        "NODE_EXTRA_CA_CERTS": str(certificates.ca),
        "PPG_INTEROP_CONNECTION_STRING": tls_gateway.connection_string,
        "PPG_INTEROP_ENDPOINT": https(tls_gateway),
        "PPG_INTEROP_TIMEOUT_MS": "30000",
    }
    proc = await asyncio.create_subprocess_exec(
        node,
        str(INTEROP / "js" / "run.mjs"),
        "pipelined_session",
        cwd=INTEROP,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(b'{"count": 3, "failAt": -1}'), 45)
    outcome: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    assert outcome["ok"], (outcome, err.decode()[-2000:])
    values = [answer["rows"][0][0] for answer in outcome["result"]["answers"]]
    assert values == [0, 10, 20]
