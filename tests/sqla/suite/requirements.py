"""What the ppg_edge dialect supports, for SQLAlchemy's compliance suite."""

from sqlalchemy.testing import exclusions
from sqlalchemy.testing.requirements import SuiteRequirements


class Requirements(SuiteRequirements):
    @property
    def table_ddl_if_exists(self):
        return exclusions.open()

    @property
    def index_ddl_if_exists(self):
        return exclusions.open()

    @property
    def uuid_data_type(self):
        return exclusions.open()

    @property
    def unique_constraints_reflect_as_index(self):
        return exclusions.open()

    @property
    def table_value_constructor(self):
        return exclusions.open()

    @property
    def boolean_col_expressions(self):
        return exclusions.open()

    @property
    def nullsordering(self):
        return exclusions.open()

    @property
    def intersect(self):
        return exclusions.open()

    @property
    def except_(self):
        return exclusions.open()

    @property
    def window_functions(self):
        return exclusions.open()

    @property
    def ctes(self):
        return exclusions.open()

    @property
    def ctes_with_update_delete(self):
        return exclusions.open()

    @property
    def ctes_with_values(self):
        return exclusions.open()

    @property
    def ctes_on_dml(self):
        return exclusions.open()

    @property
    def tuple_in(self):
        return exclusions.open()

    @property
    def views(self):
        return exclusions.open()

    @property
    def cross_schema_fk_reflection(self):
        return exclusions.open()

    @property
    def foreign_key_constraint_name_reflection(self):
        return exclusions.open()

    @property
    def implicit_default_schema(self):
        return exclusions.open()

    @property
    def default_schema_name_switch(self):
        return exclusions.open()

    @property
    def reflects_pk_names(self):
        return exclusions.open()

    @property
    def reflect_tables_no_columns(self):
        return exclusions.open()

    @property
    def temp_table_comment_reflection(self):
        return exclusions.open()

    @property
    def comment_reflection(self):
        return exclusions.open()

    @property
    def comment_reflection_full_unicode(self):
        return exclusions.open()

    @property
    def constraint_comment_reflection(self):
        return exclusions.open()

    @property
    def column_collation_reflection(self):
        return exclusions.open()

    @property
    def schema_create_delete(self):
        return exclusions.open()

    @property
    def foreign_key_constraint_option_reflection_ondelete(self):
        return exclusions.open()

    @property
    def fk_constraint_option_reflection_ondelete_restrict(self):
        return exclusions.open()

    @property
    def fk_constraint_option_reflection_ondelete_noaction(self):
        return exclusions.open()

    @property
    def foreign_key_constraint_option_reflection_onupdate(self):
        return exclusions.open()

    @property
    def fk_constraint_option_reflection_onupdate_restrict(self):
        return exclusions.open()

    @property
    def temp_table_names(self):
        return exclusions.open()

    @property
    def has_temp_table(self):
        return exclusions.open()

    @property
    def temporary_views(self):
        return exclusions.open()

    @property
    def index_reflects_included_columns(self):
        return exclusions.open()

    @property
    def indexes_check_column_order(self):
        return exclusions.open()

    @property
    def indexes_with_expressions(self):
        return exclusions.open()

    @property
    def reflect_indexes_with_expressions(self):
        return exclusions.open()

    @property
    def inline_check_constraint_reflection(self):
        return exclusions.open()

    @property
    def check_constraint_reflection(self):
        return exclusions.open()

    @property
    def unicode_ddl(self):
        return exclusions.open()

    @property
    def datetime_interval(self):
        return exclusions.open()

    @property
    def datetime_literals(self):
        return exclusions.open()

    @property
    def datetime_timezone(self):
        return exclusions.open()

    @property
    def time_timezone(self):
        return exclusions.open()

    @property
    def timestamp_microseconds(self):
        return exclusions.open()

    @property
    def datetime_historic(self):
        return exclusions.open()

    @property
    def datetime_timezone_historic(self):
        return exclusions.open()

    @property
    def date_historic(self):
        return exclusions.open()

    @property
    def autocommit(self):
        return exclusions.open()

    @property
    def isolation_level(self):
        return exclusions.open()

    @property
    def array_type(self):
        return exclusions.open()

    @property
    def json_type(self):
        return exclusions.open()

    @property
    def precision_numerics_enotation_small(self):
        return exclusions.open()

    @property
    def precision_numerics_many_significant_digits(self):
        return exclusions.open()

    @property
    def server_defaults(self):
        return exclusions.open()

    @property
    def expression_server_defaults(self):
        return exclusions.open()

    @property
    def precision_numerics_retains_significant_digits(self):
        return exclusions.open()

    @property
    def infinity_floats(self):
        return exclusions.open()

    @property
    def float_or_double_precision_behaves_generically(self):
        return exclusions.open()

    @property
    def savepoints(self):
        return exclusions.open()

    @property
    def update_from(self):
        return exclusions.open()

    @property
    def delete_from(self):
        return exclusions.open()

    @property
    def mod_operator_as_percent_sign(self):
        return exclusions.open()

    @property
    def percent_schema_names(self):
        return exclusions.open()

    @property
    def order_by_label_with_expression(self):
        return exclusions.open()

    @property
    def computed_columns(self):
        return exclusions.open()

    @property
    def computed_columns_stored(self):
        return exclusions.open()

    @property
    def computed_columns_virtual(self):
        return exclusions.open()

    @property
    def computed_columns_reflect_persisted(self):
        return exclusions.open()

    @property
    def supports_distinct_on(self):
        return exclusions.open()

    @property
    def identity_columns(self):
        return exclusions.open()

    @property
    def identity_columns_standard(self):
        return exclusions.open()

    @property
    def regexp_match(self):
        return exclusions.open()

    @property
    def regexp_replace(self):
        return exclusions.open()

    @property
    def fetch_first(self):
        return exclusions.open()

    @property
    def fetch_ties(self):
        return exclusions.open()

    @property
    def fetch_no_order_by(self):
        return exclusions.open()

    @property
    def fetch_offset_with_options(self):
        return exclusions.open()

    @property
    def fetch_expression(self):
        return exclusions.open()

    @property
    def materialized_views(self):
        return exclusions.open()

    @property
    def materialized_views_reflect_pk(self):
        return exclusions.open()

    @property
    def supports_bitwise_or(self):
        return exclusions.open()

    @property
    def supports_bitwise_and(self):
        return exclusions.open()

    @property
    def supports_bitwise_not(self):
        return exclusions.open()

    @property
    def supports_bitwise_xor(self):
        return exclusions.open()

    @property
    def supports_bitwise_shift(self):
        return exclusions.open()
