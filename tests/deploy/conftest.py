"""Fixtures for running the gateway as deployed: TLS, PgBouncer, a load balancer.

Everything is real and local: certificates made by the ``openssl`` CLI at test
time (never committed), Debian's ``pgbouncer`` and ``haproxy`` as subprocesses
on free 127.0.0.1 ports, gateways as ``python -m ppg_edge_gateway``.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from ppg_edge.runtime.cpython import CPythonRuntime


@dataclass(frozen=True)
class Certificates:
    """A throwaway CA and a server certificate it signed, for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path
    other_key: Path
    """A key that does not match ``cert``."""

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this CA (and nothing else)."""
        return ssl.create_default_context(cafile=str(self.ca))

    def runtime(self) -> CPythonRuntime:
        """The driver's CPython runtime trusting this CA (its documented ``ssl_context``)."""
        return CPythonRuntime(ssl_context=self.client_context(), connect_timeout=10)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _key(path: Path) -> None:
    curve = "ec_paramgen_curve:P-256"
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", curve, "-out", str(path))


def make_certificates(folder: Path) -> Certificates:
    """CA, then a leaf with the extensions strict verifiers want (SAN, AKI, EKU)."""
    ca_key, ca, key, csr = folder / "ca.key", folder / "ca.pem", folder / "key.pem", folder / "csr"
    _key(ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-out", str(ca), "-days", "1",
        "-subj", "/CN=ppg-edge test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    _key(key)
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    extensions = folder / "leaf.ext"
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    cert = folder / "cert.pem"
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "1", "-extfile", str(extensions),
    )  # fmt: skip
    other_key = folder / "other.key"
    _key(other_key)
    return Certificates(ca, cert, key, other_key)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA the tests trust and a gateway certificate it signed."""
    return make_certificates(tmp_path_factory.mktemp("deploy-tls"))
