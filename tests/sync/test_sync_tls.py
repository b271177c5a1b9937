"""TLS on the synchronous face: the gateway serves https/wss with a certificate from a CA
made at test time. Verification is on by default; `ssl_context=` trusts the CA."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import pytest

import ppg_edge
from ppg_edge._sync.cpython_http import SyncCPythonRuntime
from tests.deploy.conftest import Certificates, make_certificates
from tests.support.servers import Gateway


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(Path(tmp_path_factory.mktemp("sync-tls")))


@pytest.fixture(scope="module")
def tls_gateway(gateway_factory: Callable[..., Gateway], certificates: Certificates) -> Gateway:
    return gateway_factory(tls_cert=certificates.cert, tls_key=certificates.key)


def _https(gateway: Gateway) -> str:
    return f"https://127.0.0.1:{gateway.port}"


def test_https_and_wss_with_a_trusted_ca(tls_gateway: Gateway, certificates: Certificates) -> None:
    runtime = SyncCPythonRuntime(ssl_context=certificates.client_context(), connect_timeout=10)
    url = tls_gateway.connection_string
    with ppg_edge.connect_sync(url, endpoint=_https(tls_gateway), runtime=runtime) as db:
        rows = db.query("SELECT $1::int + 1 AS n, current_user AS who", 41).collect()
        assert rows == [{"n": 42, "who": tls_gateway.user}]
        with db.transaction() as tx:  # a WebSocket session: wss://
            tx.exec("CREATE TEMP TABLE t (v int)")
            tx.exec("INSERT INTO t VALUES (1), (2)")
            assert tx.query("SELECT sum(v)::int AS s FROM t").collect() == [{"s": 3}]
        assert db.batch(ppg_edge.Query("SELECT 5 AS five")) == [[{"five": 5}]]
    runtime.close()


def test_an_untrusted_certificate_is_refused(tls_gateway: Gateway) -> None:
    url = tls_gateway.connection_string
    with ppg_edge.connect_sync(url, endpoint=_https(tls_gateway)) as db:
        with pytest.raises(ppg_edge.GenericError) as caught:
            db.query("SELECT 1").collect()
        assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
        with pytest.raises(ppg_edge.WebSocketError) as refused:
            db.batch(ppg_edge.Query("SELECT 1"))
        assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
