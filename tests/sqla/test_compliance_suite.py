"""SQLAlchemy's dialect compliance suite (``sqlalchemy.testing.suite``) against the gateway.

The suite needs SQLAlchemy's own pytest plugin and its database URL when pytest
starts, so it runs as a pytest of its own (``suite/``, configured by
``suite/setup.cfg``) in a fresh database of the gateway's role. What it may test is
what ``suite/requirements.py`` claims; nothing it claims may fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

ROOT = Path(__file__).resolve().parents[2]
SUITE = Path(__file__).with_name("suite")
DATABASE = "ppg_sqla_suite"
SCHEMAS = ("test_schema", "test_schema_2")
"""The extra schemas the suite's cross-schema tests expect to exist."""

SUITE_TIMEOUT = 540
MIN_PASSED = 1000
"""The suite has ~1,650 tests for PostgreSQL; far fewer passing means it did not really run."""

_SUMMARY = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def _drop_database(gateway: Any) -> None:
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def _fresh_database(gateway: Any) -> None:
    _drop_database(gateway)
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    dsn = psycopg.conninfo.make_conninfo(gateway.direct_dsn, dbname=DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"CREATE SCHEMA {schema}")


def counts(output: str) -> dict[str, int]:
    """pytest's closing line -> {"passed": N, "failed": N, ...}."""
    lines = [line for line in output.splitlines() if " in " in line and _SUMMARY.search(line)]
    found = (
        {
            kind.rstrip("s") if kind.startswith("error") else kind: int(n)
            for n, kind in _SUMMARY.findall(lines[-1])
        }
        if lines
        else {}
    )
    return found


@pytest.mark.timeout(SUITE_TIMEOUT + 60)
def test_sqlalchemy_compliance_suite(gateway: Any) -> None:
    _fresh_database(gateway)
    url = URL.create(
        "postgresql+ppg_edge",
        username=gateway.user,
        password=gateway.password,
        host="127.0.0.1",
        database=DATABASE,
        query={"endpoint": gateway.url},
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(SUITE / "setup.cfg"),
        str(SUITE),
        "--dburi",
        url.render_as_string(hide_password=False),
        "-q",
        "-rfE",
        "--no-header",
    ]
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        _drop_database(gateway)
    output = done.stdout + done.stderr
    found = counts(output)
    print(f"SQLAlchemy compliance suite: {found}")
    failures = "\n".join(
        line for line in output.splitlines() if line.startswith(("FAILED", "ERROR"))
    )
    assert found.get("failed", 0) == 0 and found.get("error", 0) == 0, failures or output[-5000:]
    assert done.returncode == 0, output[-5000:]
    assert found.get("passed", 0) >= MIN_PASSED, output[-5000:]
