"""Connection strings -> endpoint, credentials, database, URLs (PROTOCOL.md section 1)."""

from __future__ import annotations

import base64
import json

import pytest

from ppg_edge.core.config import (
    DEFAULT_CONNECT_TIMEOUT,
    ClientConfig,
    check_timeout,
    parse_connection_string,
)
from ppg_edge.core.errors import ValidationError
from ppg_edge.core.protocol import MAX_RESULT_FRAME_BYTES

URL = "postgres://ident:s3cr%2Fet@db.prisma.io:5432/postgres?sslmode=require"


def test_official_form_maps_to_https_host_without_port() -> None:
    info = parse_connection_string(URL)
    assert info.endpoint == "https://db.prisma.io"
    assert info.username == "ident"
    assert info.password == "s3cr%2Fet"  # exactly as written, not percent-decoded
    assert info.database == "postgres"
    assert info.statement_url() == "https://db.prisma.io/v0/statement?db=postgres"
    assert info.session_url() == "wss://db.prisma.io/v0/session?db=postgres"


def test_postgresql_scheme_and_no_database() -> None:
    info = parse_connection_string("postgresql://u:p@Example.COM")
    assert info.endpoint == "https://example.com"
    assert info.database is None
    assert info.statement_url() == "https://example.com/v0/statement"


def test_explicit_http_endpoint_for_a_local_gateway() -> None:
    info = parse_connection_string("postgres://u:p@ignored:1/db", endpoint="http://127.0.0.1:8787/")
    assert info.endpoint == "http://127.0.0.1:8787"
    assert info.session_url() == "ws://127.0.0.1:8787/v0/session?db=db"


def test_database_is_sent_as_written_and_url_encoded_in_the_query() -> None:
    info = parse_connection_string("postgres://u:p@h/my%20db")
    assert info.database == "my%20db"
    assert info.statement_url().endswith("?db=my%2520db")


def test_password_may_hold_at_and_slash() -> None:
    info = parse_connection_string("postgres://u:pa@ss/w:rd@h:5432/d")
    assert (info.username, info.password, info.database) == ("u", "pa@ss/w:rd", "d")


def test_basic_auth_and_auth_message() -> None:
    info = parse_connection_string("postgres://user:pässword@h/d")
    token = info.authorization().removeprefix("Basic ")
    assert base64.b64decode(token).decode() == "user:pässword"
    assert json.loads(info.auth_message()) == {"username": "user", "password": "pässword"}


def test_ipv6_host() -> None:
    assert parse_connection_string("postgres://u:p@[::1]:5432/d").endpoint == "https://[::1]"


@pytest.mark.parametrize(
    "bad",
    [
        "mysql://u:p@h/d",
        "postgres://h/d",
        "postgres://u@h/d",
        "postgres://:p@h/d",
        "postgres://u:@h/d",
        "postgres://u:p@/d",
        "postgres://u:p@h:notaport/d",
        "not a url",
        "",
    ],
)
def test_bad_connection_strings_raise_validation_error(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_connection_string(bad)


@pytest.mark.parametrize(
    "endpoint", ["ftp://h", "h:8787", "http://", "http://h/path", "http://h?x=1", "http://h:99999"]
)
def test_bad_endpoints_raise_validation_error(endpoint: str) -> None:
    with pytest.raises(ValidationError):
        parse_connection_string("postgres://u:p@h/d", endpoint=endpoint)


def test_password_never_in_repr_str_or_errors() -> None:
    secret = "TOPSECRETPW"
    config = ClientConfig(f"postgres://u:{secret}@h/d")
    assert secret not in repr(config)
    assert secret not in str(config)
    assert secret not in repr(config.connection)
    with pytest.raises(ValidationError) as caught:
        ClientConfig(f"postgres://u:{secret}@h:bad/d")
    assert secret not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        ClientConfig(f"postgres://u:{secret}@h/d", timeout=-1)
    assert secret not in str(caught.value)


@pytest.mark.parametrize("value", [0, -1, float("nan"), float("inf"), "1", True])
def test_bad_timeouts(value: object) -> None:
    with pytest.raises(ValidationError):
        check_timeout(value)  # type: ignore[arg-type]


def test_good_timeouts() -> None:
    assert check_timeout(None) is None
    assert check_timeout(2) == 2.0


def test_connect_timeout_and_frame_cap_defaults_and_checks() -> None:
    config = ClientConfig(URL)
    assert config.connect_timeout == DEFAULT_CONNECT_TIMEOUT == 10.0
    assert config.max_frame_bytes == MAX_RESULT_FRAME_BYTES == 256 * 1024 * 1024
    assert ClientConfig(URL, connect_timeout=None).connect_timeout is None
    assert ClientConfig(URL, connect_timeout=2, max_frame_bytes=10).max_frame_bytes == 10
    for bad in ({"connect_timeout": 0}, {"max_frame_bytes": 0}, {"max_frame_bytes": 1.5}):
        with pytest.raises(ValidationError):
            ClientConfig(URL, **bad)  # type: ignore[arg-type]
