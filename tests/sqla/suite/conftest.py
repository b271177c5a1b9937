"""SQLAlchemy's pytest plugin for its dialect compliance suite, with our dialect registered.

`make test` does not collect this folder (tests/sqla/conftest.py ignores it); the
runner test starts the gateway and calls pytest on it with `--dburi`.
"""

from sqlalchemy.dialects import registry

registry.register("postgresql.ppg_edge", "ppg_edge.dialect", "PPGEdgeDialect")

# The suite's database set-up for PostgreSQL (temp tables, search_path, ...): SQLAlchemy
# imports it for dialects of its own package only, so name it for ours.
import sqlalchemy.dialects.postgresql.provision  # noqa: E402, F401
from sqlalchemy.testing.plugin.pytestplugin import *  # noqa: E402, F403
