// The web demo's page side: boots Pyodide and the ppg_edge wheel from ./vendor/,
// then renders what demo.py reports. The connection form can be prefilled from the
// URL fragment (#endpoint=…&user=…&password=…&database=…), which never leaves the browser.
import { loadPyodide } from "./vendor/pyodide/pyodide.mjs";

const $ = (id) => document.getElementById(id);
const fields = ["endpoint", "user", "password", "database"];
const number = new Intl.NumberFormat("en-US");

function prefill() {
  const given = new URLSearchParams(location.hash.slice(1));
  $("endpoint").value = location.origin.startsWith("http") ? location.origin : "";
  for (const name of fields) {
    if (given.has(name)) $(name).value = given.get(name);
  }
}

function formJSON() {
  return JSON.stringify(Object.fromEntries(fields.map((name) => [name, $(name).value.trim()])));
}

/** A clock that shows elapsed seconds while a statement runs. */
const clock = {
  started: 0,
  timer: 0,
  start() {
    this.started = performance.now();
    this.timer = setInterval(() => this.show(), 50);
  },
  show() {
    $("elapsed").textContent = ((performance.now() - this.started) / 1000).toFixed(2);
  },
  stop() {
    clearInterval(this.timer);
    this.show();
  },
};

function setBusy(busy) {
  $("run").disabled = busy;
  $("compare").disabled = busy;
  $("stop").disabled = !busy;
}

function showError(info) {
  const box = $("error");
  box.replaceChildren();
  const title = document.createElement("h3");
  title.textContent = info.type;
  if (info.code) {
    const code = document.createElement("code");
    code.textContent = info.code;
    title.append(code);
  }
  const message = document.createElement("p");
  message.textContent = info.message;
  box.append(title, message);
  const details = Object.entries(info.details ?? {});
  if (details.length) {
    const list = document.createElement("dl");
    for (const [key, value] of details) {
      const term = document.createElement("dt");
      const text = document.createElement("dd");
      term.textContent = key;
      text.textContent = value;
      list.append(term, text);
    }
    box.append(list);
  }
  box.hidden = false;
}

/** The page's state changes; demo.py calls all but `started`, with JSON strings and numbers. */
const view = {
  started() {
    $("error").hidden = true;
    $("results").tHead.replaceChildren();
    $("results").tBodies[0].replaceChildren();
    $("row-count").textContent = "0";
    $("note").textContent = "";
    $("status").dataset.state = "running";
    $("status").dataset.runs = String(Number($("status").dataset.runs ?? 0) + 1);
    setBusy(true);
    clock.start();
  },
  columns(json) {
    const row = document.createElement("tr");
    for (const column of JSON.parse(json)) {
      const th = document.createElement("th");
      const name = document.createElement("span");
      name.textContent = column.name;
      const oid = document.createElement("small");
      oid.textContent = `oid ${column.oid}`;
      th.append(name, " ", oid);
      row.append(th);
    }
    $("results").tHead.append(row);
  },
  rows(json, count) {
    const body = $("results").tBodies[0];
    const fragment = document.createDocumentFragment();
    for (const values of JSON.parse(json)) {
      const row = document.createElement("tr");
      for (const value of values) {
        const td = document.createElement("td");
        if (value === null) {
          td.textContent = "NULL";
          td.className = "null";
        } else {
          td.textContent = value;
        }
        row.append(td);
      }
      fragment.append(row);
    }
    body.append(fragment);
    $("row-count").textContent = number.format(count);
  },
  finished(count, stopped) {
    clock.stop();
    $("row-count").textContent = number.format(count);
    const shown = $("results").tBodies[0].rows.length;
    const notes = [];
    if (!$("results").tHead.rows.length) notes.push("· statement completed, no row set");
    if (shown < count) notes.push(`· showing the first ${number.format(shown)}`);
    if (stopped) notes.push("· stopped");
    $("note").textContent = notes.join(" ");
    $("status").dataset.state = "done";
    setBusy(false);
  },
  failed(json) {
    clock.stop();
    $("status").dataset.state = "failed";
    showError(JSON.parse(json));
    setBusy(false);
  },
  compared(json) {
    const figures = JSON.parse(json);
    const slowest = Math.max(figures.sequential_ms, figures.pipelined_ms);
    const ms = (value) => `${value.toFixed(1)} ms`;
    $("sequential-ms").textContent = ms(figures.sequential_ms);
    $("pipelined-ms").textContent = ms(figures.pipelined_ms);
    $("sequential-bar").style.width = `${(100 * figures.sequential_ms) / slowest}%`;
    $("pipelined-bar").style.width = `${(100 * figures.pipelined_ms) / slowest}%`;
    const saved = figures.sequential_ms - figures.pipelined_ms;
    const factor = figures.sequential_ms / figures.pipelined_ms;
    $("saving").textContent =
      saved > 0
        ? `${figures.count} queries: pipelining saved ${ms(saved)} ` +
          `(${factor.toFixed(1)}× faster; ${figures.count} round trips became 1).`
        : `${figures.count} queries: no saving measured; round trips to this server cost ` +
          `almost nothing (${figures.count} round trips became 1).`;
    $("comparison").hidden = false;
    setBusy(false);
  },
};

async function boot() {
  const started = performance.now();
  const manifest = await (await fetch("./vendor/manifest.json")).json();
  const pyodide = await loadPyodide({ indexURL: new URL("./vendor/pyodide/", location.href).href });
  await pyodide.loadPackage(new URL(`./vendor/${manifest.wheel}`, location.href).href);
  pyodide.FS.writeFile("/home/pyodide/ppg_demo.py", await (await fetch("./demo.py")).text());
  const demo = pyodide.pyimport("ppg_demo").Demo(view);
  const version = pyodide.runPython("import sys; '.'.join(map(str, sys.version_info[:2]))");
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  $("boot").textContent = `Python ${version} · ppg_edge ${manifest.version} · ready in ${seconds} s`;
  $("boot").dataset.state = "ready";
  return demo;
}

/** Await a Python coroutine; a failure that escaped demo.py still lands in the error box. */
function settle(coroutine) {
  Promise.resolve(coroutine).catch((error) => {
    view.failed(JSON.stringify({ type: error.type ?? "Error", message: String(error.message ?? error) }));
  });
}

function wire(demo) {
  const run = () => {
    if ($("run").disabled) return;
    view.started();
    settle(demo.run(formJSON(), $("sql").value));
  };
  $("run").addEventListener("click", run);
  $("sql").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) run();
  });
  $("stop").addEventListener("click", () => demo.stop());
  $("compare").addEventListener("click", () => {
    setBusy(true);
    $("stop").disabled = true;
    settle(demo.compare(formJSON(), Number($("count").value) || 10));
  });
  for (const example of document.querySelectorAll("[data-sql]")) {
    example.addEventListener("click", () => {
      $("sql").value = example.dataset.sql;
      run();
    });
  }
  setBusy(false);
  $("stop").disabled = true;
}

prefill();
boot().then(wire, (error) => {
  $("boot").textContent = `Python failed to load: ${error.message ?? error}`;
  $("boot").dataset.state = "failed";
});
