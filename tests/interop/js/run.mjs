// Runs one interop case against the gateway and prints its outcome as one JSON line.
//
// Usage: node js/run.mjs CASE < args.json
// Environment: PPG_INTEROP_CONNECTION_STRING (postgres://USER:PASSWORD@HOST:PORT/DB) and
// PPG_INTEROP_ENDPOINT (the gateway origin, http://127.0.0.1:PORT). Output on stdout:
// {"ok": true, "result": …} or {"ok": false, "error": …}. Values that JSON cannot carry are
// tagged: BigInt → {"$bigint": "…"}, bytes → {"$hex": "…"}. The process always exits on its
// own, bounded by PPG_INTEROP_TIMEOUT_MS.
import { installTransportShim } from "./shim.mjs";

const connectionString = requireEnv("PPG_INTEROP_CONNECTION_STRING");
installTransportShim(connectionString, requireEnv("PPG_INTEROP_ENDPOINT"));
const { CASES, describeError } = await import("./cases.mjs");

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`missing environment variable ${name}\n`);
    process.exit(2);
  }
  return value;
}

function tagged(_key, value) {
  if (typeof value === "bigint") return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $hex: Buffer.from(value).toString("hex") };
  if (value && value.type === "Buffer" && Array.isArray(value.data)) {
    return { $hex: Buffer.from(value.data).toString("hex") };
  }
  return value;
}

function emit(outcome, exitCode) {
  process.stdout.write(`${JSON.stringify(outcome, tagged)}\n`, () => process.exit(exitCode));
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  return text ? JSON.parse(text) : {};
}

const name = process.argv[2];
const timeoutMs = Number(process.env.PPG_INTEROP_TIMEOUT_MS ?? "30000");
setTimeout(() => emit({ ok: false, error: { name: "Timeout", message: `${name} timed out` } }, 3), timeoutMs);
process.on("unhandledRejection", (reason) => {
  emit({ ok: false, error: { name: "UnhandledRejection", ...describeError(reason) } }, 4);
});

const run = CASES[name];
if (run === undefined) {
  emit({ ok: false, error: { name: "UnknownCase", message: `no case named ${name}` } }, 2);
} else {
  try {
    const result = await run({ connectionString, args: await readStdin() });
    emit({ ok: true, result }, 0);
  } catch (error) {
    emit({ ok: false, error: describeError(error) }, 1);
  }
}
