// The test page: boots at load with the config from the query string, so the
// measured time runs from navigation start to the first answered query.
import { loadPyodide } from "/pyodide/pyodide.mjs";
import { boot, callSuite, firstQuery } from "./harness.mjs";

const params = new URLSearchParams(location.search);
const config = JSON.parse(params.get("config"));
const wheelURL = new URL(params.get("wheel"), location.href).href;
const indexURL = new URL("/pyodide/", location.href).href;
const status = document.getElementById("status");

async function start() {
  const suiteSource = await (await fetch("./ppg_browser_suite.py")).text();
  const { pyodide, marks } = await boot({ loadPyodide, indexURL, wheelURL, suiteSource });
  const firstRows = await firstQuery(pyodide, config, marks);
  status.textContent = "ready";
  return { pyodide, marks, firstRows };
}

const ready = start();
window.ppgReady = ready.then(({ marks, firstRows }) => ({ marks, firstRows }));
window.ppgCall = async (fn, cfg) => callSuite((await ready).pyodide, fn, cfg);
window.ppgRunInWorker = (cfg) =>
  new Promise((resolve, reject) => {
    const worker = new Worker("./worker.mjs", { type: "module" });
    worker.onmessage = (event) => {
      worker.terminate();
      event.data.error ? reject(new Error(event.data.error)) : resolve(event.data);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(`worker failed: ${event.message}`));
    };
    worker.postMessage({ config: cfg, wheelURL, indexURL });
  });
