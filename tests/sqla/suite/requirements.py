"""What the ppg_edge dialect supports, for SQLAlchemy's compliance suite.

`SuiteRequirements` closes everything a minimal backend might lack; PostgreSQL has
most of it, so those are opened here, and each one still closed says why. A claim
here is a promise: the suite must pass everything it opens.
"""

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements

_POSTGRESQL_FEATURES = [
    "array_type",
    "boolean_col_expressions",
    "check_constraint_reflection",
    "column_collation_reflection",
    "comment_reflection",
    "comment_reflection_full_unicode",
    "computed_columns",
    "computed_columns_default_persisted",
    "computed_columns_stored",
    "computed_columns_reflect_persisted",
    "constraint_comment_reflection",
    "cross_schema_fk_reflection",
    "ctes",
    "ctes_on_dml",
    "ctes_with_update_delete",
    "ctes_with_values",
    "date_historic",
    "datetime_historic",
    "datetime_interval",
    "datetime_literals",
    "datetime_timezone",
    "datetime_timezone_historic",
    "deferrable_fks",
    "delete_from",
    "except_",
    "expression_server_defaults",
    "fetch_expression",
    "fetch_first",
    "fetch_no_order_by",
    "fetch_offset_with_options",
    "fetch_ties",
    "fk_constraint_option_reflection_ondelete_noaction",
    "fk_constraint_option_reflection_ondelete_restrict",
    "fk_constraint_option_reflection_onupdate_restrict",
    "float_or_double_precision_behaves_generically",
    "foreign_key_constraint_name_reflection",
    "foreign_key_constraint_option_reflection_ondelete",
    "foreign_key_constraint_option_reflection_onupdate",
    "has_temp_table",
    "identity_columns",
    "identity_columns_standard",
    "implicit_default_schema",
    "index_ddl_if_exists",
    "index_reflects_included_columns",
    "indexes_check_column_order",
    "indexes_with_expressions",
    "infinity_floats",
    "inline_check_constraint_reflection",
    "intersect",
    "json_type",
    "materialized_views",
    "mod_operator_as_percent_sign",
    "nullsordering",
    "order_by_label_with_expression",
    "percent_schema_names",
    "precision_numerics_enotation_small",
    "precision_numerics_many_significant_digits",
    "precision_numerics_retains_significant_digits",
    "reflect_indexes_with_expressions",
    "reflect_tables_no_columns",
    "reflects_pk_names",
    "regexp_match",
    "repeated_column_foreign_keys",
    "regexp_replace",
    "schema_create_delete",
    "server_defaults",
    "supports_bitwise_and",
    "supports_bitwise_not",
    "supports_bitwise_or",
    "supports_bitwise_shift",
    "supports_bitwise_xor",
    "supports_distinct_on",
    "table_ddl_if_exists",
    "table_value_constructor",
    "temp_table_comment_reflection",
    "temp_table_names",
    "temporary_views",
    "time_timezone",
    "timestamp_microseconds",
    "tuple_in",
    "unicode_ddl",
    "unique_constraints_reflect_as_index",
    "update_from",
    "uuid_data_type",
    "views",
    "window_functions",
]
"""Closed by default in `SuiteRequirements`, all there in PostgreSQL (and through the gateway)."""

_DRIVER_FEATURES = ["autocommit", "isolation_level", "savepoints", "skip_autocommit_rollback"]
"""Closed by default, supported by the dialect and ppg_edge.dbapi: the autocommit attribute
(read back by `detect_autocommit_setting`, so `skip_autocommit_rollback` works), isolation
levels, SAVEPOINT in a session's transaction."""


def _opened(name: str) -> property:
    return property(lambda self: exclusions.open(), doc=f"{name}: supported")


class Requirements(SuiteRequirements):
    """SuiteRequirements with PostgreSQL's and ppg_edge's features opened."""

    @property
    def computed_columns_virtual(self):  # type: ignore[no-untyped-def]
        """SQLAlchemy 2.0's PostgreSQL compiler refuses VIRTUAL generated columns."""
        return exclusions.closed()

    @property
    def default_schema_name_switch(self):  # type: ignore[no-untyped-def]
        """SQLAlchemy's recipe sets search_path on connect in autocommit mode, where every
        statement is an HTTP request of its own: the setting does not carry over."""
        return exclusions.closed()

    @property
    def materialized_views_reflect_pk(self):  # type: ignore[no-untyped-def]
        """PostgreSQL materialized views have no primary key to reflect."""
        return exclusions.closed()

    def get_isolation_levels(self, config):  # type: ignore[no-untyped-def]
        return {
            "default": "READ COMMITTED",
            "supported": [
                "AUTOCOMMIT",
                "READ COMMITTED",
                "READ UNCOMMITTED",
                "REPEATABLE READ",
                "SERIALIZABLE",
            ],
        }


for _name in _POSTGRESQL_FEATURES + _DRIVER_FEATURES:
    setattr(Requirements, _name, _opened(_name))
