"""The error tree: PEP 249's classes around the driver's own, SQLSTATE classes, pickling,
and every name docs/API.md documents importable from `ppg_edge`."""

from __future__ import annotations

import builtins
import inspect
import pickle
import re
from importlib import import_module
from pathlib import Path

import pytest

import ppg_edge
import ppg_edge.errors as errors
from ppg_edge.core.frames import database_error
from ppg_edge.core.types.temporal import parse_date

REPO = Path(__file__).resolve().parents[2]
PEP_249 = [
    "Warning",
    "Error",
    "InterfaceError",
    "DatabaseError",
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
]


def test_pep_249_tree_holds_the_driver_classes() -> None:
    e = errors
    assert e.GenericError is e.Error
    assert issubclass(e.Warning, Exception) and not issubclass(e.Warning, e.Error)
    for name in ("InterfaceError", "DatabaseError"):
        assert issubclass(getattr(e, name), e.Error)
    for name in PEP_249[4:]:
        assert issubclass(getattr(e, name), e.DatabaseError), name
    assert issubclass(e.ValidationError, e.InterfaceError)
    assert issubclass(e.UnrepresentableValueError, e.DataError)
    for name in ("HttpResponseError", "QueryTimeoutError", "ConnectionFailedError"):
        assert issubclass(getattr(e, name), e.OperationalError), name
    for name in ("ConnectTimeoutError", "WebSocketError", "ProtocolError"):
        assert issubclass(getattr(e, name), e.ConnectionFailedError), name
    assert issubclass(e.QueryTimeoutError, TimeoutError)
    assert issubclass(e.ConnectTimeoutError, ConnectionError)
    assert issubclass(e.ConnectTimeoutError, TimeoutError)
    # the driver's own transport errors are not OSErrors a runtime's `except` could swallow
    assert not issubclass(e.WebSocketError, OSError)
    assert not issubclass(e.ProtocolError, OSError)


def test_pep_249_names_are_on_the_package() -> None:
    for name in PEP_249:
        assert getattr(ppg_edge, name) is getattr(errors, name), name


@pytest.mark.parametrize(
    ("code", "cls", "category"),
    [
        ("22012", errors.DivisionByZero, errors.DataError),
        ("22P02", errors.InvalidTextRepresentation, errors.DataError),
        ("22999", errors.DataError, errors.DataError),
        ("23505", errors.UniqueViolation, errors.IntegrityError),
        ("23000", errors.IntegrityError, errors.IntegrityError),
        ("42P01", errors.UndefinedTable, errors.ProgrammingError),
        ("42601", errors.SqlSyntaxError, errors.ProgrammingError),
        ("08006", errors.OperationalError, errors.OperationalError),
        ("53300", errors.TooManyConnections, errors.OperationalError),
        ("57014", errors.QueryCanceled, errors.OperationalError),
        ("40001", errors.SerializationFailure, errors.OperationalError),
        ("XX000", errors.InternalError, errors.InternalError),
        ("25P02", errors.InFailedSqlTransaction, errors.InternalError),
        ("0A000", errors.FeatureNotSupported, errors.NotSupportedError),
        ("ZZ999", errors.DatabaseError, errors.DatabaseError),
        ("", errors.DatabaseError, errors.DatabaseError),
    ],
)
def test_lookup_by_sqlstate_then_class(code: str, cls: type, category: type) -> None:
    assert errors.lookup(code) is cls
    assert issubclass(cls, category)
    raised = database_error({"message": "boom", "code": code, "severity": "ERROR"})
    assert type(raised) is cls
    assert raised.code == code and raised.severity == "ERROR"


def test_every_sqlstate_class_has_its_own_code() -> None:
    from ppg_edge.core.sqlstate import SQLSTATE_CLASSES

    codes = [cls.sqlstate for cls in SQLSTATE_CLASSES]
    assert len(set(codes)) == len(codes)
    for cls in SQLSTATE_CLASSES:
        assert errors.lookup(str(cls.sqlstate)) is cls
        assert getattr(errors, cls.__name__) is cls  # public
        assert cls.__doc__ and str(cls.sqlstate) in cls.__doc__


def test_sqlstate_is_in_str_and_repr() -> None:
    error = database_error({"message": "division by zero", "code": "22012"})
    assert str(error) == "division by zero (SQLSTATE 22012)"
    assert repr(error) == "DivisionByZero(code='22012', message='division by zero')"
    assert str(errors.ConnectionFailedError("gone")) == "gone"


def _instance(cls: type[BaseException]) -> BaseException:
    """One instance of each public class, with every field set to something distinct."""
    if cls is errors.HttpResponseError:
        return cls(503, "busy")
    if cls is errors.WebSocketError:
        return cls("closed", 1008, "bad credentials", 401)
    if issubclass(cls, errors.DatabaseError):
        return cls("message", "12345", {"severity": "ERROR", "hint": "h"})
    return cls("message")


PUBLIC_CLASSES = [
    getattr(errors, name) for name in errors.__all__ if inspect.isclass(getattr(errors, name))
]


@pytest.mark.parametrize("cls", PUBLIC_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_pickles(cls: type[BaseException]) -> None:
    original = _instance(cls)
    original.add_note("a note")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is cls
    assert str(copy) == str(original) and repr(copy) == repr(original)
    assert copy.__notes__ == ["a note"]
    fields = ("message", "code", "details", "status", "body", "close_code", "reason")
    for field in fields:
        assert getattr(copy, field, None) == getattr(original, field, None), field


def test_unrepresentable_values_are_still_caught_as_data_error() -> None:
    """The old DataError meaning lives on as a subclass, so old `except` clauses hold."""
    with pytest.raises(ppg_edge.DataError) as caught:
        parse_date("infinity")
    assert type(caught.value) is errors.UnrepresentableValueError
    assert "infinite" in str(caught.value)


# Names docs/API.md mentions that are not ppg_edge's, each with why.
NOT_PPG_EDGE = {
    "BEGIN": "SQL",
    "COMMIT": "SQL",
    "SELECT": "SQL",
    "E": "SQL's E'...' string prefix",
    "X": "stands for any async class",
    "SyncX": "stands for the sync twin of any async class",
    "pg_sleep": "SQL",
    "Decimal": "the stdlib type numeric values come as",
    "UUID": "the stdlib type uuid values come as",
    "CPythonRuntime": "documented with its module, ppg_edge.runtime.cpython",
    "supports": "a ValueSerializer argument",
}


def documented_names(text: str) -> set[str]:
    """`ppg_edge.X` anywhere, and backticked spans that start with a class-like name
    (CamelCase or a short ALL-CAPS constant) or with a call `name(`."""
    names = set(re.findall(r"\bppg_edge\.([A-Za-z]\w*)", text))  # `ppg_edge._x`: private
    for span in re.findall(r"`([^`\n]+)`", text):
        match = re.match(r"([A-Za-z_]\w*)(\()?", span)
        if match is None:
            continue
        name, call = match.groups()
        if call or re.match(r"[A-Z][a-z]", name) or (name.isupper() and len(name) < 8):
            names.add(name)
    return names


PUBLIC_MODULES = ("errors", "dbapi", "rows")
"""ppg_edge's public submodules: docs/API.md names their contents with the module."""


def test_every_name_api_md_documents_is_importable_from_ppg_edge() -> None:
    text = (REPO / "docs" / "API.md").read_text()
    modules = [ppg_edge, *(import_module(f"ppg_edge.{name}") for name in PUBLIC_MODULES)]
    exported = {name for module in modules for name in module.__all__} | set(PUBLIC_MODULES)
    public = [getattr(module, name) for module in modules for name in module.__all__]
    methods = {attr for value in public if inspect.isclass(value) for attr in dir(value)}
    missing = sorted(
        name
        for name in documented_names(text) - set(NOT_PPG_EDGE)
        if name not in exported and not hasattr(builtins, name) and name not in methods
    )
    assert missing == []
    for name in documented_names(text) & set(ppg_edge.__all__):
        assert getattr(ppg_edge, name) is not None, name


def test_the_documented_names_finder_finds_names() -> None:
    """So the test above cannot pass by finding nothing."""
    found = documented_names("`array_parser(parse)` and `Row.values`, `TEXT`, ppg_edge.Query")
    assert found == {"array_parser", "Row", "TEXT", "Query"}


def test_transport_exceptions_are_translated_in_one_place() -> None:
    import ssl

    from ppg_edge._failures import transport_failure

    refused = transport_failure(ConnectionRefusedError(111, "refused"), "the request failed")
    assert type(refused) is errors.ConnectionFailedError and "refused" in str(refused)
    # a certificate error is also a ValueError: it is still the connection failing
    untrusted = transport_failure(ssl.SSLCertVerificationError("bad cert"), "x failed")
    assert type(untrusted) is errors.ConnectionFailedError
    session = transport_failure(OSError("reset"), "cannot open a session", session=True)
    assert type(session) is errors.WebSocketError
    assert str(session) == "cannot open a session: reset"
    invalid = transport_failure(ValueError("invalid port in URL"), "the request failed")
    assert type(invalid) is errors.ValidationError
