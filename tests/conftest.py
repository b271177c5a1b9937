"""Session fixtures every suite uses: a private PostgreSQL and the real gateway.

The project's own pytest plugin (``ppg_edge_gateway.pytest_plugin``, also an
installed entry point) is loaded here, so its fixtures work from a fresh
checkout too; ``pytester`` is for the plugin's own tests (tests/plugin/).

- ``postgres``: the plugin's ``ppg_postgres`` (one PostgreSQL per session):
  ``.host``, ``.port``, ``.superuser_dsn`` (psycopg conninfo),
  ``.dsn(user, password, dbname)``.
- ``gateway``: a ``python -m ppg_edge_gateway`` subprocess with ``.url``,
  ``.ws_url``, ``.port``, ``.user``, ``.password``, ``.database``,
  ``.connection_string``, ``.direct_dsn`` and ``.log_path``; its role
  (LOGIN CREATEDB) owns its database.
- ``gateway_factory(**cli_options)``: one more gateway on the same PostgreSQL
  and role, e.g. ``gateway_factory(allow_origin=["http://x"], max_sessions=2)``;
  all are stopped at the end of the session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from tests.support.servers import Gateway, Postgres, running_gateway

pytest_plugins = ["ppg_edge_gateway.pytest_plugin", "pytester"]


@pytest.fixture(scope="session")
def postgres(ppg_postgres: Postgres) -> Postgres:
    """A private PostgreSQL for the whole test session, shared with the plugin's fixtures."""
    return ppg_postgres


@pytest.fixture(scope="session")
def gateway(postgres: Postgres) -> Iterator[Gateway]:
    """The gateway under test, in front of ``postgres``, with default options."""
    with running_gateway(postgres) as server:
        yield server


@pytest.fixture(scope="session")
def gateway_factory(postgres: Postgres, gateway: Gateway) -> Iterator[Callable[..., Gateway]]:
    """Start extra gateways with CLI options; same PostgreSQL, role and database."""
    with ExitStack() as stack:

        def start(**cli_options: Any) -> Gateway:
            return stack.enter_context(
                running_gateway(
                    postgres,
                    gateway.user,
                    gateway.password,
                    gateway.database,
                    create_role=False,
                    **cli_options,
                )
            )

        yield start
