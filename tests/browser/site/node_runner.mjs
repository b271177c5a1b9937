// Runs the suite in Pyodide on Node, with npm `ws` as the global WebSocket.
// Usage: PPG_SUITE_CONFIG='{"endpoint": ...}' node node_runner.mjs WHEEL_PATH
// Prints one JSON line {marks, firstRows, results}; Pyodide's own output goes to stderr.
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocket } from "ws";

globalThis.WebSocket = WebSocket;
const { loadPyodide } = await import("pyodide");
const { bootAndRun } = await import("./harness.mjs");

const here = dirname(fileURLToPath(import.meta.url));
const config = JSON.parse(process.env.PPG_SUITE_CONFIG);
const options = {
  loadPyodide,
  indexURL: join(here, "..", "node_modules", "pyodide") + "/",
  wheelURL: resolve(process.argv[2]),
  suiteSource: await readFile(join(here, "ppg_browser_suite.py"), "utf8"),
  log: (line) => process.stderr.write(`${line}\n`),
};
try {
  const report = await bootAndRun(options, config);
  // Exit explicitly once flushed: a host timer or socket must not keep Node alive.
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
}
