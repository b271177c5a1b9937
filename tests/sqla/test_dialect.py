"""The ``postgresql+ppg_edge`` dialect end to end: engine URL, Core, ORM, reflection, errors.

Everything runs through the real gateway and PostgreSQL; ``direct`` (psycopg
straight to PostgreSQL) checks what the dialect wrote.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
import tomllib
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import ArgumentError, IntegrityError, ProgrammingError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from ppg_edge.core.config import parse_connection_string
from ppg_edge.dialect import PPGEdgeDialect
from ppg_edge.dialect._connect import connect_arguments
from tests.sqla.conftest import DIALECT_NAME, ensure_dialect_registered, gateway_url

ROOT = Path(__file__).resolve().parents[2]


class Mood(enum.Enum):
    calm = "calm"
    busy = "busy"


def test_the_entry_point_names_the_dialect() -> None:
    """pyproject.toml registers `postgresql.ppg_edge` for SQLAlchemy's plugin loader."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["sqlalchemy.dialects"][DIALECT_NAME]
    module, _, attribute = target.partition(":")
    loaded = getattr(__import__(module, fromlist=[attribute]), attribute)
    assert loaded is PPGEdgeDialect
    ensure_dialect_registered()
    assert sa.dialects.registry.load(DIALECT_NAME) is PPGEdgeDialect


def test_the_endpoint_can_come_from_the_url(engine: Engine, gateway: Any) -> None:
    """`?endpoint=` in the URL does what `connect_args={"endpoint": ...}` does."""
    other = create_engine(gateway_url(gateway, endpoint=gateway.url))
    try:
        with other.connect() as conn:
            assert conn.scalar(text("SELECT current_user")) == gateway.user
    finally:
        other.dispose()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT current_database()")) == gateway.database


def test_bad_url_options_are_refused_without_echoing_credentials(gateway: Any) -> None:
    with pytest.raises(ArgumentError, match="unknown postgresql\\+ppg_edge URL option"):
        create_engine(gateway_url(gateway, sslmode="require")).connect()
    url = gateway_url(gateway).set(password="se?cret-9f8e")
    with pytest.raises(ArgumentError) as caught:
        create_engine(url, connect_args={"endpoint": gateway.url}).connect()
    assert "se?cret-9f8e" not in str(caught.value)
    assert "password" in str(caught.value)


def test_a_wrong_password_fails_without_leaking_it(gateway: Any) -> None:
    url = gateway_url(gateway).set(password="not-the-password-7c1d")
    bad = create_engine(url, connect_args={"endpoint": gateway.url})
    try:
        with pytest.raises(sa.exc.DBAPIError) as caught:
            bad.connect()
        assert "not-the-password-7c1d" not in str(caught.value)
        assert "not-the-password-7c1d" not in repr(caught.value.orig)
    finally:
        bad.dispose()


def test_core_round_trips_every_common_type(
    engine: Engine, table_name: Callable[[], str], direct: psycopg.Connection[Any]
) -> None:
    metadata = sa.MetaData()
    name = table_name()
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("big", sa.BigInteger),
        sa.Column("price", sa.Numeric(12, 3)),
        sa.Column("ratio", sa.Float),
        sa.Column("ok", sa.Boolean),
        sa.Column("name", sa.String(40)),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("naive", sa.DateTime),
        sa.Column("day", sa.Date),
        sa.Column("clock", sa.Time),
        sa.Column("span", sa.Interval),
        sa.Column("doc", JSONB),
        sa.Column("plain_json", sa.JSON),
        sa.Column("uid", sa.Uuid),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("ints", ARRAY(sa.Integer)),
        sa.Column("words", ARRAY(sa.Text)),
        sa.Column("mood", sa.Enum(Mood, name=f"{name}_mood")),
    )
    row = {
        "id": 1,
        "big": 2**62,
        "price": Decimal("1234.567"),
        "ratio": 0.25,
        "ok": True,
        "name": "naïve ☃",
        "at": dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC),
        "naive": dt.datetime(2024, 5, 6, 7, 8, 9),
        "day": dt.date(1999, 12, 31),
        "clock": dt.time(23, 59, 58, 5),
        "span": dt.timedelta(days=-1, seconds=3723, microseconds=5),
        "doc": {"a": [1, 2, {"b": None}], "s": "ü"},
        "plain_json": [1, "two", 3.5],
        "uid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "blob": bytes(range(256)),
        "ints": [1, None, 3],
        "words": ["a b", 'quo"te', "", "NULL"],
        "mood": Mood.busy,
    }
    nulls = {"id": 2} | {name: None for name in row if name != "id"}
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [row, nulls])
        with engine.connect() as conn:
            got = conn.execute(select(table).order_by(table.c.id)).mappings().all()
        assert dict(got[0]) == row
        assert dict(got[1]) == nulls
        stored = direct.execute(
            f"SELECT price, ints, mood::text, doc FROM {table.name} WHERE id = 1"
        ).fetchone()
        assert stored == (Decimal("1234.567"), [1, None, 3], "busy", row["doc"])
    finally:
        metadata.drop_all(engine)


def test_binds_are_typed_where_postgresql_cannot_infer_them(engine: Engine) -> None:
    """Parameters go untyped; the dialect's casts keep `SELECT $1 + 1` an integer, etc."""
    with engine.connect() as conn:
        assert conn.scalar(select(sa.literal(41) + 1)) == 42
        assert conn.scalar(select(sa.literal("ab") + "cd")) == "abcd"
        assert conn.scalar(select(sa.literal(Decimal("1.5")) * 2)) == Decimal("3.0")
        assert conn.scalar(select(sa.literal(True))) is True
        day = dt.date(2020, 2, 28)
        assert conn.scalar(select(sa.literal(day) + dt.timedelta(days=1))) == dt.datetime(
            2020, 2, 29
        )
        assert (
            conn.scalar(select(sa.func.array_length(sa.literal([1, 2, 3], ARRAY(sa.Integer)), 1)))
            == 3
        )
        assert conn.scalar(text("SELECT CAST(:x AS int) * 2"), {"x": 21}) == 42


def test_numeric_and_float_give_what_the_column_type_asks_for(engine: Engine) -> None:
    with engine.connect() as conn:
        as_float = conn.scalar(
            select(sa.cast(sa.literal("2.5"), sa.Numeric(5, 2, asdecimal=False)))
        )
        as_decimal = conn.scalar(select(sa.cast(sa.literal(0.5), sa.Float(asdecimal=True))))
    assert as_float == 2.5 and type(as_float) is float
    assert as_decimal == Decimal("0.5") and type(as_decimal) is Decimal


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "sqla_orm_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    stars: Mapped[int] = mapped_column(default=0)
    created: Mapped[dt.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )


def test_orm_sessions_add_query_update_and_roll_back(engine: Engine) -> None:
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            session.add_all([Note(title=f"note {i}", stars=i) for i in range(5)])
            session.commit()
            notes = session.scalars(select(Note).order_by(Note.id)).all()
            assert [n.stars for n in notes] == [0, 1, 2, 3, 4]
            assert all(n.created.tzinfo is not None for n in notes)
            notes[0].title = "renamed"
            session.commit()
            session.delete(notes[1])
            session.add(Note(title="never kept"))
            session.flush()
            session.rollback()
        with Session(engine) as session:
            titles = session.scalars(select(Note.title).order_by(Note.id)).all()
        assert titles == ["renamed", "note 1", "note 2", "note 3", "note 4"]
    finally:
        Base.metadata.drop_all(engine)


def test_savepoints_roll_back_only_the_nested_part(
    engine: Engine, table_name: Callable[[], str]
) -> None:
    name = table_name()
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (v int)"))
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {name} VALUES (1)"))
        nested = conn.begin_nested()
        conn.execute(text(f"INSERT INTO {name} VALUES (2)"))
        nested.rollback()
        conn.execute(text(f"INSERT INTO {name} VALUES (3)"))
    with engine.connect() as conn:
        assert conn.scalars(text(f"SELECT v FROM {name} ORDER BY v")).all() == [1, 3]


def test_reflection_sees_columns_keys_indexes_and_comments(
    engine: Engine, table_name: Callable[[], str], direct: psycopg.Connection[Any]
) -> None:
    parent, child = table_name(), table_name()
    direct.execute(f"CREATE TABLE {parent} (id serial PRIMARY KEY, code text UNIQUE NOT NULL)")
    direct.execute(
        f"CREATE TABLE {child} (id bigint PRIMARY KEY, parent_id int REFERENCES {parent} (id) "
        f"ON DELETE CASCADE, amount numeric(10, 2) DEFAULT 0 CHECK (amount >= 0), "
        f"tags text[], at timestamptz)"
    )
    direct.execute(f"CREATE INDEX {child}_at ON {child} (at DESC)")
    direct.execute(f"COMMENT ON TABLE {child} IS 'the child table'")
    inspector = inspect(engine)
    assert {parent, child} <= set(inspector.get_table_names())
    columns = {c["name"]: c for c in inspector.get_columns(child)}
    assert isinstance(columns["amount"]["type"], sa.Numeric)
    assert columns["amount"]["type"].precision == 10
    assert isinstance(columns["tags"]["type"], ARRAY)
    assert columns["at"]["type"].timezone is True
    assert inspector.get_pk_constraint(child)["constrained_columns"] == ["id"]
    (fk,) = inspector.get_foreign_keys(child)
    assert fk["referred_table"] == parent and fk["options"]["ondelete"] == "CASCADE"
    assert [i["name"] for i in inspector.get_indexes(child)] == [f"{child}_at"]
    assert inspector.get_unique_constraints(parent)[0]["column_names"] == ["code"]
    assert inspector.get_table_comment(child)["text"] == "the child table"
    reflected = sa.Table(child, sa.MetaData(), autoload_with=engine)
    assert reflected.c.parent_id.references(sa.Table(parent, reflected.metadata).c.id)


def test_database_errors_map_to_sqlalchemy_classes(
    engine: Engine, table_name: Callable[[], str]
) -> None:
    name = table_name()
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (id int PRIMARY KEY)"))
        conn.execute(text(f"INSERT INTO {name} VALUES (1)"))
    with engine.connect() as conn:
        with pytest.raises(IntegrityError) as caught:
            conn.execute(text(f"INSERT INTO {name} VALUES (1)"))
        assert "23505" in str(caught.value.orig)
        conn.rollback()
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELECT * FROM no_such_table_here"))
        conn.rollback()
        assert conn.scalar(text("SELECT 1")) == 1


def test_isolation_levels_and_autocommit(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="SERIALIZABLE") as conn:
        assert conn.scalar(text("SHOW transaction_isolation")) == "serializable"
    with engine.connect() as conn:
        assert conn.scalar(text("SHOW transaction_isolation")) == "read committed"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert conn.connection.dbapi_connection.autocommit is True  # type: ignore[union-attr]
        assert conn.scalar(text("SELECT 1")) == 1


def test_a_session_the_server_dropped_is_replaced(gateway_factory: Any, gateway: Any) -> None:
    """A pooled session idle past the gateway's heartbeat is closed by it (a sync session
    answers pings only while it reads). Its next use sees that close before sending
    anything (the socket's close_status) and opens a new session, so no statement
    fails, with or without pre-ping."""
    short = gateway_factory(heartbeat=0.5)
    url = gateway_url(gateway)
    plain = create_engine(url, connect_args={"endpoint": short.url}, pool_size=1)
    checked = create_engine(
        url, connect_args={"endpoint": short.url}, pool_size=1, pool_pre_ping=True
    )
    try:
        for engine in (plain, checked):
            with engine.connect() as conn:
                assert conn.scalar(text("SELECT 1")) == 1
        time.sleep(3)  # ping at 0.5 s, no pong by 0.75 s: the gateway drops both sessions
        with plain.connect() as conn:
            assert conn.scalar(text("SELECT 2")) == 2
        with plain.connect() as conn:
            assert conn.scalar(text("SELECT 3")) == 3
        with checked.connect() as conn:
            assert conn.scalar(text("SELECT 4")) == 4
    finally:
        plain.dispose()
        checked.dispose()


def test_first_row_of_a_large_result_keeps_the_transaction(
    engine: Engine, table_name: Callable[[], str], direct: psycopg.Connection[Any]
) -> None:
    """`first()` / `scalar()` close the cursor after one row; the rest of a streaming
    answer must not take the transaction down with it."""
    name = table_name()
    direct.execute(f"CREATE TABLE {name} (v int)")
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO {name} VALUES (1)"))
        first = conn.execute(text("SELECT g FROM generate_series(1, 300000) AS g")).first()
        assert first is not None and first.g == 1
        assert conn.scalar(text("SELECT g FROM generate_series(5, 300000) AS g")) == 5
        conn.execute(text(f"INSERT INTO {name} VALUES (2)"))
    assert [r[0] for r in direct.execute(f"SELECT v FROM {name} ORDER BY v")] == [1, 2]


def test_an_engine_wide_level_survives_pre_ping_and_probes(gateway: Any) -> None:
    """Pre-ping and `get_isolation_level()` run statements of their own; the transaction
    after them still starts with its isolation level (SET TRANSACTION must come first)."""
    strict = create_engine(
        gateway_url(gateway),
        connect_args={"endpoint": gateway.url},
        isolation_level="REPEATABLE READ",
        pool_pre_ping=True,
    )
    try:
        for _ in range(2):  # the second checkout is pre-pinged
            with strict.connect() as conn:
                assert conn.get_isolation_level() == "REPEATABLE READ"
                assert conn.scalar(text("SHOW transaction_isolation")) == "repeatable read"
                conn.commit()
    finally:
        strict.dispose()


def test_without_an_endpoint_the_url_host_is_the_drivers() -> None:
    """No endpoint: host, port and database go into the connection string; the driver
    then reaches https://HOST as it always does."""
    url = sa.engine.make_url("postgresql+ppg_edge://u%40x:p%2Fw%3Ad@db.example.com:5433/app")
    assert connect_arguments(url) == (["postgresql://u@x:p/w:d@db.example.com:5433/app"], {})
    info = parse_connection_string(connect_arguments(url)[0][0])
    assert (info.username, info.password, info.database) == ("u@x", "p/w:d", "app")
    assert info.endpoint == "https://db.example.com"
    ipv6 = sa.engine.make_url("postgresql+ppg_edge://u:p@[::1]/app?timeout=2.5")
    assert connect_arguments(ipv6) == (["postgresql://u:p@[::1]/app"], {"timeout": 2.5})
    with pytest.raises(ArgumentError, match="number of seconds"):
        connect_arguments(sa.engine.make_url("postgresql+ppg_edge://u:p@h/db?timeout=soon"))
