// One Python Worker in its own Pyodide instance, the emulation's isolate.
//
// It provides the two native modules workerd gives the SDK
// (_pyodide_entrypoint_helper, _cloudflare_compat_flags), copies the bundle
// (src/ and python_modules/) into Pyodide's in-memory file system, imports the
// main module once, and builds `env`: the configured variables plus one
// DurableObjectNamespace per Durable Object binding, whose instances are
// Python objects of the main module's class, built on their first request.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { currentContext, patchWaitUntil } from "./context.mjs";
import { DurableObjectNamespace, DurableObjectState } from "./objects.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = "/worker";

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

function registerNativeModules(pyodide, env) {
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
}

function durableObjectNamespace(dispatch, cls, env) {
  return new DurableObjectNamespace(async (id) => {
    const state = new DurableObjectState(id);
    const instance = currentContext.run(state, () => dispatch.construct(cls, state, env));
    return (request) => currentContext.run(state, () => dispatch.handle_object(instance, request));
  });
}

// worker: {name, bundle, main, env, durableObjects: {BINDING: ClassName}}.
// Resolves to {handle(ctx, request) -> Promise<Response>}.
export async function startIsolate(loadPyodide, worker) {
  const log = (line) => process.stderr.write(`[${worker.name}] ${line}\n`);
  const pyodide = await loadPyodide({ stdout: log, stderr: log });
  const env = { ...(worker.env ?? {}) };
  registerNativeModules(pyodide, env);
  copyTree(pyodide, path.join(worker.bundle, "src"), `${ROOT}/src`);
  copyTree(pyodide, path.join(worker.bundle, "python_modules"), `${ROOT}/python_modules`);
  pyodide.FS.mkdirTree(`${ROOT}/emulator`);
  pyodide.FS.writeFile(
    `${ROOT}/emulator/_emulator_dispatch.py`,
    fs.readFileSync(path.join(HERE, "dispatch.py")),
  );
  pyodide.runPython(`
import sys
sys.path[:0] = ["${ROOT}/src", "${ROOT}/python_modules", "${ROOT}/emulator"]
`);
  const dispatch = pyodide.pyimport("_emulator_dispatch");
  const entrypoint = dispatch.entrypoint(worker.main);
  for (const [binding, className] of Object.entries(worker.durableObjects ?? {})) {
    const cls = dispatch.durable_object_class(worker.main, className);
    env[binding] = durableObjectNamespace(dispatch, cls, env);
  }
  return {
    pythonVersion: pyodide.runPython("import platform; platform.python_version()"),
    handle: (ctx, request) => currentContext.run(ctx, () => dispatch.handle(entrypoint, ctx, env, request)),
  };
}
