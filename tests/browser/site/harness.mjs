// Boots Pyodide, installs the ppg_edge wheel and runs the in-Pyodide suite.
// Shared by the test page, the module Web Worker and the Node runner.

const SUITE_DIR = "/ppg_suite";

/** Load Pyodide and the wheel, import ppg_edge; `marks` are performance.now() stamps. */
export async function boot({ loadPyodide, indexURL, wheelURL, suiteSource, log = () => {} }) {
  const marks = { bootStart: performance.now() };
  const pyodide = await loadPyodide({ indexURL, stdout: log, stderr: log });
  marks.pyodideLoaded = performance.now();
  await pyodide.loadPackage(wheelURL, { messageCallback: log, errorCallback: log });
  marks.wheelInstalled = performance.now();
  pyodide.FS.mkdirTree(SUITE_DIR);
  pyodide.FS.writeFile(`${SUITE_DIR}/ppg_browser_suite.py`, suiteSource);
  await pyodide.runPythonAsync(
    `import sys\nsys.path.insert(0, ${JSON.stringify(SUITE_DIR)})\nimport ppg_edge`,
  );
  marks.imported = performance.now();
  return { pyodide, marks };
}

/** Run `await ppg_browser_suite.<fn>(config_json)` and return its JSON string, parsed. */
export async function callSuite(pyodide, fn, config) {
  const namespace = pyodide.globals.get("dict")();
  try {
    namespace.set("config_json", JSON.stringify(config));
    const out = await pyodide.runPythonAsync(
      `import ppg_browser_suite\nawait ppg_browser_suite.${fn}(config_json)`,
      { globals: namespace },
    );
    return JSON.parse(out);
  } finally {
    namespace.destroy();
  }
}

/** The first query after import, timed into `marks.firstQueryAnswered`. */
export async function firstQuery(pyodide, config, marks) {
  const rows = await callSuite(pyodide, "first_query", config);
  marks.firstQueryAnswered = performance.now();
  return rows;
}

/** Every case of the suite: {caseName: {ok, value | error, ms}}. */
export function runSuite(pyodide, config) {
  return callSuite(pyodide, "run", config);
}

/** Boot, answer a first query, run the suite: what a worker or Node reports back. */
export async function bootAndRun(options, config) {
  const { pyodide, marks } = await boot(options);
  const firstRows = await firstQuery(pyodide, config, marks);
  const results = await runSuite(pyodide, config);
  return { marks, firstRows, results };
}
