// The pytest plugin's page: boots Pyodide (from /pyodide/) and the wheel named in
// ?wheel=, then runs a test's Python on demand through runner.py.
import { loadPyodide } from "/pyodide/pyodide.mjs";

const status = document.getElementById("ppg-status");

async function boot() {
  const wheel = new URLSearchParams(location.search).get("wheel");
  const pyodide = await loadPyodide({ indexURL: new URL("/pyodide/", location.href).href });
  await pyodide.loadPackage(new URL(wheel, location.href).href);
  const runner = await fetch(new URL("./runner.py", import.meta.url));
  pyodide.FS.writeFile("/home/pyodide/ppg_page_runner.py", await runner.text());
  const run = pyodide.pyimport("ppg_page_runner").run;
  const version = pyodide.runPython("import ppg_edge, sys; f'{sys.version.split()[0]} {ppg_edge.__file__}'");
  status.textContent = `ready: Python ${version}`;
  return run;
}

const ready = boot();
// Settles, never rejects: the test reads why a boot failed from the page.
window.ppgBooted = ready.then(
  () => ({ ok: true, status: status.textContent }),
  (error) => ({ ok: false, error: String(error?.stack ?? error) }),
);
// Resolves to runner.run's JSON report (a string).
window.ppgRunPython = async (code, inputsJSON) => (await ready)(code, inputsJSON);
