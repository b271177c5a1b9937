// The official client's side of benchmarks/compare.py: one timed run, one JSON line out.
//
// Usage: node peer.mjs stream SQL [dates]   (rows as objects through prismaPostgres().query)
//        node peer.mjs burst COUNT          (COUNT statements pipelined on one session)
// Environment: PPG_BENCH_URL (postgres://USER:PASSWORD@HOST:PORT/DB, kept off the command
// line) and PPG_BENCH_ENDPOINT (http://127.0.0.1:PORT: the gateway or the canned server).
//
// @prisma/ppg 1.0.1 always derives `https://HOST` from the connection string; its
// `transportConfig` option (an internal hook, read by client()) names the http:// endpoint.
// Everything after that config (fetch, multipart, NDJSON reader, WebSocket queue, parsers,
// row objects) is the code users run. Node 20 has no global WebSocket: the client reads the
// global's OPEN constant, so the npm `ws` class is installed as the global.
import { WebSocket } from "ws";
import { client, defaultClientConfig, prismaPostgres } from "@prisma/ppg";

globalThis.WebSocket = WebSocket;

const TIMESTAMPTZ = 1184;

function config(parseDates) {
  const connectionString = process.env.PPG_BENCH_URL;
  const url = new URL(connectionString);
  const defaults = defaultClientConfig(connectionString);
  // 1.0.1 leaves timestamptz a string; `dates` adds the parser a user would write.
  const dateParser = { oid: TIMESTAMPTZ, parse: (v) => (v === null ? null : new Date(v)) };
  return {
    ...defaults,
    parsers: parseDates ? [...defaults.parsers, dateParser] : defaults.parsers,
    transportConfig: {
      endpoint: process.env.PPG_BENCH_ENDPOINT,
      username: url.username,
      password: url.password,
      database: url.pathname.slice(1) || undefined,
    },
  };
}

function plain(row) {
  if (row === undefined) return null;
  const at = row.at instanceof Date ? row.at.toISOString() : row.at;
  return { ...row, at };
}

async function stream(sql, dates) {
  const db = prismaPostgres(config(dates === "dates"));
  const start = performance.now();
  const cpu = process.cpuUsage();
  let count = 0;
  let last;
  for await (const row of db.query(sql)) {
    count += 1;
    last = row;
  }
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { count, seconds, cpuSeconds: (used.user + used.system) / 1e6, last: plain(last) };
}

async function burst(total) {
  const session = await client(config(false)).newSession();
  try {
    await (await session.query("SELECT 1")).rows.collect(); // the socket is open and logged in
    const one = async (n) => (await (await session.query("SELECT $1::int AS n", n)).rows.collect());
    const start = performance.now();
    const answers = await Promise.all(Array.from({ length: total }, (_, i) => one(i + 1)));
    const seconds = (performance.now() - start) / 1000;
    const values = answers.map((rows) => rows[0].values[0]);
    const inOrder = values.every((value, i) => value === i + 1);
    return { count: answers.length, seconds, last: values.at(-1) ?? null, inOrder };
  } finally {
    session.close();
  }
}

const [mode, arg, extra] = process.argv.slice(2);
const result = mode === "stream" ? await stream(arg, extra) : await burst(Number(arg));
process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
