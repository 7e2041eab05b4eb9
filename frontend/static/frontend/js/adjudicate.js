// Adjudication page: the disagreement queue, the ECG, every reader's labels side
// by side, and the final labels (pre-filled with what all readers agree on).
import {
  ageText,
  announce,
  api,
  dayText,
  el,
  enumLabels,
  examTitle,
  gettext,
  interpolate,
  isTextField,
  showMeasurements,
  showError,
} from "./dom.js";
import { EcgViewer } from "./viewer.js";
import { keyRows } from "./viewer-controls.js";
import { Evidence, evidenceLegend, PALETTE } from "./viewer-evidence.js";
import { readersMeasurements } from "./measurements.js";
import { TaxonomyPicker } from "./taxonomy-picker.js";

const root = document.getElementById("adjudicate");
const campaignId = root.dataset.campaign;
const taxonomyId = root.dataset.taxonomy;
const $ = (id) => document.getElementById(id);

const QUALITY = enumLabels("quality");
const STATE_TEXT = enumLabels("consensus_states");

const state = {
  showAll: new URLSearchParams(location.search).get("state") === "all",
  items: [],
  hasMore: false,
  pageSize: 50,
  index: -1,
  exams: new Map(),
  busy: false,
  colours: new Map(), // reader -> colour, the same on every exam of the session
};
let viewer = null; // made when its box is first shown, so it starts at its real width
let evidence = null; // the readers' evidence drawn on the viewer's tracing

const picker = new TaxonomyPicker({
  list: $("class-list"),
  search: $("class-search"),
  chosen: $("chosen"),
  emptyText: "No class chosen: the exam gets no labels.",
  pinnedId: "disputed",
  pinnedTitle: "In dispute",
  announce: (message) => {
    $("form-status").textContent = message;
  },
});
const say = (message) => announce($("live"), message);

// --- Queue ---------------------------------------------------------------------

function current() {
  return state.items[state.index] ?? null;
}

async function fetchQueuePage() {
  // Adjudicated exams leave the default queue, so the next page starts after the
  // exams still listed; duplicates (from other adjudicators' work) are skipped.
  const page = Math.floor(state.items.length / state.pageSize) + 1;
  const params = new URLSearchParams({ page: String(page) });
  if (state.showAll) params.set("state", "all");
  const data = await api(`/api/campaigns/${campaignId}/adjudication/?${params}`);
  // The campaign's display filters are where the viewer starts (once; then the adjudicator's).
  if (!viewer && data.display_filters) theViewer().setFilters(data.display_filters);
  if (data.next && data.results.length) state.pageSize = data.results.length;
  const known = new Set(state.items.map((item) => item.exam));
  const fresh = data.results.filter((item) => !known.has(item.exam));
  state.items.push(...fresh);
  state.hasMore = Boolean(data.next);
  return fresh.length;
}

async function refreshSummary() {
  try {
    const campaign = await api(`/api/campaigns/${campaignId}/`);
    const p = campaign.progress || {};
    const waiting = p.needs_adjudication || 0;
    const done = p.adjudicated || 0;
    $("queue-summary").textContent =
      `${waiting} ${waiting === 1 ? "exam needs" : "exams need"} adjudication · ${done} adjudicated`;
    $("queue-count").textContent = state.showAll ? String(waiting + done) : String(waiting);
  } catch (err) {
    $("queue-summary").textContent = "";
  }
}

function itemLabel(item) {
  const n = item.disagreeing_classes.length;
  if (item.state === "adjudicated") return "Adjudicated";
  return `${n} ${n === 1 ? "class" : "classes"} disputed`;
}

function renderQueue() {
  const list = $("queue-list");
  list.replaceChildren(
    ...state.items.map((item, i) =>
      el(
        "li",
        {},
        el(
          "button",
          {
            type: "button",
            class: `queue-item${item.state === "adjudicated" ? " done" : ""}`,
            "data-index": i,
            "aria-current": i === state.index ? "true" : null,
            tabindex: i === Math.max(state.index, 0) ? "0" : "-1",
          },
          el("span", { class: "code" }, item.display_key),
          el(
            "span",
            { class: "queue-state" },
            item.state === "adjudicated" ? "✓ " : "⚠ ",
            itemLabel(item),
          ),
        ),
      ),
    ),
  );
  $("queue-more").hidden = !state.hasMore;
  const active = list.querySelector('[aria-current="true"]');
  if (active) active.scrollIntoView({ block: "nearest" });
}

function updateEmpty() {
  const empty = state.items.length === 0;
  $("workspace").hidden = empty;
  $("empty").hidden = !empty;
  if (empty) {
    $("empty-text").textContent = state.showAll
      ? "No exam of this campaign has needed adjudication yet."
      : "Every disagreement in this campaign has been settled.";
  }
}

// --- One exam --------------------------------------------------------------------

async function openItem(index, { focus = false } = {}) {
  if (index < 0 || index >= state.items.length) return;
  state.index = index;
  const item = current();
  renderQueue();
  $("exam-heading").textContent = examTitle(item.display_key);
  $("exam-state").replaceChildren(
    el(
      "span",
      { class: `badge state-${item.state}` },
      item.state === "adjudicated" ? "✓ " : "⚠ ",
      STATE_TEXT.get(item.state) || item.state,
    ),
  );
  $("position").textContent = `${index + 1} of ${state.items.length}${state.hasMore ? "+" : ""}`;
  $("prev").disabled = index === 0;
  $("next").disabled = index === state.items.length - 1 && !state.hasMore;
  renderReads(item);
  renderEvidence(item);
  prefill(item);
  $("form-status").textContent = "";
  const url = new URL(location.href);
  url.searchParams.set("exam", item.exam);
  if (state.showAll) url.searchParams.set("state", "all");
  else url.searchParams.delete("state");
  history.replaceState(null, "", url);
  if (focus) $("exam-heading").focus();

  try {
    const exam = await examData(item.exam);
    if (current() !== item) return;
    renderMeta(exam, item);
    await theViewer().load(item.exam, { exam });
    if (current() !== item) return;
    const after = state.items[state.index + 1];
    if (after) prefetch(after.exam);
  } catch (err) {
    if (current() === item) showError(interpolate("Could not load exam %(key)s: %(error)s", { key: item.display_key, error: err.message }));
  }
}

async function examData(id) {
  let exam = state.exams.get(id);
  if (!exam) {
    exam = await api(`/api/exams/${id}/`);
    state.exams.set(id, exam);
  }
  return exam;
}

async function prefetch(id) {
  // The next exam's metadata tells the viewer how long the record is.
  try {
    theViewer().prefetch(id, { exam: await examData(id) });
  } catch {
    // a failed prefetch is retried when the exam is opened
  }
}

function theViewer() {
  viewer ??= new EcgViewer($("viewer"));
  evidence ??= new Evidence(viewer, { tool: false });
  return viewer;
}

function colourOf(reader) {
  if (!state.colours.has(reader)) state.colours.set(reader, PALETTE[state.colours.size % PALETTE.length]);
  return state.colours.get(reader);
}

/** Each reader's evidence on the tracing in their colour, and their measurements. */
function renderEvidence(item) {
  const groups = item.decisions.map((d) => ({ label: d.reader, colour: colourOf(d.reader), spans: d.evidence ?? [] }));
  theViewer();
  evidence.show(groups);
  const marked = groups.filter((g) => g.spans.length);
  $("evidence-legend").replaceChildren(marked.length ? evidenceLegend(groups) : "");
  $("reader-measures").replaceChildren(readersMeasurements(item.decisions, colourOf) ?? "");
}

function renderMeta(exam, item) {
  const parts = [
    exam.dataset,
    ageText(exam, { unit: true }),
    { F: "female", M: "male" }[exam.sex] || null,
    `${exam.duration_s.toFixed(1)} s at ${exam.sampling_rate} Hz`,
    dayText(item.acquired_on),
  ].filter(Boolean);
  $("exam-meta").textContent = parts.join(" · ");
  showMeasurements($("measurements"), exam.measurements);
  const statements = exam.machine_statements || [];
  $("machine").hidden = statements.length === 0;
  $("machine-list").replaceChildren(...statements.map((s) => el("li", {}, s)));
}

function renderReads(item) {
  const decisions = item.decisions;
  const sets = decisions.map((d) => new Set(d.labels));
  const disputed = new Set(item.disagreeing_classes);
  const codes = picker.inOrder(new Set(decisions.flatMap((d) => d.labels)));
  const table = $("reads-table");
  const head = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col" }, "Class"),
      decisions.map((d) => el("th", { scope: "col", class: "reader-col" }, d.reader)),
    ),
  );
  const rows = codes.map((code) => {
    const votes = sets.filter((s) => s.has(code)).length;
    const isDisputed = disputed.has(code) || (votes > 0 && votes < sets.length);
    return el(
      "tr",
      { class: isDisputed ? "disputed" : null, "data-code": code },
      el(
        "th",
        { scope: "row" },
        el("span", { class: "code" }, code),
        isDisputed
          ? el("span", { class: "flag-disputed" }, el("span", { "aria-hidden": "true" }, "⚠ "), "Disagree")
          : null,
        el("span", { class: "cls-name" }, picker.name(code)),
      ),
      sets.map((s) =>
        s.has(code)
          ? el("td", { class: "vote yes" }, el("span", { "aria-hidden": "true" }, "✓ "), "Yes")
          : el("td", { class: "vote no" }, el("span", { "aria-hidden": "true" }, "– "), "No"),
      ),
    );
  });
  if (rows.length === 0) {
    rows.push(
      el("tr", {}, el("td", { colspan: decisions.length + 1, class: "empty" }, "No reader chose any class.")),
    );
  }
  const extra = el(
    "tbody",
    { class: "reader-notes" },
    el(
      "tr",
      {},
      el("th", { scope: "row" }, "Quality"),
      decisions.map((d) =>
        el(
          "td",
          {},
          d.quality.length
            ? d.quality.map((q) =>
                el("span", { class: "quality" }, el("span", { "aria-hidden": "true" }, "⚑ "), QUALITY.get(q) || q),
              )
            : el("span", { class: "muted" }, "—"),
        ),
      ),
    ),
    el(
      "tr",
      {},
      el("th", { scope: "row" }, "Comment"),
      decisions.map((d) => el("td", { class: "comment" }, d.comment || el("span", { class: "muted" }, "—"))),
    ),
  );
  table.replaceChildren(
    el("caption", { class: "visually-hidden" }, "Each reader's labels; classes the readers disagree on are marked Disagree."),
    head,
    el("tbody", {}, rows),
    extra,
  );

  const models = item.machine_readings ?? [];
  $("model-reads").hidden = models.length === 0;
  $("model-reads-list").replaceChildren(
    ...models.map((m) =>
      el(
        "li",
        {},
        el("strong", {}, m.reader),
        ": ",
        m.labels.length
          ? m.labels.map((code) => el("span", { class: "code", title: picker.name(code) }, code))
          : el("span", { class: "muted" }, gettext("no class")),
      ),
    ),
  );

  const prior = $("prior");
  if (item.adjudication) {
    const a = item.adjudication;
    prior.hidden = false;
    // replaceChildren writes a null child as the text "null": absent parts are left out.
    const parts = [
      el("h3", {}, "✓ Adjudicated"),
      el(
        "p",
        {},
        `By ${a.adjudicator} (version ${a.version}): `,
        a.labels.length
          ? a.labels.map((code) => el("span", { class: "chip static", title: picker.name(code) }, code))
          : "no classes",
      ),
      a.note?.trim() ? el("p", { class: "muted" }, interpolate("Note: %(note)s", { note: a.note })) : null,
    ];
    prior.replaceChildren(...parts.filter(Boolean));
  } else {
    prior.hidden = true;
    prior.replaceChildren();
  }
}

// --- Final labels -------------------------------------------------------------------

/** The final labels start as what every reader chose (or the last adjudication). */
function prefill(item) {
  if (item.adjudication) {
    picker.set(item.adjudication.labels);
    $("note").value = item.adjudication.note || "";
    $("submit").textContent = "Revise and next";
  } else {
    const sets = item.decisions.map((d) => new Set(d.labels));
    picker.set(sets.length ? [...sets[0]].filter((code) => sets.every((s) => s.has(code))) : []);
    $("note").value = "";
    $("submit").textContent = "Save and next";
  }
  const n = item.decisions.length;
  const disputed = new Set(item.disagreeing_classes);
  for (const code of new Set(item.decisions.flatMap((d) => d.labels))) {
    if (!item.decisions.every((d) => d.labels.includes(code))) disputed.add(code);
  }
  // The classes in dispute come first, so that deciding them takes one click.
  picker.pin(disputed);
  const notes = new Map();
  for (const code of picker.byCode.keys()) {
    const votes = item.decisions.filter((d) => d.labels.includes(code)).length;
    if (votes) notes.set(code, { text: `${votes}/${n}`, title: `${votes} of ${n} readers chose it` });
  }
  picker.annotate(notes, disputed);
}

// --- Submit ------------------------------------------------------------------

async function submit(event) {
  event?.preventDefault();
  const item = current();
  if (!item || state.busy) return;
  state.busy = true;
  $("submit").disabled = true;
  $("form-status").textContent = "Saving…";
  const labels = picker.codes;
  try {
    const saved = await api(`/api/campaigns/${campaignId}/adjudication/${item.exam}/`, {
      method: "POST",
      body: { labels, note: $("note").value.trim() },
    });
    const message = interpolate("Saved final labels for %(key)s: %(labels)s.", {
      key: item.display_key,
      labels: saved.labels.join(", ") || gettext("none"),
    });
    let next = state.index + 1;
    if (state.showAll) {
      item.state = "adjudicated";
      item.adjudication = {
        labels: saved.labels,
        note: saved.note,
        adjudicator: saved.adjudicator,
        version: saved.version,
      };
    } else {
      state.items.splice(state.index, 1);
      next = state.index;
    }
    if (next >= state.items.length && state.hasMore) await fetchQueuePage();
    refreshSummary();
    if (state.items.length === 0) {
      state.index = -1;
      renderQueue();
      updateEmpty();
      say(`${message} The queue is empty.`);
      $("empty").querySelector("h2").focus();
      return;
    }
    next = Math.min(next, state.items.length - 1);
    await openItem(next);
    say(`${message} ${interpolate("Now showing %(key)s.", { key: current().display_key })}`);
    $("form-status").textContent = message;
  } catch (err) {
    $("form-status").textContent = `Not saved: ${err.message}`;
    say(`Not saved: ${err.message}`);
  } finally {
    state.busy = false;
    $("submit").disabled = false;
  }
}

async function go(delta) {
  let target = state.index + delta;
  if (target >= state.items.length && state.hasMore) await fetchQueuePage();
  target = Math.max(0, Math.min(target, state.items.length - 1));
  if (target !== state.index) {
    await openItem(target);
    say(
    interpolate("Exam %(key)s, %(position)s of %(count)s.", {
      key: current().display_key,
      position: target + 1,
      count: state.items.length,
    }),
  );
  }
}

// --- Events ------------------------------------------------------------------

function onKey(event) {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    event.preventDefault();
    submit();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || isTextField(event.target)) return;
  if (!current()) return;
  const key = event.key;
  if (key === "?") {
    event.preventDefault();
    $("help").showModal();
  } else if (key === "/") {
    event.preventDefault();
    picker.focusSearch();
  } else if (key === "j") {
    event.preventDefault();
    go(1);
  } else if (key === "k") {
    event.preventDefault();
    go(-1);
  } else if (!event.target.closest(".queue-list") && picker.shortcut(key)) {
    event.preventDefault();
  }
}

function onQueueKey(event) {
  const button = event.target.closest(".queue-item");
  if (!button) return;
  const buttons = [...$("queue-list").querySelectorAll(".queue-item")];
  const at = buttons.indexOf(button);
  let target = null;
  if (event.key === "ArrowDown") target = Math.min(at + 1, buttons.length - 1);
  else if (event.key === "ArrowUp") target = Math.max(at - 1, 0);
  else if (event.key === "Home") target = 0;
  else if (event.key === "End") target = buttons.length - 1;
  if (target === null) return;
  event.preventDefault();
  for (const b of buttons) b.tabIndex = -1;
  buttons[target].tabIndex = 0;
  buttons[target].focus();
}

async function reloadQueue() {
  state.items = [];
  state.index = -1;
  try {
    await fetchQueuePage();
  } catch (err) {
    showError(`Could not load the queue: ${err.message}`);
    return;
  }
  refreshSummary();
  updateEmpty();
  renderQueue();
  if (state.items.length === 0) return;
  const wanted = Number(new URLSearchParams(location.search).get("exam"));
  const at = state.items.findIndex((item) => item.exam === wanted);
  await openItem(at >= 0 ? at : 0);
}

async function init() {
  $("show-all").checked = state.showAll;
  try {
    picker.setTaxonomy(await api(`/api/taxonomies/${taxonomyId}/`));
  } catch (err) {
    showError(`Could not load the taxonomy: ${err.message}`);
    return;
  }

  $("queue-list").addEventListener("click", (event) => {
    const button = event.target.closest(".queue-item");
    if (button) openItem(Number(button.dataset.index), { focus: true });
  });
  $("queue-list").addEventListener("keydown", onQueueKey);
  $("queue-more").addEventListener("click", async () => {
    await fetchQueuePage();
    renderQueue();
  });
  $("prev").addEventListener("click", () => go(-1));
  $("next").addEventListener("click", () => go(1));
  $("show-all").addEventListener("change", (event) => {
    state.showAll = event.target.checked;
    reloadQueue();
  });
  $("final-form").addEventListener("submit", submit);
  document.addEventListener("keydown", onKey);
  $("help-viewer-keys").replaceChildren(...keyRows());
  $("help-open").addEventListener("click", () => $("help").showModal());
  await reloadQueue();
}

init();
