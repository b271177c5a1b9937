// Interop cases: each drives the official client against the gateway and returns plain data
// for the Python test to assert. Cases never judge results themselves; they only observe.
import { PrismaPostgresAdapter } from "@prisma/adapter-ppg";
import {
  BINARY,
  DatabaseError,
  HttpResponseError,
  WebSocketError,
  byteArrayParameter,
  client,
  defaultClientConfig,
  prismaPostgres,
} from "@prisma/ppg";

/**
 * Pass-through serializer for byte-array parameters (PROTOCOL.md §5). Without it the client's
 * catch-all turns a Uint8Array into the text "1,2,3"; with it the parameter reaches the frame
 * builder untouched and travels as a binary parameter (inline base64 or an extended frame).
 */
const passBytes = {
  supports: (value) => value instanceof Uint8Array && "format" in value,
  serialize: (value) => value,
};

/** Client configuration with the default parsers and the byte pass-through first. */
function config(connectionString) {
  const defaults = defaultClientConfig(connectionString);
  return { ...defaults, serializers: [passBytes, ...defaults.serializers] };
}

/** Plain, JSON-friendly view of anything thrown (Error subclasses or adapter error objects). */
export function describeError(error) {
  if (!(error instanceof Error)) {
    return typeof error === "object" && error !== null
      ? { name: "object", ...error }
      : { name: typeof error, message: String(error) };
  }
  const info = { name: error.name, message: error.message };
  for (const key of ["code", "details", "status", "closureCode", "closureReason"]) {
    if (error[key] !== undefined) info[key] = error[key];
  }
  info.isDatabaseError = error instanceof DatabaseError;
  info.isHttpResponseError = error instanceof HttpResponseError;
  info.isWebSocketError = error instanceof WebSocketError;
  return info;
}

/** Awaits a promise and reports either its value or the error it rejected with. */
async function outcome(promise) {
  try {
    return { ok: true, value: await promise };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

async function collectValues(result) {
  return (await result.rows.collect()).map((row) => row.values);
}

/** Runs one query and returns its columns and row values. */
async function queryTable(statements, sql, ...params) {
  const result = await statements.query(sql, ...params);
  return { columns: result.columns, rows: await collectValues(result) };
}

/** Runs `body` on a fresh WebSocket session and always closes it. */
async function withSession(lowLevel, body) {
  const session = await lowLevel.newSession();
  try {
    return await body(session);
  } finally {
    session.close();
  }
}

/** Runs `body(statements, transportName)` once over HTTP and once over a WebSocket session. */
async function onBothTransports(connectionString, body) {
  const lowLevel = client(config(connectionString));
  return {
    http: await body(lowLevel, "http"),
    session: await withSession(lowLevel, (session) => body(session, "session")),
  };
}

function bytesParam(base64, format = BINARY) {
  return byteArrayParameter(new Uint8Array(Buffer.from(base64, "base64")), format);
}

function withPassword(connectionString, password) {
  const url = new URL(connectionString);
  url.password = password;
  return url.toString();
}

const TYPED_ROW_SQL = `SELECT 1::int4 AS i, 'héllo'::text AS t, 9007199254740993::int8 AS big,
  true AS b, NULL::int4 AS n, 1.5::float8 AS f, '{"a": [1, 2]}'::jsonb AS j,
  '2024-05-06 07:08:09.5+02'::timestamptz AS ts, '{1,2,NULL}'::int4[] AS arr,
  '\\x00ff10'::bytea AS raw`;

async function queryExec({ connectionString, args }) {
  const table = args.table;
  const lowLevel = client(config(connectionString));
  const ppg = prismaPostgres(config(connectionString));
  return {
    typed: await queryTable(lowLevel, TYPED_ROW_SQL),
    create: await lowLevel.exec(`CREATE TABLE ${table} (id int PRIMARY KEY, name text)`),
    insert: await lowLevel.exec(`INSERT INTO ${table} VALUES (1, 'a'), (2, 'b'), (3, 'c')`),
    update: await lowLevel.exec(`UPDATE ${table} SET name = upper(name) WHERE id >= $1`, 2),
    deleteNone: await lowLevel.exec(`DELETE FROM ${table} WHERE id = $1`, 99),
    insertReturning: await lowLevel.exec(`INSERT INTO ${table} VALUES (4, 'd'), (5, 'e') RETURNING id`),
    execSelect: await lowLevel.exec(`SELECT id FROM ${table} WHERE id > $1`, 3),
    deleteTwo: await lowLevel.exec(`DELETE FROM ${table} WHERE id > $1`, 3),
    select: await queryTable(lowLevel, `SELECT id, name FROM ${table} ORDER BY id`),
    empty: await queryTable(lowLevel, `SELECT id FROM ${table} WHERE id < 0`),
    noRowSet: await queryTable(lowLevel, `UPDATE ${table} SET name = name WHERE id = 1`),
    tagged: await ppg.sql`SELECT ${5}::int4 + 1 AS x, ${"y"}::text AS y`.collect(),
    // A tagged template cannot interpolate an identifier: pass its strings array directly.
    taggedExec: await ppg.sql.exec([`UPDATE ${table} SET name = `, " WHERE id = ", ""], "z", 1),
    session: await withSession(lowLevel, async (session) => ({
      typed: await queryTable(session, TYPED_ROW_SQL),
      exec: await session.exec(`UPDATE ${table} SET name = $1 WHERE id <= $2`, "s", 2),
      select: await queryTable(session, `SELECT id, name FROM ${table} ORDER BY id`),
    })),
  };
}

async function textParams({ connectionString, args }) {
  const sql = "SELECT octet_length($1::text) AS n, md5($1::text) AS h, $1::text = $2::text AS same";
  return onBothTransports(connectionString, async (statements) => {
    const probe = async (value) => (await queryTable(statements, sql, value, value)).rows[0];
    return {
      small: await probe(args.small),
      large: await probe(args.large),
      echoSmall: (await queryTable(statements, "SELECT $1::text AS v", args.small)).rows[0][0],
      isNull: (await queryTable(statements, "SELECT $1::text IS NULL AS v", null)).rows[0][0],
      mixed: (await queryTable(statements, "SELECT $1::int4 + $2::int4 AS s, $3::bool AS b", 40, 2, false)).rows[0],
    };
  });
}

async function binaryParams({ connectionString, args }) {
  const { table } = args;
  const sql = "SELECT length($1::bytea) AS n, md5($1::bytea) AS h";
  return onBothTransports(connectionString, async (statements, transport) => {
    const base = transport === "http" ? 0 : 100;
    return {
      small: (await queryTable(statements, sql, bytesParam(args.small))).rows[0],
      large: (await queryTable(statements, sql, bytesParam(args.large))).rows[0],
      echoSmall: (await queryTable(statements, "SELECT $1::bytea AS v", bytesParam(args.small))).rows[0][0],
      insertSmall: await statements.exec(
        `INSERT INTO ${table} (id, data) VALUES ($1, $2)`, base + 1, bytesParam(args.small)),
      insertLarge: await statements.exec(
        `INSERT INTO ${table} (id, data) VALUES ($1, $2)`, base + 2, bytesParam(args.large)),
      base,
    };
  });
}

async function errorAfterRows({ connectionString, args }) {
  const lowLevel = client(config(connectionString));
  const values = [];
  let failedAt = null;
  let error = null;
  let columns = null;
  try {
    const result = await lowLevel.query(args.sql);
    columns = result.columns;
    failedAt = "rows";
    for await (const row of result.rows) values.push(row.values[0]);
    failedAt = null;
  } catch (caught) {
    failedAt ??= "query";
    error = describeError(caught);
  }
  return { columns, count: values.length, head: values.slice(0, 3), tail: values.slice(-2), failedAt, error };
}

async function pipelinedSession({ connectionString, args }) {
  const lowLevel = client(config(connectionString));
  return withSession(lowLevel, async (session) => {
    const statements = Array.from({ length: args.count }, (_, i) =>
      i === args.failAt
        ? session.query("SELECT 1 / $1::int4 AS v", 0)
        : session.query("SELECT $1::int4 * 10 AS v, pg_backend_pid() AS pid, $2::text AS tag", i, `q${i}`),
    );
    const settled = await Promise.all(statements.map((promise) => outcome(promise)));
    const answers = [];
    for (const item of settled) {
      answers.push(item.ok ? { ok: true, rows: await collectValues(item.value) } : item);
    }
    const execs = await Promise.all([
      session.exec("SET application_name = 'interop-pipeline'"),
      session.query("SHOW application_name").then(collectValues),
      session.exec("SELECT 1"),
    ]);
    return { answers, execs };
  });
}

async function transactions({ connectionString, args }) {
  const { table } = args;
  const ppg = prismaPostgres(config(connectionString));
  const insert = `INSERT INTO ${table} (id, note) VALUES ($1, $2)`;
  const committed = await outcome(
    ppg.transaction(async (tx) => {
      const inserted = await tx.exec(`${insert}, ($3, $4)`, 1, "a", 2, "b");
      const seen = await tx.query(`SELECT count(*)::int4 AS c FROM ${table}`).collect();
      return { inserted, seen };
    }),
  );
  const thrown = await outcome(
    ppg.transaction(async (tx) => {
      await tx.exec(insert, 3, "c");
      throw new Error("deliberate rollback");
    }),
  );
  const failed = await outcome(
    ppg.transaction(async (tx) => {
      await tx.exec(insert, 4, "d");
      await tx.exec(insert, 1, "duplicate");
    }),
  );
  return { committed, thrown, failed };
}

async function batches({ connectionString, args }) {
  const { table } = args;
  const ppg = prismaPostgres(config(connectionString));
  const insert = `INSERT INTO ${table} (id, note) VALUES ($1, $2)`;
  const array = await ppg.batch(
    { exec: insert, parameters: [1, "one"] },
    { exec: insert, parameters: [2, "two"] },
    { query: `SELECT id, note FROM ${table} ORDER BY id` },
  );
  const fluent = await ppg
    .batch()
    .exec(`UPDATE ${table} SET note = $1 WHERE id = $2`, "uno", 1)
    .query(`SELECT count(*)::int4 AS c, max(note) AS m FROM ${table}`)
    .exec(insert, 3, "three")
    .run();
  const failing = await outcome(ppg.batch({ exec: insert, parameters: [10, "ten"] }, { exec: insert, parameters: [1, "dup"] }));
  return { array, fluent, failing };
}

async function wrongPassword({ connectionString, args }) {
  const lowLevel = client(config(withPassword(connectionString, args.password)));
  const http = await outcome(lowLevel.query("SELECT 1"));
  const session = await lowLevel.newSession();
  const pending = await Promise.all([outcome(session.query("SELECT 1")), outcome(session.exec("SELECT 2"))]);
  session.close();
  return { http, session: pending };
}

async function multiStatement({ connectionString, args }) {
  const { table } = args;
  const lowLevel = client(config(connectionString));
  const adapter = await new PrismaPostgresAdapter({ connectionString }).connect();
  return {
    firstRowSet: await queryTable(lowLevel, "SELECT 1::int4 AS a; SELECT 2::int4 AS b"),
    script: await lowLevel.exec(
      `CREATE TABLE ${table} (id int PRIMARY KEY); INSERT INTO ${table} VALUES (1), (2), (3); ` +
        `UPDATE ${table} SET id = id + 10 WHERE id > 1`,
    ),
    failing: await outcome(lowLevel.exec(`INSERT INTO ${table} VALUES (100); SELECT 1/0`)),
    adapterScript: await outcome(
      adapter.executeScript(`INSERT INTO ${table} VALUES (200); INSERT INTO ${table} VALUES (201)`),
    ),
    session: await withSession(lowLevel, (session) =>
      queryTable(session, `SELECT count(*)::int4 AS c FROM ${table}; SELECT 1`),
    ),
  };
}

const INT = { scalarType: "int", arity: "scalar" };
const STRING = { scalarType: "string", arity: "scalar" };
const BYTES = { scalarType: "bytes", arity: "scalar" };
const DATETIME = { scalarType: "datetime", arity: "scalar" };

async function adapterMapping({ connectionString, args }) {
  const { table } = args;
  const conn = await new PrismaPostgresAdapter({ connectionString }).connect();
  const insert = `INSERT INTO ${table} (id, email, data) VALUES ($1, $2, $3)`;
  const bytes = (base64) => new Uint8Array(Buffer.from(base64, "base64"));
  const argTypes = [INT, STRING, BYTES];
  const inserted = [
    await conn.executeRaw({ sql: insert, args: [1, "a@example.com", bytes(args.small)], argTypes }),
    await conn.executeRaw({ sql: insert, args: [2, "b@example.com", bytes(args.large)], argTypes }),
  ];
  const select = `SELECT id, email, data FROM ${table} WHERE id = $1`;
  const small = await conn.queryRaw({ sql: select, args: [1], argTypes: [INT] });
  const large = await conn.queryRaw({ sql: select, args: [2], argTypes: [INT] });
  const unique = await outcome(conn.executeRaw({ sql: insert, args: [3, "a@example.com", null], argTypes }));
  const missingTable = await outcome(conn.queryRaw({ sql: `SELECT * FROM ${table}_missing`, args: [], argTypes: [] }));
  const time = await conn.queryRaw({
    sql: "SELECT $1::timestamptz AS ts, $1::timestamptz::timestamp AS plain",
    args: [new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678))],
    argTypes: [DATETIME],
  });
  const tx = await conn.startTransaction();
  await tx.executeRaw({ sql: insert, args: [4, "d@example.com", bytes(args.small)], argTypes });
  const txUnique = await outcome(tx.executeRaw({ sql: insert, args: [5, "d@example.com", null], argTypes }));
  await tx.rollback();
  return { inserted, small, large, unique, missingTable, time, txUnique };
}

export const CASES = {
  query_exec: queryExec,
  text_params: textParams,
  binary_params: binaryParams,
  error_after_rows: errorAfterRows,
  pipelined_session: pipelinedSession,
  transactions,
  batches,
  wrong_password: wrongPassword,
  multi_statement: multiStatement,
  adapter_mapping: adapterMapping,
};
