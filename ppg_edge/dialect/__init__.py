"""SQLAlchemy 2 dialect ``postgresql+ppg_edge`` (an optional extra: ``ppg_edge[sqlalchemy]``).

Registered by the entry point ``sqlalchemy.dialects: postgresql.ppg_edge``, so
``create_engine("postgresql+ppg_edge://USER:PASSWORD@HOST/DB")`` finds it. The
driver never imports this package; it imports SQLAlchemy.
"""

from ppg_edge.dialect._dialect import PPGEdgeDialect, dialect

__all__ = ["PPGEdgeDialect", "dialect"]
