// A module Web Worker that runs the whole suite in its own Pyodide.
import { loadPyodide } from "/pyodide/pyodide.mjs";
import { bootAndRun } from "./harness.mjs";

self.onmessage = async ({ data: { config, wheelURL, indexURL } }) => {
  try {
    const suiteSource = await (await fetch("./ppg_browser_suite.py")).text();
    const options = { loadPyodide, indexURL, wheelURL, suiteSource };
    self.postMessage(await bootAndRun(options, config));
  } catch (error) {
    self.postMessage({ error: String(error?.stack ?? error) });
  }
};
