"""The deployment examples (examples/deploy/) are what the tests run, not prose.

- gateway.env is a valid configuration for the gateway's parser;
- the systemd unit starts the gateway with no flags, configured by that file;
- haproxy.cfg passes ``haproxy -c`` (with a test certificate in place);
- pgbouncer.ini, pointed at the test PostgreSQL, serves HTTP statements on its
  transaction pool and sessions on its session pool, through a gateway.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import ppg_edge
from ppg_edge_gateway.config import parse_config
from tests.deploy.conftest import Certificates
from tests.deploy.proxies import Pool, running_pgbouncer
from tests.support.servers import REPO_ROOT, Gateway, Postgres

EXAMPLES = REPO_ROOT / "examples" / "deploy"


def environment_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile reads them (no quotes used here)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            pairs[name.strip()] = value.strip()
    return pairs


def test_the_environment_file_configures_the_gateway() -> None:
    config = parse_config([], environment_file(EXAMPLES / "gateway.env"))
    assert (config.upstream_host, config.upstream_port, config.upstream_sslmode) == (
        "127.0.0.1",
        6432,
        "disable",
    )
    assert (config.listen_host, config.listen_port) == ("10.0.0.11", 8787)
    assert config.allow_origins == ["https://app.example.com", "https://admin.example.com"]


def test_the_systemd_unit_runs_the_gateway_from_its_environment_file() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(EXAMPLES / "ppg-edge-gateway.service")
    service = unit["Service"]
    assert service["ExecStart"].endswith("/bin/ppg-edge-gateway")  # the console script
    assert service["EnvironmentFile"].endswith("/gateway.env")
    assert service["KillSignal"] == "SIGTERM"
    assert service["User"] != "root"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_the_haproxy_example_is_valid(certificates: Certificates, tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    assert haproxy is not None, "apt-get install haproxy (make setup does)"
    pem = tmp_path / "gateway.pem"
    pem.write_text(certificates.cert.read_text() + certificates.key.read_text())
    text = (EXAMPLES / "haproxy.cfg").read_text()
    assert "/etc/haproxy/certs/gateway.pem" in text and "option httpchk GET /ready" in text
    config = tmp_path / "haproxy.cfg"
    config.write_text(text.replace("/etc/haproxy/certs/gateway.pem", str(pem)))
    done = subprocess.run(
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stdout + done.stderr


def example_pgbouncer(postgres: Postgres, database: str) -> Callable[[int], str]:
    text = (EXAMPLES / "pgbouncer.ini").read_text()
    text = text.replace(
        "host=10.0.0.5 port=5432 dbname=app",
        f"host={postgres.host} port={postgres.port} dbname={database}",
    )
    text = text.replace("auth_file = /etc/pgbouncer/userlist.txt", "auth_file = userlist.txt")
    text = text.replace("[pgbouncer]", "[pgbouncer]\nunix_socket_dir =")

    def configuration(port: int) -> str:
        return re.sub(r"(?m)^listen_port = \d+$", f"listen_port = {port}", text)

    return configuration


async def test_the_pgbouncer_example_serves_both_transports(
    postgres: Postgres, gateway: Gateway, gateway_factory: Callable[..., Gateway]
) -> None:
    pools = {"app": Pool("transaction", 20), "app_session": Pool("session", 50)}
    configuration = example_pgbouncer(postgres, gateway.database)
    with running_pgbouncer(postgres, gateway.user, gateway.database, pools, configuration) as pgb:
        pooled = gateway_factory(upstream=pgb.upstream)
        base = f"postgres://{pooled.user}:{pooled.password}@127.0.0.1:{pooled.port}"
        async with ppg_edge.connect(f"{base}/app", endpoint=pooled.url) as db:
            rows = await db.query("SELECT current_setting('TimeZone') AS tz").collect()
            assert rows == [{"tz": "UTC"}]
        session_db = ppg_edge.connect(f"{base}/app_session", endpoint=pooled.url)
        async with session_db, session_db.transaction() as tx:
            await tx.exec("CREATE TEMP TABLE t AS SELECT 3 AS v")
            assert await tx.query("SELECT v FROM t").collect() == [{"v": 3}]
