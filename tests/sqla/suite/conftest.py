"""SQLAlchemy's pytest plugin for its dialect compliance suite, with our dialect registered.

`make test` does not collect this folder (tests/sqla/conftest.py ignores it); the
runner test starts the gateway and calls pytest on it with `--dburi`.
"""

from sqlalchemy.dialects import registry

registry.register("postgresql.ppg_edge", "ppg_edge.dialect", "PPGEdgeDialect")

from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402, F403
