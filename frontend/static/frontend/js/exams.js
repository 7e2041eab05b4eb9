// Exam browser: filter by dataset or exam id, page with cursors, open an exam in
// the 12-lead viewer with its metadata and the machine's statements.
import { EcgViewer } from "./viewer.js";
import { ageText, api, el, examTitle, gettext, interpolate, showError } from "./dom.js";
import { showRecord } from "./exam-record.js";

const $ = (id) => document.getElementById(id);
const SEX = { F: "Female", M: "Male", U: "Unknown" };
const MEASUREMENTS = {
  hr_bpm: ["Heart rate", "bpm"],
  rr_ms: ["RR interval", "ms"],
  pr_ms: ["PR interval", "ms"],
  qrs_ms: ["QRS duration", "ms"],
  qt_ms: ["QT interval", "ms"],
  qtc_ms: ["QTc interval", "ms"],
  p_axis_deg: ["P axis", "°"],
  qrs_axis_deg: ["QRS axis", "°"],
  t_axis_deg: ["T axis", "°"],
};

const state = { cursor: "", next: null, previous: null, rows: [], open: null, datasets: new Set() };
let viewer = null; // made when its box is first shown, so it starts at its real width

// --- Helpers -------------------------------------------------------------------

function recorded(exam) {
  if (!exam.acquired_at) return "unknown";
  return new Date(exam.acquired_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function cursorOf(url) {
  return url ? new URL(url, location.href).searchParams.get("cursor") || "" : null;
}

// --- List ----------------------------------------------------------------------

function filters() {
  const params = new URLSearchParams();
  const dataset = $("filter-dataset").value.trim();
  const examId = $("filter-exam").value.trim();
  if (dataset) params.set("dataset", dataset);
  if (examId) params.set("exam_id_prefix", examId);
  return params;
}

function syncUrl() {
  const params = filters();
  if (state.cursor) params.set("cursor", state.cursor);
  if (state.open) params.set("exam", state.open);
  const url = new URL(location.href);
  url.search = params.toString();
  history.replaceState(null, "", url);
}

async function loadList() {
  const params = filters();
  if (state.cursor) params.set("cursor", state.cursor);
  $("exam-body").setAttribute("aria-busy", "true");
  let data;
  try {
    data = await api(`/api/exams/?${params}`);
  } catch (err) {
    showError(`Could not load the exams: ${err.message}`);
    return;
  }
  showError("");
  state.rows = data.results;
  state.next = cursorOf(data.next);
  state.previous = cursorOf(data.previous);
  $("next-page").disabled = state.next === null;
  $("prev-page").disabled = state.previous === null;
  for (const exam of data.results) state.datasets.add(exam.dataset);
  $("datasets").replaceChildren(...[...state.datasets].sort().map((name) => el("option", { value: name })));
  renderRows();
  showCount();
  const n = data.results.length;
  const filtered = [...filters().keys()].length > 0;
  $("list-count").textContent = n
    ? `${n} on this page${state.next !== null ? ", more after" : ""}`
    : "";
  $("live").textContent = n
    ? `${n} ${n === 1 ? "exam" : "exams"} shown${filtered ? " for these filters" : ""}.`
    : "No exams match these filters.";
  $("exam-body").setAttribute("aria-busy", "false");
  syncUrl();
}

/** The total the filters find, beside the list (a COUNT, asked for apart). */
async function showCount() {
  const params = filters();
  try {
    const { count } = await api(`/api/exams/count/?${params}`);
    $("list-total").textContent = interpolate(gettext("%(n)s exams in all"), { n: count.toLocaleString() });
  } catch {
    $("list-total").textContent = "";
  }
}

function renderRows() {
  const body = $("exam-body");
  if (!state.rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 4, class: "muted" }, "No exams match these filters.")));
    return;
  }
  body.replaceChildren(
    ...state.rows.map((exam) =>
      el(
        "tr",
        { "data-id": exam.id, class: exam.id === state.open ? "selected" : null },
        el(
          "th",
          { scope: "row" },
          el(
            "button",
            {
              type: "button",
              class: "link-button code",
              "data-id": exam.id,
              title: exam.exam_id,
              "aria-current": exam.id === state.open ? "true" : null,
            },
            exam.exam_id,
          ),
        ),
        el("td", {}, exam.dataset),
        el("td", {}, [ageText(exam), exam.sex !== "U" ? exam.sex : ""].filter(Boolean).join(" · ") || "—"),
        el("td", { class: "num" }, `${exam.duration_s.toFixed(1)} s`),
      ),
    ),
  );
}

// --- Detail --------------------------------------------------------------------

function pairs(list, entries) {
  list.replaceChildren(
    ...entries
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([key, value]) => el("div", {}, el("dt", {}, key), el("dd", {}, value))),
  );
}

function theViewer() {
  viewer ??= new EcgViewer($("viewer"), { technical: true });
  return viewer;
}

async function openExam(id, { focus = true } = {}) {
  state.open = id;
  for (const row of $("exam-body").querySelectorAll("tr[data-id]")) {
    const on = Number(row.dataset.id) === id;
    row.classList.toggle("selected", on);
    const button = row.querySelector("button");
    if (on) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  syncUrl();
  let exam;
  try {
    exam = state.rows.find((e) => e.id === id) || (await api(`/api/exams/${id}/`));
  } catch (err) {
    showError(`Could not open the exam: ${err.message}`);
    return;
  }
  if (state.open !== id) return;
  $("detail-heading").textContent = `Exam ${exam.exam_id}`;
  $("detail-empty").hidden = true;
  $("detail").hidden = false;
  if (focus) $("detail-heading").focus();
  pairs($("exam-meta"), [
    ["Dataset", exam.dataset],
    [gettext("Readers know it as"), examTitle(exam.display_key)],
    ["Patient (pseudonym)", exam.patient_pseudonym],
    ["Age", ageText(exam, { unit: true }) || gettext("unknown")],
    ["Sex", SEX[exam.sex] || exam.sex],
    ["Recorded", recorded(exam)],
    ["Sampling", `${exam.sampling_rate} Hz · ${exam.n_samples.toLocaleString()} samples (${exam.duration_s.toFixed(1)} s)`],
    ["Leads", (exam.lead_names || []).join(", ")],
  ]);
  const measurements = Object.entries(exam.measurements || {}).map(([key, value]) => {
    const [label, unit] = MEASUREMENTS[key] || [key, ""];
    return [label, `${value}${unit === "°" ? unit : unit ? ` ${unit}` : ""}`];
  });
  pairs($("exam-measurements"), measurements.length ? measurements : [["—", "none recorded"]]);
  const statements = exam.machine_statements || [];
  $("exam-statements").replaceChildren(
    ...(statements.length
      ? statements.map((s) => el("li", {}, s))
      : [el("li", { class: "muted" }, "None recorded.")]),
  );
  $("live").textContent = `Opened exam ${exam.exam_id}.`;
  showRecord($("exam-record"), id).catch((err) => {
    $("exam-record").replaceChildren(el("p", { class: "error" }, err.message));
  });
  try {
    await theViewer().load(id, { exam });
  } catch (err) {
    if (state.open === id) showError(`Could not draw exam ${exam.exam_id}: ${err.message}`);
  }
}

// --- Events ------------------------------------------------------------------

function onTableKey(event) {
  const button = event.target.closest(".link-button");
  if (!button || !["ArrowDown", "ArrowUp"].includes(event.key)) return;
  const buttons = [...$("exam-body").querySelectorAll(".link-button")];
  const at = buttons.indexOf(button);
  const target = buttons[event.key === "ArrowDown" ? at + 1 : at - 1];
  if (target) {
    event.preventDefault();
    target.focus();
  }
}

async function init() {
  const query = new URLSearchParams(location.search);
  $("filter-dataset").value = query.get("dataset") || "";
  $("filter-exam").value = query.get("exam_id_prefix") || query.get("exam_id") || "";
  state.cursor = query.get("cursor") || "";

  $("exam-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    state.cursor = "";
    loadList();
  });
  $("clear-filters").addEventListener("click", () => {
    $("filter-dataset").value = "";
    $("filter-exam").value = "";
    state.cursor = "";
    loadList();
  });
  $("next-page").addEventListener("click", () => {
    state.cursor = state.next;
    loadList();
  });
  $("prev-page").addEventListener("click", () => {
    state.cursor = state.previous;
    loadList();
  });
  $("exam-body").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) openExam(Number(row.dataset.id), { focus: !event.target.closest("button") });
  });
  $("exam-body").addEventListener("keydown", onTableKey);

  await loadList();
  const wanted = Number(query.get("exam"));
  if (wanted) openExam(wanted, { focus: false });
}

init();
