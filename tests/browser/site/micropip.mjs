// A notebook's situation: Pyodide and micropip, but no ppg_edge until a cell installs it
// from the gateway (another origin). micropip's wheel comes from this site (?micropip=),
// as a JupyterLite site vendors it: no CDN is ever asked.
import { loadPyodide } from "/pyodide/pyodide.mjs";

const status = document.getElementById("status");

async function boot() {
  const micropip = new URLSearchParams(location.search).get("micropip");
  const pyodide = await loadPyodide({ indexURL: new URL("/pyodide/", location.href).href });
  await pyodide.loadPackage(new URL(micropip, location.href).href);
  status.textContent = "ready";
  return pyodide;
}

const ready = boot();
window.ppgBooted = ready.then(
  () => ({ ok: true }),
  (error) => ({ ok: false, error: String(error?.stack ?? error) }),
);
// Runs a cell; resolves to {ok, value} or {ok: false, error} (the Python exception's text).
window.ppgCell = async (code) => {
  const pyodide = await ready;
  try {
    return { ok: true, value: JSON.parse(await pyodide.runPythonAsync(code)) };
  } catch (error) {
    return { ok: false, error: String(error?.message ?? error) };
  }
};
