// A local stand-in for workerd running one Python Worker.
//
// Usage: node host.mjs   with WORKER_EMULATOR_CONFIG set to JSON
//   {"bundle": DIR, "main": "entry", "env": {NAME: VALUE, ...}}
// where DIR holds the Worker as deployed: src/ (the main module and its
// siblings) and python_modules/ (vendored packages, the `workers` SDK included).
//
// It loads Pyodide 0.28 (Python 3.13, as in Workers), installs the JS globals a
// Worker sees (./workerd.mjs), provides the two native modules workerd gives the
// SDK (_pyodide_entrypoint_helper, _cloudflare_compat_flags), copies the bundle
// into Pyodide's in-memory file system, imports the main module once per
// process (one isolate), then serves HTTP on 127.0.0.1 at a free port. Every
// incoming request gets a NEW `Default(ctx, env)` instance and its own
// ExecutionContext with waitUntil(). The first stdout line is {"port": N}.

import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { once } from "node:events";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { AsyncLocalStorage } from "node:async_hooks";
import { loadPyodide } from "pyodide";
import { installWorkersGlobals } from "./workerd.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WAIT_UNTIL_LIMIT_MS = 30_000; // Workers lets waitUntil work run this long after the response
const ROOT = "/worker";

const config = JSON.parse(process.env.WORKER_EMULATOR_CONFIG ?? "{}");
if (!config.bundle || !config.main) {
  console.error("WORKER_EMULATOR_CONFIG needs bundle and main");
  process.exit(2);
}

class ExecutionContext {
  #pending = [];

  waitUntil(promise) {
    this.#pending.push(
      Promise.resolve(promise).catch((error) => console.error("waitUntil task failed:", error)),
    );
  }

  passThroughOnException() {}

  async settle() {
    let timer;
    const limit = new Promise((resolve) => {
      timer = setTimeout(resolve, WAIT_UNTIL_LIMIT_MS);
    });
    await Promise.race([Promise.allSettled(this.#pending), limit]);
    clearTimeout(timer);
  }
}

const currentContext = new AsyncLocalStorage();

// What workerd's entrypoint helper does to ctx: let waitUntil take a Python
// awaitable. The borrowed proxy is copied so it outlives the Python call.
function patchWaitUntil(ctx) {
  if (ctx.__patched) return;
  const original = ctx.waitUntil.bind(ctx);
  ctx.waitUntil = (value) => {
    const owned = typeof value?.copy === "function" ? value.copy() : value;
    original(
      (async () => {
        try {
          return await owned;
        } finally {
          owned?.destroy?.();
        }
      })(),
    );
  };
  ctx.__patched = true;
}

function copyTree(pyodide, hostDir, fsDir) {
  pyodide.FS.mkdirTree(fsDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__") continue;
    const hostPath = path.join(hostDir, entry.name);
    const fsPath = `${fsDir}/${entry.name}`;
    if (entry.isDirectory()) {
      copyTree(pyodide, hostPath, fsPath);
    } else if (entry.isFile()) {
      pyodide.FS.writeFile(fsPath, fs.readFileSync(hostPath));
    }
  }
}

async function startPython() {
  installWorkersGlobals();
  const pyodide = await loadPyodide({
    stdout: (line) => process.stderr.write(`[python] ${line}\n`),
    stderr: (line) => process.stderr.write(`[python] ${line}\n`),
  });
  const env = config.env ?? {};
  pyodide.registerJsModule("_pyodide_entrypoint_helper", {
    cloudflareWorkersModule: {
      env,
      waitUntil: (promise) => currentContext.getStore()?.waitUntil(promise),
    },
    cloudflareSocketsModule: {},
    doAnImport: async (name) => {
      throw new Error(`importing ${name} from Python is not emulated`);
    },
    patch_env_helper: () => {
      throw new Error("patch_env is not emulated");
    },
    patchWaitUntil,
  });
  pyodide.registerJsModule("_cloudflare_compat_flags", {
    python_workflows_implicit_dependencies: false,
    python_request_headers_preserve_commas: false,
  });
  copyTree(pyodide, path.join(config.bundle, "src"), `${ROOT}/src`);
  copyTree(pyodide, path.join(config.bundle, "python_modules"), `${ROOT}/python_modules`);
  pyodide.FS.mkdirTree(`${ROOT}/emulator`);
  pyodide.FS.writeFile(`${ROOT}/emulator/_emulator_dispatch.py`, fs.readFileSync(path.join(HERE, "dispatch.py")));
  pyodide.runPython(`
import sys
sys.path[:0] = ["${ROOT}/src", "${ROOT}/python_modules", "${ROOT}/emulator"]
`);
  const dispatch = pyodide.pyimport("_emulator_dispatch");
  const entrypoint = dispatch.entrypoint(config.main);
  return { handle: dispatch.handle, entrypoint, env };
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

const worker = await startPython();

const server = http.createServer(async (req, res) => {
  const ctx = new ExecutionContext();
  let response;
  try {
    const request = incomingRequest(req);
    response = await currentContext.run(ctx, () =>
      worker.handle(worker.entrypoint, ctx, worker.env, request),
    );
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

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => process.exit(0));
}
