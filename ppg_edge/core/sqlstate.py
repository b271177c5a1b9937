"""PostgreSQL errors by SQLSTATE: a class per common SQLSTATE, the PEP 249 class for the rest.

A SQLSTATE's first two characters are its class (PostgreSQL manual, appendix A);
each class maps to one PEP 249 category, as psycopg 3's `errors` module maps
them, so `except ppg_edge.IntegrityError` catches every constraint violation
and `except ppg_edge.errors.UniqueViolation` just the one.
"""

from __future__ import annotations

from collections.abc import Mapping

from ppg_edge.core.errors import (
    DatabaseError,
    DataError,
    IntegrityError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
)

_CLASSES: dict[str, type[DatabaseError]] = {
    "08": OperationalError,  # connection exception
    "0A": NotSupportedError,  # feature not supported
    "20": ProgrammingError,  # case not found
    "21": ProgrammingError,  # cardinality violation
    "22": DataError,  # data exception
    "23": IntegrityError,  # integrity constraint violation
    "24": InternalError,  # invalid cursor state
    "25": InternalError,  # invalid transaction state
    "26": ProgrammingError,  # invalid SQL statement name
    "27": OperationalError,  # triggered data change violation
    "28": OperationalError,  # invalid authorization specification
    "2B": InternalError,  # dependent privilege descriptors still exist
    "2D": InternalError,  # invalid transaction termination
    "2F": OperationalError,  # SQL routine exception
    "34": ProgrammingError,  # invalid cursor name
    "38": OperationalError,  # external routine exception
    "39": OperationalError,  # external routine invocation exception
    "3B": OperationalError,  # savepoint exception
    "3D": ProgrammingError,  # invalid catalog name
    "3F": ProgrammingError,  # invalid schema name
    "40": OperationalError,  # transaction rollback (serialization, deadlock)
    "42": ProgrammingError,  # syntax error or access rule violation
    "44": ProgrammingError,  # WITH CHECK OPTION violation
    "53": OperationalError,  # insufficient resources
    "54": OperationalError,  # program limit exceeded
    "55": OperationalError,  # object not in prerequisite state
    "57": OperationalError,  # operator intervention (cancel, shutdown)
    "58": OperationalError,  # system error
    "72": OperationalError,  # snapshot failure
    "F0": OperationalError,  # configuration file error
    "HV": OperationalError,  # foreign data wrapper error
    "P0": ProgrammingError,  # PL/pgSQL error
    "XX": InternalError,  # internal error
}
"""SQLSTATE class -> PEP 249 category; a class not listed is a plain DatabaseError."""


# DataError


class DivisionByZero(DataError):
    """SQLSTATE 22012: division by zero."""

    sqlstate = "22012"


class InvalidTextRepresentation(DataError):
    """SQLSTATE 22P02: a value's text is not valid for its type."""

    sqlstate = "22P02"


class NumericValueOutOfRange(DataError):
    """SQLSTATE 22003: a number outside its type's range."""

    sqlstate = "22003"


class StringDataRightTruncation(DataError):
    """SQLSTATE 22001: a string too long for its column."""

    sqlstate = "22001"


class DatetimeFieldOverflow(DataError):
    """SQLSTATE 22008: a date/time value out of range."""

    sqlstate = "22008"


class InvalidDatetimeFormat(DataError):
    """SQLSTATE 22007: a date/time text in no known format."""

    sqlstate = "22007"


class InvalidParameterValue(DataError):
    """SQLSTATE 22023: an invalid parameter value."""

    sqlstate = "22023"


class CharacterNotInRepertoire(DataError):
    """SQLSTATE 22021: bytes not valid in the encoding (e.g. a NUL in text)."""

    sqlstate = "22021"


# IntegrityError


class UniqueViolation(IntegrityError):
    """SQLSTATE 23505: a duplicate key."""

    sqlstate = "23505"


class ForeignKeyViolation(IntegrityError):
    """SQLSTATE 23503: a foreign key with no target, or a target still referenced."""

    sqlstate = "23503"


class NotNullViolation(IntegrityError):
    """SQLSTATE 23502: NULL in a NOT NULL column."""

    sqlstate = "23502"


class CheckViolation(IntegrityError):
    """SQLSTATE 23514: a CHECK constraint failed."""

    sqlstate = "23514"


class ExclusionViolation(IntegrityError):
    """SQLSTATE 23P01: an exclusion constraint failed."""

    sqlstate = "23P01"


# ProgrammingError


class SqlSyntaxError(ProgrammingError):
    """SQLSTATE 42601: a syntax error (psycopg says SyntaxError; this spares the builtin)."""

    sqlstate = "42601"


class UndefinedTable(ProgrammingError):
    """SQLSTATE 42P01: no such table or view."""

    sqlstate = "42P01"


class UndefinedColumn(ProgrammingError):
    """SQLSTATE 42703: no such column."""

    sqlstate = "42703"


class UndefinedFunction(ProgrammingError):
    """SQLSTATE 42883: no function or operator with these argument types."""

    sqlstate = "42883"


class DuplicateTable(ProgrammingError):
    """SQLSTATE 42P07: the table already exists."""

    sqlstate = "42P07"


class DuplicateObject(ProgrammingError):
    """SQLSTATE 42710: the object already exists."""

    sqlstate = "42710"


class InsufficientPrivilege(ProgrammingError):
    """SQLSTATE 42501: permission denied."""

    sqlstate = "42501"


class DatatypeMismatch(ProgrammingError):
    """SQLSTATE 42804: an expression of the wrong type."""

    sqlstate = "42804"


class UndefinedParameter(ProgrammingError):
    """SQLSTATE 42P02: a $n placeholder with no parameter."""

    sqlstate = "42P02"


class IndeterminateDatatype(ProgrammingError):
    """SQLSTATE 42P18: a parameter whose type cannot be inferred."""

    sqlstate = "42P18"


class InvalidCatalogName(ProgrammingError):
    """SQLSTATE 3D000: no such database."""

    sqlstate = "3D000"


class InvalidSchemaName(ProgrammingError):
    """SQLSTATE 3F000: no such schema."""

    sqlstate = "3F000"


# OperationalError


class SerializationFailure(OperationalError):
    """SQLSTATE 40001: a serializable transaction must be retried."""

    sqlstate = "40001"


class DeadlockDetected(OperationalError):
    """SQLSTATE 40P01: a deadlock; the transaction was chosen to be rolled back."""

    sqlstate = "40P01"


class QueryCanceled(OperationalError):
    """SQLSTATE 57014: the statement was cancelled (statement_timeout, a cancel request)."""

    sqlstate = "57014"


class AdminShutdown(OperationalError):
    """SQLSTATE 57P01: the server is shutting down."""

    sqlstate = "57P01"


class TooManyConnections(OperationalError):
    """SQLSTATE 53300: the server has no connection slot left."""

    sqlstate = "53300"


class LockNotAvailable(OperationalError):
    """SQLSTATE 55P03: a lock NOWAIT could not take."""

    sqlstate = "55P03"


class InvalidPassword(OperationalError):
    """SQLSTATE 28P01: password authentication failed."""

    sqlstate = "28P01"


class InvalidAuthorizationSpecification(OperationalError):
    """SQLSTATE 28000: the role may not connect."""

    sqlstate = "28000"


# InternalError


class InFailedSqlTransaction(InternalError):
    """SQLSTATE 25P02: the transaction is aborted: statements are ignored until ROLLBACK."""

    sqlstate = "25P02"


class ReadOnlySqlTransaction(InternalError):
    """SQLSTATE 25006: a write in a read-only transaction."""

    sqlstate = "25006"


class ActiveSqlTransaction(InternalError):
    """SQLSTATE 25001: a statement that cannot run inside a transaction block."""

    sqlstate = "25001"


# NotSupportedError


class FeatureNotSupported(NotSupportedError):
    """SQLSTATE 0A000: a feature the server does not support."""

    sqlstate = "0A000"


_BY_SQLSTATE: dict[str, type[DatabaseError]] = {}
"""SQLSTATE -> its own class; filled in from SQLSTATE_CLASSES at the end of the module."""


def lookup(sqlstate: str) -> type[DatabaseError]:
    """The class for a SQLSTATE: its own, else its SQLSTATE class's, else DatabaseError."""
    return _BY_SQLSTATE.get(sqlstate) or _CLASSES.get(sqlstate[:2], DatabaseError)


def database_error(
    message: str, sqlstate: str, details: Mapping[str, str] | None = None
) -> DatabaseError:
    """The error a server reported, as the class of its SQLSTATE."""
    return lookup(sqlstate)(message, sqlstate, details)


SQLSTATE_CLASSES = (
    DivisionByZero,
    InvalidTextRepresentation,
    NumericValueOutOfRange,
    StringDataRightTruncation,
    DatetimeFieldOverflow,
    InvalidDatetimeFormat,
    InvalidParameterValue,
    CharacterNotInRepertoire,
    UniqueViolation,
    ForeignKeyViolation,
    NotNullViolation,
    CheckViolation,
    ExclusionViolation,
    SqlSyntaxError,
    UndefinedTable,
    UndefinedColumn,
    UndefinedFunction,
    DuplicateTable,
    DuplicateObject,
    InsufficientPrivilege,
    DatatypeMismatch,
    UndefinedParameter,
    IndeterminateDatatype,
    InvalidCatalogName,
    InvalidSchemaName,
    SerializationFailure,
    DeadlockDetected,
    QueryCanceled,
    AdminShutdown,
    TooManyConnections,
    LockNotAvailable,
    InvalidPassword,
    InvalidAuthorizationSpecification,
    InFailedSqlTransaction,
    ReadOnlySqlTransaction,
    ActiveSqlTransaction,
    FeatureNotSupported,
)
"""Every per-SQLSTATE class, in the order above (the public `ppg_edge.errors` lists them)."""

_BY_SQLSTATE.update((cls.sqlstate, cls) for cls in SQLSTATE_CLASSES if cls.sqlstate)
