// The web demo's page side: boots Pyodide and the ppg_edge wheel from ./vendor/,
// then renders what demo.py reports, for the SQL tab and the Python tab (whose
// examples are ./examples/*.py). The connection form can be prefilled from the URL
// fragment (#endpoint=…&user=…&password=…&database=…), which never leaves the browser.
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

/** A clock that shows, in the element `id`, the seconds since its start while something runs. */
function makeClock(id) {
  return {
    started: 0,
    timer: 0,
    start() {
      this.started = performance.now();
      this.timer = setInterval(() => this.show(), 50);
    },
    show() {
      $(id).textContent = ((performance.now() - this.started) / 1000).toFixed(2);
    },
    stop() {
      clearInterval(this.timer);
      this.show();
    },
  };
}

/** The SQL tab's clock. */
const clock = makeClock("elapsed");

/** One thing runs at a time; `stopper` is the Stop button that ends it, if any. */
function setBusy(busy, stopper = null) {
  for (const id of ["run", "compare", "py-run"]) $(id).disabled = busy;
  for (const id of ["stop", "py-stop"]) $(id).disabled = !busy || id !== stopper;
}

function rowsNote(count) {
  return `${number.format(count)} ${count === 1 ? "row" : "rows"}`;
}

function showError(info, box = $("error")) {
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
  if (info.frames?.length) box.append(frameList(info));
  box.hidden = false;
}

/** Where in the editor's code an exception happened: one line per frame. */
function frameList(info) {
  const list = document.createElement("ol");
  list.className = "frames";
  for (const frame of info.frames) {
    const item = document.createElement("li");
    const where = document.createElement("span");
    where.textContent = `line ${frame.line}${frame.where && frame.where !== "<module>" ? ` in ${frame.where}` : ""}`;
    const code = document.createElement("code");
    code.textContent = frame.code;
    item.append(where, code);
    list.append(item);
  }
  if (info.hidden_frames) {
    const item = document.createElement("li");
    item.className = "hidden-frames";
    item.textContent = `${info.hidden_frames} more ${info.hidden_frames === 1 ? "frame" : "frames"} inside ppg_edge and Pyodide`;
    list.append(item);
  }
  return list;
}

/** The Python tab's clock. */
const pyClock = makeClock("py-elapsed");

/** Printed text joins the previous span of the same stream (print writes text, then "\n"). */
function appendOutput(text, kind) {
  const output = $("py-output");
  const last = output.lastElementChild;
  if (last?.className === kind) {
    last.append(text);
  } else {
    const span = document.createElement("span");
    span.className = kind;
    span.textContent = text;
    output.append(span);
  }
  output.hidden = false;
  output.scrollTop = output.scrollHeight;
}

function pythonSettled(state, note) {
  pyClock.stop();
  $("py-status").dataset.state = state;
  $("py-note").textContent = note;
  setBusy(false);
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
    setBusy(true, "stop");
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
  /** An error; `count` rows arrived before it (they stay in the table). */
  failed(json, count) {
    clock.stop();
    $("status").dataset.state = "failed";
    if (typeof count === "number") {
      $("row-count").textContent = number.format(count);
      const shown = $("results").tBodies[0].rows.length;
      const notes = count ? [`· ${rowsNote(count)} arrived before the error`] : [];
      if (shown < count) notes.push(`showing the first ${number.format(shown)}`);
      $("note").textContent = notes.join(", ");
    }
    showError(JSON.parse(json));
    setBusy(false);
  },
  /** Text the Python tab's code printed (`kind`: stdout, stderr or note). */
  output(text, kind) {
    appendOutput(text, kind);
  },
  python_done(json) {
    const outcome = JSON.parse(json);
    if (outcome.value != null) appendOutput(`${outcome.value}\n`, "value");
    pythonSettled("done", outcome.stopped ? "· stopped" : "");
  },
  python_failed(json) {
    const info = JSON.parse(json);
    showError(info, $("py-error"));
    pythonSettled("failed", "");
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

/** Await a Python coroutine; a failure that escaped demo.py still lands in an error box. */
function settle(coroutine, failed = view.failed) {
  Promise.resolve(coroutine).catch((error) => {
    failed(JSON.stringify({ type: error.type ?? "Error", message: String(error.message ?? error) }));
  });
}

function selectTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
}

async function loadExample(name) {
  const answer = await fetch(`./examples/${name}.py`);
  if (!answer.ok) throw new Error(`example ${name}: HTTP ${answer.status}`);
  const source = await answer.text();
  $("python").value = source;
  $("python").rows = Math.min(Math.max(source.split("\n").length + 1, 8), 30); // all of it in view
  $("python").dataset.example = name;
}

/** Tab indents, Shift-Tab dedents, Ctrl-Enter runs: enough of an editor for examples. */
function editorKeys(event, run) {
  const area = event.target;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    run();
  } else if (event.key === "Tab" && !event.shiftKey) {
    event.preventDefault();
    area.setRangeText("    ", area.selectionStart, area.selectionEnd, "end");
  } else if (event.key === "Tab") {
    event.preventDefault();
    const start = area.value.lastIndexOf("\n", area.selectionStart - 1) + 1;
    const indent = area.value.slice(start, start + 4).match(/^ */)[0].length;
    if (indent) area.setRangeText("", start, start + indent, "end");
  }
}

function wirePython(demo) {
  const run = () => {
    if ($("py-run").disabled) return;
    $("py-output").replaceChildren();
    $("py-output").hidden = true;
    $("py-error").hidden = true;
    $("py-note").textContent = "";
    $("py-status").dataset.state = "running";
    $("py-status").dataset.runs = String(Number($("py-status").dataset.runs ?? 0) + 1);
    setBusy(true, "py-stop");
    pyClock.start();
    settle(demo.run_python(formJSON(), $("python").value), view.python_failed);
  };
  $("py-run").addEventListener("click", run);
  $("py-stop").addEventListener("click", () => demo.stop());
  $("python").addEventListener("keydown", (event) => editorKeys(event, run));
  for (const example of document.querySelectorAll("[data-example]")) {
    example.addEventListener("click", () => loadExample(example.dataset.example));
  }
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
    settle(demo.compare(formJSON(), Number($("count").value) || 10));
  });
  for (const example of document.querySelectorAll("[data-sql]")) {
    example.addEventListener("click", () => {
      $("sql").value = example.dataset.sql;
      run();
    });
  }
  wirePython(demo);
  setBusy(false);
}

prefill();
for (const tab of document.querySelectorAll("[role=tab]")) {
  tab.addEventListener("click", () => selectTab(tab.id.replace("tab-", "")));
}
loadExample("first_query").catch((error) => {
  $("python").value = `# could not load the examples: ${error.message}`;
});
boot().then(wire, (error) => {
  $("boot").textContent = `Python failed to load: ${error.message ?? error}`;
  $("boot").dataset.state = "failed";
});
