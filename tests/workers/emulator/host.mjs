// A local stand-in for workerd running Python Workers on one Pyodide version.
//
// Usage: node host.mjs   with WORKER_EMULATOR_CONFIG set to JSON
//   {"pyodide": NPM_PACKAGE, "workers": [WORKER, ...]}
// where NPM_PACKAGE is the Pyodide to run (an npm alias in ../package.json such
// as "pyodide314") and each WORKER is
//   {"name": N, "bundle": DIR, "main": "entry", "env": {NAME: VALUE, ...},
//    "durableObjects": {BINDING: CLASS_NAME, ...}}
// with DIR holding the Worker as deployed: src/ (the main module and its
// siblings) and python_modules/ (vendored packages, the `workers` SDK included).
//
// One process boots one Pyodide version once per Worker (each Worker its own
// isolate, ./isolate.mjs), installs the JS globals a Worker sees
// (./workerd.mjs), and serves each Worker over HTTP on 127.0.0.1 at a free
// port. Every incoming request gets a NEW `Default(ctx, env)` instance and its
// own ExecutionContext with waitUntil(); Durable Object instances live on
// across requests. The first stdout line is
//   {"ports": {N: PORT, ...}, "pyodide": VERSION, "python": VERSION, "node": VERSION}.
//
// workerd runs Python Workers with JSPI (WebAssembly.Suspending), which
// pyodide.ffi.run_sync needs to block; a Node whose V8 lacks it would emulate a
// different runtime, so the host refuses to start on one.

import http from "node:http";
import { once } from "node:events";
import { Readable } from "node:stream";
import { ExecutionContext } from "./context.mjs";
import { startIsolate } from "./isolate.mjs";
import { installWorkersGlobals } from "./workerd.mjs";

if (typeof WebAssembly.Suspending !== "function") {
  console.error(
    `Node ${process.version} (V8 ${process.versions.v8}) has no JSPI (WebAssembly.Suspending): ` +
      "run the Node pinned in ../package.json",
  );
  process.exit(2);
}

const config = JSON.parse(process.env.WORKER_EMULATOR_CONFIG ?? "{}");
if (!config.pyodide || !Array.isArray(config.workers) || config.workers.length === 0) {
  console.error("WORKER_EMULATOR_CONFIG needs pyodide and a non-empty workers list");
  process.exit(2);
}

function incomingRequest(req) {
  const url = `http://${req.headers.host ?? "127.0.0.1"}${req.url}`;
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const init = { method: req.method, headers };
  if (req.method !== "GET" && req.method !== "HEAD") {
    init.body = Readable.toWeb(req);
    init.duplex = "half";
  }
  return new Request(url, init);
}

async function writeResponse(response, res) {
  res.statusCode = response.status;
  for (const [name, value] of response.headers) res.setHeader(name, value);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let finished = false;
  res.on("close", () => {
    // The client went away: Workers cancels the response body stream.
    if (!finished) reader.cancel(new Error("client disconnected")).catch(() => {});
  });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await once(res, "drain");
    }
    finished = true;
    res.end();
  } catch (error) {
    finished = true;
    console.error("response body failed:", error);
    res.destroy(error);
  }
}

function serve(isolate) {
  const server = http.createServer(async (req, res) => {
    const ctx = new ExecutionContext();
    let response;
    try {
      response = await isolate.handle(ctx, incomingRequest(req));
      if (!(response instanceof Response) && typeof response?.status !== "number") {
        throw new TypeError("fetch handler did not return a Response");
      }
    } catch (error) {
      console.error("Worker threw exception:", error);
      response = new Response("Worker threw exception", { status: 500 });
    }
    await writeResponse(response, res);
    await ctx.settle();
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

installWorkersGlobals();
const { loadPyodide, version } = await import(config.pyodide);
const isolates = await Promise.all(config.workers.map((worker) => startIsolate(loadPyodide, worker)));
const ports = {};
for (const [index, worker] of config.workers.entries()) {
  ports[worker.name] = await serve(isolates[index]);
}
const python = isolates[0].pythonVersion;
process.stdout.write(`${JSON.stringify({ ports, pyodide: version, python, node: process.version })}\n`);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
