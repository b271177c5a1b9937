"""Every example of the @prisma/ppg README's high-level API, translated to ppg_edge.

Each test runs the example against the real gateway and PostgreSQL and checks
concrete values; writes are verified with psycopg straight on the database.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest

import ppg_edge
from ppg_edge import Exec, Query

pytestmark = pytest.mark.asyncio


async def _seed(direct: psycopg.AsyncConnection[Any], users: str) -> None:
    await direct.execute(
        f"INSERT INTO {users} (name, email) VALUES "
        "('Ann', 'ann@example.com'), ('Ben', 'test@example.com'), ('Cid', 'cid@example.com')"
    )


async def _names(direct: psycopg.AsyncConnection[Any], users: str) -> list[str]:
    cur = await direct.execute(f"SELECT name FROM {users} ORDER BY id")
    return [name for (name,) in await cur.fetchall()]


async def test_sql_async_iterator_streams_dict_rows(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    seen = [row async for row in db.sql(f"SELECT * FROM {users} ORDER BY id")]
    assert seen == [
        {"id": 1, "name": "Ann", "email": "ann@example.com"},
        {"id": 2, "name": "Ben", "email": "test@example.com"},
        {"id": 3, "name": "Cid", "email": "cid@example.com"},
    ]


async def test_sql_collect_with_parameter(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    found = await db.sql(f"SELECT * FROM {users} WHERE email = {{}}", "test@example.com").collect()
    assert [row["name"] for row in found] == ["Ben"]
    named = await db.sql(
        f"SELECT name FROM {users} WHERE email = {{email}}", email="cid@example.com"
    ).collect()
    assert named == [{"name": "Cid"}]


async def test_sql_never_puts_a_value_into_the_sql_text(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    hostile = "x' OR '1'='1"
    assert await db.sql(f"SELECT * FROM {users} WHERE email = {{}}", hostile).collect() == []
    assert await db.sql("SELECT {}::int + {}::int AS s, '{{}}' AS braces", 1, 2).collect() == [
        {"s": 3, "braces": "{}"}
    ]


async def test_sql_exec_returns_affected_count(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    affected = await db.sql.exec(f"DELETE FROM {users} WHERE id = {{}}", 2)
    assert affected == 1
    assert await _names(direct, users) == ["Ann", "Cid"]


async def test_explicit_parameter_query(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    found = await db.query(f"SELECT * FROM {users} WHERE email = $1", "test@example.com").collect()
    assert found == [{"id": 2, "name": "Ben", "email": "test@example.com"}]


async def test_explicit_parameter_exec(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    affected = await db.exec(
        f"INSERT INTO {users} (name, email) VALUES ($1, $2)", "Alice", "alice@example.com"
    )
    assert affected == 1
    cur = await direct.execute(f"SELECT name, email FROM {users}")
    assert await cur.fetchall() == [("Alice", "alice@example.com")]


async def test_transaction_callback_commits_and_returns(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    async def work(tx: Any) -> str:
        await tx.sql.exec(f"INSERT INTO {users} (name) VALUES ('Alice')")
        found = await tx.sql(f"SELECT * FROM {users} WHERE name = 'Alice'").collect()
        name: str = found[0]["name"]
        return name

    assert await db.transaction(work) == "Alice"
    assert await _names(direct, users) == ["Alice"]


async def test_transaction_callback_rolls_back_and_reraises(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    class Boom(Exception):
        pass

    async def work(tx: Any) -> None:
        await tx.sql.exec(f"INSERT INTO {users} (name) VALUES ('Bob')")
        raise Boom("Something went wrong")

    with pytest.raises(Boom):
        await db.transaction(work)
    assert await _names(direct, users) == []


async def test_transaction_context_manager_commit_and_rollback(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    async with db.transaction() as tx:
        await tx.exec(f"INSERT INTO {users} (name) VALUES ($1)", "Bob")
    with pytest.raises(ZeroDivisionError):
        async with db.transaction() as tx:
            await tx.exec(f"INSERT INTO {users} (name) VALUES ($1)", "Eve")
            raise ZeroDivisionError
    assert await _names(direct, users) == ["Bob"]


async def test_transaction_query_and_exec_see_own_writes(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    user_id = 1

    async def work(tx: Any) -> tuple[Any, Any]:
        before = await tx.query(f"SELECT * FROM {users} WHERE id = $1", user_id).collect()
        await tx.exec(f"UPDATE {users} SET name = $1 WHERE id = $2", "New Name", user_id)
        after = await tx.query(f"SELECT * FROM {users} WHERE id = $1", user_id).collect()
        return before, after

    before, after = await db.transaction(work)
    assert before[0]["name"] == "Ann"
    assert after[0]["name"] == "New Name"
    assert (await _names(direct, users))[0] == "New Name"


async def test_batch_array_syntax(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    found, affected, counts = await db.batch(
        Query(f"SELECT * FROM {users} WHERE id < $1 ORDER BY id", 3),
        Exec(f"INSERT INTO {users} (name) VALUES ($1)", "Charlie"),
        Query(f"SELECT COUNT(*)::int8 AS count FROM {users}"),
    )
    assert [row["name"] for row in found] == ["Ann", "Ben"]
    assert affected == 1
    assert counts == [{"count": 4}]
    assert type(counts[0]["count"]) is int
    assert (await _names(direct, users))[-1] == "Charlie"


async def test_batch_fluent_builder(
    db: Any, users: str, direct: psycopg.AsyncConnection[Any]
) -> None:
    await _seed(direct, users)
    user_id = 3
    found, affected, counts = await (
        db.batch()
        .query(f"SELECT * FROM {users} WHERE id = $1", user_id)
        .exec(f"UPDATE {users} SET name = $1 WHERE id = $2", "Updated Name", user_id)
        .query(f"SELECT COUNT(*)::int8 AS count FROM {users}")
        .run()
    )
    assert found == [{"id": 3, "name": "Cid", "email": "cid@example.com"}]
    assert affected == 1
    assert counts == [{"count": 3}]
    assert (await _names(direct, users))[2] == "Updated Name"


async def test_batch_is_atomic(db: Any, users: str, direct: psycopg.AsyncConnection[Any]) -> None:
    with pytest.raises(ppg_edge.DatabaseError) as caught:
        await db.batch(
            Exec(f"INSERT INTO {users} (name) VALUES ($1)", "Dave"),
            Query("SELECT * FROM invalid_table_for_batch"),
        )
    assert caught.value.code == "42P01"
    assert await _names(direct, users) == []


async def test_type_support_examples(
    db: Any, make_table: Any, direct: psycopg.AsyncConnection[Any]
) -> None:
    rows = await db.sql("""SELECT '{{"key": "value"}}'::jsonb AS data""").collect()
    assert rows[0]["data"]["key"] == "value"

    bigints = await db.sql("SELECT 9007199254740993::int8 AS big").collect()
    assert bigints[0]["big"] == 9007199254740993

    dates = await db.sql("SELECT NOW() AS created").collect()
    created = dates[0]["created"]
    assert isinstance(created, dt.datetime)
    assert created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(minutes=5)

    events = await make_table('"timestamp" timestamptz')
    test_date = dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC)
    assert await db.sql.exec(f'INSERT INTO {events} ("timestamp") VALUES ({{}})', test_date) == 1
    cur = await direct.execute(f'SELECT "timestamp" FROM {events}')
    assert await cur.fetchall() == [(test_date,)]

    nulls = await db.sql("SELECT NULL::int AS id, 'test'::text AS name").collect()
    assert nulls == [{"id": None, "name": "test"}]


async def test_portable_template_fields_become_parameters(db: Any) -> None:
    rows = await db.sql(
        "SELECT {0}::int AS a, {0}::int + {1}::int AS b, {who}::text AS who, {2}::text AS raw",
        20,
        22,
        "{not a field}",
        who="O'Brien; DROP TABLE x",
    ).collect()
    assert rows == [{"a": 20, "b": 42, "who": "O'Brien; DROP TABLE x", "raw": "{not a field}"}]


async def test_portable_template_rejects_bad_use(db: Any) -> None:
    with pytest.raises(ppg_edge.ValidationError):
        await db.sql("SELECT {}::int", 1, 2).collect()
    with pytest.raises(ppg_edge.ValidationError):
        await db.sql("SELECT {missing}::int").collect()
    with pytest.raises(ppg_edge.ValidationError):
        await db.sql("SELECT {!r}", "x").collect()
