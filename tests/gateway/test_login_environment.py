"""The gateway's own libpq environment never logs a client in nor shapes its session.

Each gateway here runs with the real password (or another login) available to
libpq through its environment: ``PGPASSWORD``, a password file (``PGPASSFILE``
or ``~/.pgpass``), a service file, ``PGUSER``/``PGDATABASE``, session settings
(``PGOPTIONS``, ``PGTZ``), and a client certificate PostgreSQL accepts in place
of a password. Only what the client sends may count.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
import pytest

from ppg_edge.core.protocol import (
    CLOSE_POLICY_VIOLATION,
    SESSION_PATH,
    STATEMENT_PATH,
    WS_SUBPROTOCOL,
    multipart_content_type,
)
from tests.support.raw import (
    BOUNDARY,
    RawHttp,
    answer_rows,
    basic_auth,
    expect_close,
    multipart_body,
    open_session,
    read_answer,
    send_statement,
    statement_parts,
)
from tests.support.servers import Gateway, Postgres, running_gateway, running_postgres

SETTINGS = (
    "SELECT current_user, current_database(), current_setting('TimeZone'),"
    " current_setting('search_path'), current_setting('application_name')"
)
SERVICE = "ppg_edge_test_service"
CERT_ROLE = "ppg_cert_role"


def _env_pgpassword(gw: Any, home: Path) -> dict[str, str]:
    return {"PGPASSWORD": gw.password}


def _env_passfile(gw: Any, home: Path) -> dict[str, str]:
    passfile = home / "passfile"
    passfile.write_text(f"*:*:*:*:{gw.password}\n")
    passfile.chmod(0o600)
    return {"PGPASSFILE": str(passfile)}


def _env_home_pgpass(gw: Any, home: Path) -> dict[str, str]:
    pgpass = home / ".pgpass"
    pgpass.write_text(f"*:*:*:{gw.user}:{gw.password}\n")
    pgpass.chmod(0o600)
    return {"HOME": str(home)}


def _env_service(gw: Any, home: Path) -> dict[str, str]:
    service_file = home / "pg_service.conf"
    service_file.write_text(
        f"[{SERVICE}]\nuser={gw.user}\npassword={gw.password}\ndbname=postgres\n"
        "options=-c search_path=from_service\n"
    )
    return {"PGSERVICEFILE": str(service_file), "PGSERVICE": SERVICE}


def _env_user_and_settings(gw: Any, home: Path) -> dict[str, str]:
    return {
        "PGUSER": gw.user,
        "PGDATABASE": "postgres",
        "PGOPTIONS": "-c search_path=from_env",
        "PGTZ": "America/New_York",
        "PGAPPNAME": "from_env",
    }


ENVIRONMENTS = {
    "PGPASSWORD": _env_pgpassword,
    "PGPASSFILE": _env_passfile,
    "HOME/.pgpass": _env_home_pgpass,
    "PGSERVICE": _env_service,
    "PGUSER+settings": _env_user_and_settings,
}


@pytest.fixture(scope="module", params=list(ENVIRONMENTS))
def env_gateway(
    request: pytest.FixtureRequest,
    postgres: Postgres,
    gateway: Gateway,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Gateway]:
    """A gateway on the shared role whose environment would hand libpq that role's login."""
    env = ENVIRONMENTS[request.param](gateway, tmp_path_factory.mktemp("home"))
    with running_gateway(
        postgres, gateway.user, gateway.password, gateway.database, create_role=False, env=env
    ) as gw:
        yield gw


async def _post_without_db(client: aiohttp.ClientSession, gw: Gateway, auth: str) -> Any:
    body = multipart_body(statement_parts("query", SETTINGS))
    headers = {"Content-Type": multipart_content_type(BOUNDARY), "Authorization": auth}
    async with client.post(gw.url + STATEMENT_PATH, data=body, headers=headers) as answer:
        return answer.status, await answer.text()


async def _ws_close(client: aiohttp.ClientSession, gw: Gateway, user: str, password: str) -> Any:
    ws = await open_session(client, gw, auth=False)
    await ws.send_str(json.dumps({"username": user, "password": password}))
    return await expect_close(ws)


async def test_environment_never_fills_in_a_login(
    client: aiohttp.ClientSession, env_gateway: Gateway
) -> None:
    gw, http = env_gateway, RawHttp(client, env_gateway)
    for password in ("", "WRONG"):
        answer = await http.query("SELECT 1", auth=basic_auth(gw.user, password))
        assert answer.status == 401, (password, answer.text)
        code, reason = await _ws_close(client, gw, gw.user, password)
        assert code == CLOSE_POLICY_VIOLATION and "authentication failed" in reason
    # A NUL would have cut the password (and everything after it) from libpq's conninfo.
    answer = await http.query("SELECT 1", auth=basic_auth(gw.user + "\x00", "WRONG"))
    assert answer.status == 400, answer.text
    code, reason = await _ws_close(client, gw, gw.user + "\x00", "WRONG")
    assert code == CLOSE_POLICY_VIOLATION and "NUL" in reason
    # An empty user name would be PGUSER's (or the gateway's OS account).
    code, reason = await _ws_close(client, gw, "", gw.password)
    assert code == CLOSE_POLICY_VIOLATION and "empty user name" in reason


async def test_environment_never_shapes_the_session(
    client: aiohttp.ClientSession, env_gateway: Gateway
) -> None:
    """No db asked for: the user's own database (not PGDATABASE's); the gateway's settings."""
    gw = env_gateway
    expected = [[gw.user, gw.user, "UTC", '"$user", public', "ppg_edge gateway"]]
    status, text = await _post_without_db(client, gw, basic_auth(gw.user, gw.password))
    assert status == 200, text
    assert [json.loads(line)["values"] for line in text.splitlines() if "values" in line] == (
        expected
    )
    ws = await client.ws_connect(gw.ws_url + SESSION_PATH, protocols=(WS_SUBPROTOCOL,))
    await ws.send_str(json.dumps({"username": gw.user, "password": gw.password}))
    await send_statement(ws, "query", SETTINGS)
    assert answer_rows(await read_answer(ws)) == expected
    await ws.close()


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certificate(folder: Path, name: str, common_name: str) -> None:
    """``name.crt`` and ``name.key`` signed by the test CA in ``folder`` (ca.crt, ca.key)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", *ec, "-subj", f"/CN={common_name}", "-keyout", f"{name}.key",
             "-out", f"{name}.csr", cwd=folder)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", f"{name}.crt", cwd=folder)  # fmt: skip
    (folder / f"{name}.key").chmod(0o600)


def _certificates(folder: Path) -> None:
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=ppg-edge-test-ca",
             "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)  # fmt: skip
    _certificate(folder, "server", "127.0.0.1")
    _certificate(folder, "client", CERT_ROLE)


def _enable_certificate_logins(pg: Postgres, certs: Path, password: str) -> None:
    """TLS on, and ``CERT_ROLE`` logs in with its certificate alone (hba ``cert``)."""
    server = pg.server
    assert server.directory is not None
    data = server.directory / "data"
    for name in ("server.crt", "server.key", "ca.crt"):
        shutil.copy(certs / name, data / name)
        if server.account is not None:
            os.chown(data / name, server.account.pw_uid, server.account.pw_gid)
    (data / "server.key").chmod(0o600)
    hba = data / "pg_hba.conf"
    hba.write_text(f"hostssl all {CERT_ROLE} 127.0.0.1/32 cert\n" + hba.read_text())
    with psycopg.connect(pg.superuser_dsn, autocommit=True) as su:
        su.execute("ALTER SYSTEM SET ssl = on")
        su.execute("ALTER SYSTEM SET ssl_ca_file = 'ca.crt'")
        su.execute(f"CREATE ROLE {CERT_ROLE} LOGIN PASSWORD '{password}'")
        su.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="module")
def cert_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Postgres, Path]]:
    """A private PostgreSQL where a client certificate is a login, and that certificate."""
    certs = tmp_path_factory.mktemp("certs")
    _certificates(certs)
    with running_postgres() as pg:
        _enable_certificate_logins(pg, certs, "the-real-password")
        yield pg, certs


def test_the_client_certificate_alone_is_a_login(cert_postgres: tuple[Postgres, Path]) -> None:
    """The premise of the next test: with this certificate any password logs in."""
    pg, certs = cert_postgres
    with psycopg.connect(
        host=pg.host, port=pg.port, user=CERT_ROLE, password="WRONG", dbname="postgres",
        sslmode="require", sslcert=str(certs / "client.crt"), sslkey=str(certs / "client.key"),
    ) as conn:  # fmt: skip
        assert conn.execute("SELECT current_user").fetchone() == (CERT_ROLE,)


@pytest.mark.parametrize("where", ["HOME/.postgresql", "PGSSLCERT"])
async def test_gateway_never_sends_its_client_certificate(
    client: aiohttp.ClientSession, cert_postgres: tuple[Postgres, Path], tmp_path: Path, where: str
) -> None:
    pg, certs = cert_postgres
    env = {"PGSSLCERT": str(certs / "client.crt"), "PGSSLKEY": str(certs / "client.key")}
    if where == "HOME/.postgresql":
        (tmp_path / ".postgresql").mkdir()
        for source, target in (("client.crt", "postgresql.crt"), ("client.key", "postgresql.key")):
            shutil.copy(certs / source, tmp_path / ".postgresql" / target)
        env = {"HOME": str(tmp_path)}
    # sslmode=require: with prefer, libpq would retry without TLS after the refusal.
    upstream = f"postgres://{pg.host}:{pg.port}?sslmode=require"
    with running_gateway(
        pg, CERT_ROLE, "WRONG", "postgres", create_role=False, env=env, upstream=upstream
    ) as gw:
        answer = await RawHttp(client, gw).query("SELECT current_user")
        assert answer.status == 401, answer.text
        assert "connection requires a valid client certificate" in answer.text
        code, reason = await _ws_close(client, gw, CERT_ROLE, "WRONG")
        assert code == CLOSE_POLICY_VIOLATION and "authentication failed" in reason
