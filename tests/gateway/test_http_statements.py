"""POST /v0/statement at the raw HTTP level: PROTOCOL.md sections 2 and 3."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from ppg_edge.core.protocol import ERROR_FIELDS, EXEC_DESCRIPTION, NDJSON, SESSION_SETTINGS
from tests.support.raw import RawHttp, multipart_body, statement_parts


async def test_query_streams_description_rows_complete(http: RawHttp) -> None:
    answer = await http.query("SELECT g AS n, 'v' || g AS label FROM generate_series(1, 3) g")
    assert answer.status == 200
    assert answer.headers["Content-Type"].startswith(NDJSON)
    assert answer.frames == [
        {"columns": [{"name": "n", "typeOid": 23}, {"name": "label", "typeOid": 25}]},
        {"values": ["1", "v1"]},
        {"values": ["2", "v2"]},
        {"values": ["3", "v3"]},
        {"complete": True},
    ]


async def test_query_without_rows_has_description_and_complete(http: RawHttp) -> None:
    answer = await http.query("SELECT 1 AS a WHERE false")
    assert answer.frames == [{"columns": [{"name": "a", "typeOid": 23}]}, {"complete": True}]


@pytest.mark.parametrize(
    "sql", ["BEGIN", "CREATE TEMP TABLE q_no_rows(a int)", "SET work_mem = '8MB'"]
)
async def test_query_with_no_row_set_is_complete_alone(http: RawHttp, sql: str) -> None:
    answer = await http.query(sql)
    assert answer.frames == [{"complete": True}]


@pytest.mark.parametrize(
    ("sql", "count"),
    [
        ("CREATE TEMP TABLE e_ddl(a int)", "0"),
        ("BEGIN", "0"),
        ("SET work_mem = '8MB'", "0"),
        ("SELECT * FROM generate_series(1, 7)", "7"),
        ("CREATE TEMP TABLE e_ins(a int); INSERT INTO e_ins SELECT generate_series(1, 4)", "4"),
    ],
)
async def test_exec_reports_description_and_count(http: RawHttp, sql: str, count: str) -> None:
    answer = await http.exec(sql)
    assert answer.frames == [EXEC_DESCRIPTION, {"values": [count]}, {"complete": True}]
    assert re.fullmatch(r"\d+", answer.rows[0][0])


async def test_values_are_postgres_text_output(http: RawHttp) -> None:
    answer = await http.query(
        "SELECT true, 1.50::numeric, 2::int8, '{1,2,NULL}'::int[], ARRAY['a b', 'c'],"
        " '{\"k\": [1, 2]}'::jsonb, '2024-01-02 03:04:05+02'::timestamptz,"
        " '1 day 2 hours'::interval, NULL::text"
    )
    assert answer.rows == [
        [
            "t",
            "1.50",
            "2",
            "{1,2,NULL}",
            '{"a b",c}',
            '{"k": [1, 2]}',
            "2024-01-02 01:04:05+00",
            "1 day 02:00:00",
            None,
        ]
    ]
    oids = [c["typeOid"] for c in answer.frames[0]["columns"]]
    assert oids == [16, 1700, 20, 1007, 1009, 3802, 1184, 1186, 25]


async def test_bytea_is_base64_and_bytea_arrays_stay_hex(http: RawHttp) -> None:
    answer = await http.query(r"SELECT '\x00ff10'::bytea, ARRAY['\x0102'::bytea, NULL], ''::bytea")
    assert answer.rows == [[base64.b64encode(b"\x00\xff\x10").decode(), '{"\\\\x0102",NULL}', ""]]
    assert [c["typeOid"] for c in answer.frames[0]["columns"]] == [17, 1001, 17]


async def test_session_settings(http: RawHttp) -> None:
    names = list(SESSION_SETTINGS)
    sql = "SELECT " + ", ".join(f"current_setting('{name}')" for name in names)
    answer = await http.query(sql)
    got = dict(zip(names, answer.rows[0], strict=True))
    assert got.pop("DateStyle").startswith("ISO")
    assert got == {k: v for k, v in SESSION_SETTINGS.items() if k != "DateStyle"}


@pytest.mark.parametrize("extended", [False, True])
async def test_text_and_binary_parameters(http: RawHttp, extended: bool) -> None:
    answer = await http.query(
        "SELECT $1::int + 1, $2::text, $3::bytea, $4::text IS NULL, $5::jsonb ->> 'a', $6::bool",
        ["41", "héllo ✓", b"\x00\x01\xfe\xff", None, '{"a": "b"}', "t"],
        extended=extended,
    )
    assert answer.rows == [
        ["42", "héllo ✓", base64.b64encode(b"\x00\x01\xfe\xff").decode(), "t", "b", "t"]
    ]


async def test_parameters_infer_their_type(http: RawHttp) -> None:
    answer = await http.query("SELECT $1 + 1, $2 || 'x', $3::date + 1", ["41", "ab", "2024-02-28"])
    assert answer.rows == [["42", "abx", "2024-02-29"]]


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 65_537, 1024 * 1024, 3 * 1024 * 1024])
async def test_parameter_sizes_inline_and_extended(http: RawHttp, size: int) -> None:
    text = ("abcdé" * (size // 5 + 1)).encode()[:size].decode("utf-8", "ignore")
    blob = os.urandom(size)
    for extended in (False, True):
        answer = await http.query(
            "SELECT length($1::text), octet_length($2::bytea), md5($2::bytea), md5($1::text)",
            [text, blob],
            extended=extended,
        )
        assert answer.rows == [
            [
                str(len(text)),
                str(size),
                hashlib.md5(blob).hexdigest(),
                hashlib.md5(text.encode()).hexdigest(),
            ]
        ], extended


async def test_chunked_request_body_of_several_mib(http: RawHttp) -> None:
    blob = os.urandom(5 * 1024 * 1024)
    body = multipart_body(statement_parts("query", "SELECT octet_length($1::bytea)", [blob], True))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100_003):
            yield body[start : start + 100_003]

    answer = await http.post(chunks())
    assert answer.rows == [[str(len(blob))]]


async def test_extended_parts_are_matched_by_order(http: RawHttp) -> None:
    answer = await http.query(
        "SELECT $1::text, $2::bytea, $3::text, $4::text, $5::bytea",
        ["first" * 300, b"\x01" * 2000, "inline", "third" * 300, b"\x02" * 1500],
        extended=True,
    )
    row = answer.rows[0]
    assert row[0] == "first" * 300 and row[2] == "inline" and row[3] == "third" * 300
    assert base64.b64decode(row[1]) == b"\x01" * 2000
    assert base64.b64decode(row[4]) == b"\x02" * 1500


async def test_error_fields_include_severity_and_constraint(http: RawHttp) -> None:
    await http.exec("DROP TABLE IF EXISTS err_fields; CREATE TABLE err_fields (id int PRIMARY KEY)")
    await http.exec("INSERT INTO err_fields VALUES (1)")
    answer = await http.exec("INSERT INTO err_fields VALUES (1)")
    assert answer.status == 200
    assert len(answer.frames) == 1
    error = answer.error
    assert error is not None
    assert error["code"] == "23505" and error["severity"] == "ERROR"
    assert error["constraint"] == "err_fields_pkey" and error["table"] == "err_fields"
    assert error["schema"] == "public"
    assert "Key (id)=(1) already exists" in error["detail"]
    assert all(isinstance(v, str) for v in error.values())
    assert set(error) <= set(ERROR_FIELDS)


async def test_error_position_hint_and_where(http: RawHttp) -> None:
    syntax = await http.query("SELECT * FROM nowhere_table")
    assert syntax.error is not None and syntax.error["position"] == "15"
    assert syntax.error["code"] == "42P01"
    plpgsql = await http.query(
        "DO $$ BEGIN RAISE EXCEPTION 'boom' USING HINT = 'try again', DETAIL = 'd'; END $$"
    )
    error = plpgsql.error
    assert error is not None
    assert error["message"] == "boom" and error["hint"] == "try again" and error["detail"] == "d"
    assert "PL/pgSQL function" in error["where"]
    assert "null" not in plpgsql.text


async def test_error_after_rows_have_streamed(http: RawHttp) -> None:
    answer = await http.query("SELECT 10 / (1000 - g) FROM generate_series(1, 1000) g")
    frames = answer.frames
    assert "columns" in frames[0]
    assert [int(v) for (v,) in answer.rows] == [10 // (1000 - g) for g in range(1, 1000)]
    assert frames[-1]["error"]["code"] == "22012"
    assert not any("complete" in f for f in frames)


async def test_script_query_streams_first_row_set(http: RawHttp) -> None:
    answer = await http.query("CREATE TEMP TABLE s1(a int); SELECT 1 AS one; SELECT 2 AS two")
    assert answer.frames == [
        {"columns": [{"name": "one", "typeOid": 23}]},
        {"values": ["1"]},
        {"complete": True},
    ]


async def test_script_exec_reports_last_count(http: RawHttp) -> None:
    answer = await http.exec(
        "CREATE TEMP TABLE s2(a int); INSERT INTO s2 VALUES (1), (2), (3);"
        " UPDATE s2 SET a = 0 WHERE a > 1"
    )
    assert answer.rows == [["2"]]


async def test_script_error_rolls_back_everything(http: RawHttp, direct: Any) -> None:
    await http.exec("DROP TABLE IF EXISTS script_rb; CREATE TABLE script_rb (a int)")
    answer = await http.query(
        "INSERT INTO script_rb VALUES (1); SELECT * FROM script_rb; SELECT 1/0;"
        " INSERT INTO script_rb VALUES (2)"
    )
    assert answer.frames[-1]["error"]["code"] == "22012"
    assert answer.rows == [["1"]]
    count = await (await direct.execute("SELECT count(*) FROM script_rb")).fetchone()
    assert count == (0,)


async def test_db_parameter_selects_the_database(
    http: RawHttp, postgres: Any, gateway: Any
) -> None:
    other = "ppg_test_other"
    with psycopg.connect(gateway.direct_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {other}")
        conn.execute(f"CREATE DATABASE {other}")
    first = await http.query("SELECT current_database(), current_user")
    second = await http.query("SELECT current_database()", db=other)
    assert first.rows == [[gateway.database, gateway.user]]
    assert second.rows == [[other]]
    missing = await http.query("SELECT 1", db="no_such_database_here")
    assert missing.status == 401 and "does not exist" in missing.text


async def test_pooled_connections_are_reset(http: RawHttp) -> None:
    for _ in range(3):
        leak = await http.query(
            "SET search_path = leaked; CREATE TEMP TABLE leak_tt(a int); SELECT 1"
        )
        assert leak.rows == [["1"]]
        await http.query("BEGIN")
        check = await http.query(
            "SELECT current_setting('search_path'), to_regclass('pg_temp.leak_tt') IS NULL,"
            " now() = statement_timestamp(), current_setting('TimeZone')"
        )
        assert check.rows == [['"$user", public', "t", "t", "UTC"]]


async def test_wrong_password_is_401_even_after_pooling(http: RawHttp) -> None:
    assert (await http.query("SELECT 1")).rows == [["1"]]
    answer = await http.query("SELECT 1", auth=http.auth(password="wrong"))
    assert answer.status == 401
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert "password authentication failed" in answer.text
    assert "wrong" not in answer.text
    assert (await http.query("SELECT 1")).rows == [["1"]]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode()],
)
async def test_missing_or_malformed_credentials_are_401(http: RawHttp, header: str | None) -> None:
    body = multipart_body(statement_parts("query", "SELECT 1"))
    async with http.session.post(
        http.gateway.url + "/v0/statement",
        data=body,
        headers={
            "Content-Type": "multipart/form-data; boundary=ppgEdgeTestBoundary7MA4YWxk",
            **({"Authorization": header} if header else {}),
        },
    ) as response:
        assert response.status == 401
        assert "credentials" in await response.text()


async def test_text_parameter_with_nul_is_a_database_style_error(http: RawHttp) -> None:
    for extended in (False, True):
        answer = await http.query("SELECT $1::text", ["a\x00b"], extended=extended)
        assert answer.status == 200
        assert answer.error is not None and answer.error["code"] == "22021"


async def test_large_result_streams(http: RawHttp) -> None:
    answer = await http.query("SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g")
    assert len(answer.rows) == 50000
    assert answer.rows[-1][0] == "50000"
    assert answer.frames[-1] == {"complete": True}


async def test_every_row_before_an_error_arrives(http: RawHttp) -> None:
    answer = await http.query("SELECT 1 / (x - 3) AS v FROM generate_series(1, 5) x")
    assert answer.rows == [["0"], ["-1"]]
    assert answer.frames[-1]["error"]["code"] == "22012"


async def test_copy_is_refused_with_an_error_frame(http: RawHttp) -> None:
    out = await http.query("COPY (SELECT 1) TO STDOUT")
    assert out.error is not None and out.error["code"] == "0A000"
    into = await http.exec("CREATE TEMP TABLE cp(a int); COPY cp FROM STDIN")
    assert into.error is not None and "not supported" in into.error["message"]
    assert (await http.query("SELECT 'after copy'")).rows == [["after copy"]]


async def test_pooled_connection_killed_by_the_server_is_not_reused(
    http: RawHttp, direct: Any
) -> None:
    pids = {(await http.query("SELECT pg_backend_pid()")).rows[0][0] for _ in range(3)}
    for pid in pids:
        await direct.execute("SELECT pg_terminate_backend(%s)", [int(pid)])
    await asyncio.sleep(0.1)
    answer = await http.query("SELECT 'fresh connection'")
    assert answer.rows == [["fresh connection"]]


async def test_sequential_requests_reuse_one_pooled_connection(http: RawHttp) -> None:
    pids = []
    for _ in range(12):
        pids.append((await http.query("SELECT pg_backend_pid()")).rows[0][0])
        # The answer goes out before the connection's reset round trip (by design):
        # a request sent in that moment takes another connection; pausing lets it return.
        await asyncio.sleep(0.2)
    assert len(set(pids)) == 1, pids


@pytest.mark.parametrize(
    "db", ["host=127.0.0.1 port=1 dbname=ppg_test", "postgres://a:b@127.0.0.1:1/x"]
)
async def test_db_parameter_cannot_redirect_the_upstream(http: RawHttp, db: str) -> None:
    answer = await http.query("SELECT 1", db=db)
    assert answer.status == 401
    assert "does not exist" in answer.text


async def test_row_values_that_look_like_frame_seams_survive(http: RawHttp) -> None:
    tricky = ['},{"values":[', "a\nb", '"quoted"', "\\", "é ✓", "}\n{", "],[", '"],["']
    sql = "SELECT v, g FROM unnest($1::text[]) v, generate_series(1, 300) g ORDER BY g, v"
    literal = (
        "{"
        + ",".join('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"' for t in tricky)
        + "}"
    )
    answer = await http.query(sql, [literal])
    assert answer.status == 200
    expected = sorted(tricky)
    rows = answer.rows
    assert len(rows) == 300 * len(tricky)
    for g in range(300):
        chunk = rows[g * len(tricky) : (g + 1) * len(tricky)]
        assert [r[1] for r in chunk] == [str(g + 1)] * len(tricky)
        assert sorted(r[0] for r in chunk) == expected
