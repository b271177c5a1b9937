"""Configuration by environment: every flag ``--foo-bar`` from ``PPG_EDGE_GATEWAY_FOO_BAR``.

One mechanism in the parser (``config.environment_arguments``); a flag on the
command line wins over its variable.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import ppg_edge
from ppg_edge_gateway.config import (
    ENV_PREFIX,
    build_parser,
    environment_arguments,
    parse_config,
)
from ppg_edge_gateway.embedded import free_port, stop_process
from tests.support.servers import Gateway, Postgres, gateway_environment, port_open

UPSTREAM = ["--upstream", "postgres://db.example:5433"]


def test_a_variable_sets_a_flag_and_the_flag_wins() -> None:
    env = {"PPG_EDGE_GATEWAY_MAX_SESSIONS": "7", "PPG_EDGE_GATEWAY_IDLE_TIMEOUT": "12.5"}
    config = parse_config(UPSTREAM, env)
    assert (config.max_sessions, config.idle_timeout) == (7, 12.5)
    config = parse_config([*UPSTREAM, "--max-sessions", "3"], env)
    assert (config.max_sessions, config.idle_timeout) == (3, 12.5)
    assert parse_config([*UPSTREAM, "--max-sessions=4"], env).max_sessions == 4


def test_the_upstream_and_listen_address_from_the_environment() -> None:
    env = {
        "PPG_EDGE_GATEWAY_UPSTREAM": "postgres://pg.internal:6432?sslmode=require",
        "PPG_EDGE_GATEWAY_LISTEN": "0.0.0.0:9000",
    }
    config = parse_config([], env)
    assert (config.upstream_host, config.upstream_port, config.upstream_sslmode) == (
        "pg.internal",
        6432,
        "require",
    )
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 9000)
    # --embedded on the command line excludes --upstream: the variable then stays out.
    assert parse_config(["--embedded"], env).embedded


def test_bare_and_repeatable_flags() -> None:
    assert parse_config([], {"PPG_EDGE_GATEWAY_EMBEDDED": "yes"}).embedded
    with pytest.raises(SystemExit):  # "0" leaves --embedded out, and nothing else names a source
        parse_config([], {"PPG_EDGE_GATEWAY_EMBEDDED": "0"})
    origins = {"PPG_EDGE_GATEWAY_ALLOW_ORIGIN": "https://a.example, https://b.example"}
    assert parse_config(UPSTREAM, origins).allow_origins == [
        "https://a.example",
        "https://b.example",
    ]
    given = parse_config([*UPSTREAM, "--allow-origin", "https://c.example"], origins)
    assert given.allow_origins == ["https://c.example"]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PPG_EDGE_GATEWAY_MAX_SESSIONS", "0"),
        ("PPG_EDGE_GATEWAY_MAX_BODY_SIZE", "lots"),
        ("PPG_EDGE_GATEWAY_EMBEDDED", "maybe"),
        ("PPG_EDGE_GATEWAY_UPSTREAM", "mysql://x"),
    ],
)
def test_a_bad_value_names_its_variable(
    variable: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        source_given = variable.endswith(("_UPSTREAM", "_EMBEDDED"))
        parse_config([] if source_given else UPSTREAM, {variable: value})
    assert exited.value.code == 2
    assert f"{variable}={value!r}" in capsys.readouterr().err


def test_an_unknown_variable_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    """A misspelt variable would otherwise be silently without effect."""
    with pytest.raises(SystemExit):
        parse_config(UPSTREAM, {"PPG_EDGE_GATEWAY_MAX_SESION": "3", "OTHER_THING": "x"})
    assert "unknown variable PPG_EDGE_GATEWAY_MAX_SESION" in capsys.readouterr().err


def test_every_flag_has_its_variable(tmp_path: Path) -> None:
    """The mapping is mechanical: the long flag, upper-cased, dashes as underscores."""
    wheel = tmp_path / "ppg_edge-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")  # --wheel checks the name at parse time, the bytes at start-up
    parser = build_parser()
    actions = [a for a in parser._actions if a.dest != "help"]
    assert {"--tls-cert", "--max-clients", "--upstream"} <= {a.option_strings[-1] for a in actions}
    for action in actions:
        flag = action.option_strings[-1]
        variable = ENV_PREFIX + flag[2:].upper().replace("-", "_")
        bare = action.nargs == 0
        with_type: Any = action.type
        value = "1" if bare else "x"
        if with_type is not None:  # a value its own type accepts
            addresses = {"--listen": "h:1", "--admin-listen": "h:2"}
            value = {"--upstream": "postgres://h", **addresses}.get(flag, "1")
            if flag.startswith("--tls-") or flag == "--wheel":
                value = __file__ if flag != "--wheel" else str(wheel)
        expected = [flag] if bare else [f"{flag}={value}"]
        assert environment_arguments(parser, [], {variable: value}) == expected, flag
    assert "PPG_EDGE_GATEWAY_FOO_BAR" in (parser.epilog or "")


async def test_a_gateway_configured_by_environment_only(
    postgres: Postgres, gateway: Gateway
) -> None:
    """What the systemd unit does: no flags at all, the address and upstream in variables."""
    port = free_port()
    env = gateway_environment(
        {
            "PPG_EDGE_GATEWAY_UPSTREAM": f"postgres://{postgres.host}:{postgres.port}",
            "PPG_EDGE_GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "PPG_EDGE_GATEWAY_MAX_SESSIONS": "5",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ppg_edge_gateway"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_open(port) and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert port_open(port), "the gateway configured by environment did not listen"
        url = f"postgres://{gateway.user}:{gateway.password}@127.0.0.1:{port}/{gateway.database}"
        db: Any = ppg_edge.connect(url, endpoint=f"http://127.0.0.1:{port}")
        async with db:
            assert await db.query("SELECT 5 AS n").collect() == [{"n": 5}]
    finally:
        stop_process(process, signal.SIGTERM, 10)
