/**
 * The labeling page: claim an exam, show it on ECG paper, pick classes, submit, next.
 *
 * The next exam is claimed ahead (`POST next/ {"after": current}`) and its
 * signal prefetched while the reader works, so "submit and next" draws from
 * memory. The decision is posted at the same moment the next exam is drawn; if
 * the server refuses it, the page goes back to that exam with the labels kept
 * and the API's message shown.
 *
 * Blinded: the page shows what the claim's exam payload holds and nothing else
 * (machine statements only when the campaign lets readers see them).
 */

import { ageText, api, dayText, el, examTitle, gettext, interpolate, isTextField, showMeasurements } from "./dom.js";
import { EcgViewer } from "./viewer.js";
import { keyRows } from "./viewer-controls.js";
import { Evidence } from "./viewer-evidence.js";
import { MeasureTable } from "./measurements.js";
import { TaxonomyPicker } from "./taxonomy-picker.js";

const root = document.getElementById("read");
const campaignId = root.dataset.campaign;
const taxonomyId = root.dataset.taxonomy;

const $ = (id) => document.getElementById(id);
const form = $("decision");
const search = $("class-search");
const submitButton = $("submit");
const comment = $("comment");
const statusLine = $("status");
const alertBox = $("alert");
const help = $("help");

const state = {
  current: null, // {assignment, exam, lease_expires_at}
  drawnAt: null, // performance.now() when the current ECG was drawn
  ahead: null, // Promise<claim | null>: the next exam, claimed and prefetched
  aheadSupported: true, // false when the server ignores "after" (one claim at a time)
  busy: false,
  submitQueued: false, // Enter pressed while the previous decision was being stored
  submitted: 0,
  exams: null,
};

// --- API --------------------------------------------------------------------------

function claim(after = null) {
  // null: nothing left for this reader (204)
  return api(`/api/campaigns/${campaignId}/next/`, { method: "POST", body: after ? { after } : {} });
}

// Start every request before Plotly.js runs: they travel while it compiles.
const firstClaim = claim();
const taxonomyRequest = api(`/api/taxonomies/${taxonomyId}/`);
const campaignRequest = api(`/api/campaigns/${campaignId}/`);
firstClaim.catch(() => {});
taxonomyRequest.catch(() => {});
campaignRequest.catch(() => {});

const viewer = new EcgViewer($("viewer"));
$("viewer").addEventListener("error", (event) => showError(event.detail.message));

// --- Messages -----------------------------------------------------------------------

let statusTimer = null;
function say(text) {
  clearTimeout(statusTimer);
  statusLine.textContent = text;
  statusLine.classList.toggle("shown", Boolean(text));
  if (text) statusTimer = setTimeout(() => statusLine.classList.remove("shown"), 4000);
}

function showError(message) {
  alertBox.hidden = false;
  alertBox.replaceChildren(
    el("span", {}, message),
    el("button", { type: "button", class: "link-button", onclick: clearError }, "Dismiss"),
  );
}

function clearError() {
  alertBox.hidden = true;
  alertBox.replaceChildren();
}

// --- Taxonomy picker ----------------------------------------------------------------

const picker = new TaxonomyPicker({
  list: $("taxonomy"),
  search,
  chosen: $("chosen"),
  emptyText: "No class chosen yet.",
  announce: say,
});

// --- Measurements and evidence (measurements.js, viewer-evidence.js) ------------------

const measure = new MeasureTable($("measure"), viewer, { announce: say });
const evidence = new Evidence(viewer, {
  classes: () => picker.codes.map((code) => ({ code, name: picker.name(code) })),
  list: $("evidence-list"),
  watch: $("chosen"),
  announce: say,
});

function fillHelp(classes) {
  $("help-classes").replaceChildren(
    ...classes.filter((c) => c.shortcut).map((c) => el("li", {}, el("kbd", {}, c.shortcut), ` ${c.name} (${c.code})`)),
  );
}

// --- Exams --------------------------------------------------------------------------

function showExam(claimed) {
  state.current = claimed;
  state.drawnAt = null;
  const { exam } = claimed;
  $("exam-title").textContent = examTitle(exam.display_key);
  const facts = [
    ["Age", ageText(exam) || "–"],
    ["Sex", { F: "Female", M: "Male" }[exam.sex] ?? "–"],
    [gettext("Recorded"), dayText(exam.acquired_on) || "–"],
    ["Sampling", `${exam.sampling_rate} Hz`],
    ["Length", `${Number(exam.duration_s).toFixed(exam.duration_s < 60 ? 1 : 0)} s`],
  ];
  $("exam-meta").replaceChildren(...facts.map(([k, v]) => el("div", {}, el("dt", {}, k), el("dd", {}, v))));
  showMeasurements($("measurements"), exam.measurements);
  const statements = Array.isArray(exam.machine_statements) ? exam.machine_statements.filter(Boolean) : [];
  $("machine").hidden = statements.length === 0;
  $("machine-list").replaceChildren(...statements.map((s) => el("li", {}, String(s))));
}

function resetForm() {
  // A new exam starts with the shortcut keys live, not inside the comment.
  if (isTextField(document.activeElement)) $("main").focus();
  picker.set([]);
  picker.clearSearch();
  for (const input of form.querySelectorAll("input[name=quality]")) input.checked = false;
  comment.value = "";
  measure.clear();
  evidence.clear();
}

function restoreForm(payload) {
  resetForm();
  picker.set(payload.labels);
  for (const input of form.querySelectorAll("input[name=quality]")) input.checked = payload.quality.includes(input.value);
  comment.value = payload.comment;
  measure.set(payload.measurements);
  evidence.set(payload.evidence);
}

/** Draw an exam; the reader's clock starts when its ECG is on screen. */
async function draw(claimed) {
  showExam(claimed);
  submitButton.disabled = true;
  try {
    await viewer.load(claimed.exam.id, { exam: claimed.exam });
  } catch (error) {
    showError(error.message);
  }
  if (state.current === claimed) {
    state.drawnAt = performance.now();
    submitButton.disabled = false;
  }
}

/** Claim the exam after the current one and fetch its signal into memory. */
function claimAhead() {
  if (!state.aheadSupported || state.ahead || !state.current) return;
  const after = state.current.assignment;
  state.ahead = claim(after).then(
    (next) => {
      if (next && next.assignment === after) {
        // The server hands back the same claim: it keeps one claim per reader.
        state.aheadSupported = false;
        return null;
      }
      if (next) viewer.prefetch(next.exam.id, { exam: next.exam });
      return next;
    },
    () => null, // claiming ahead is an optimisation; the submit path claims again
  );
}

function finish() {
  state.current = null;
  viewer.destroy();
  $("viewer").hidden = true;
  $("machine").hidden = true;
  form.hidden = true;
  $("exam-title").textContent = "All done";
  $("exam-meta").replaceChildren();
  const done = $("done");
  done.hidden = false;
  done.focus();
  say("No exams left for you in this campaign.");
}

function showProgress() {
  if (state.exams === null) return;
  const bar = $("progress-bar");
  bar.max = Math.max(state.exams, 1);
  bar.value = Math.min(state.submitted, bar.max);
  $("progress-text").textContent = `${state.submitted} of ${state.exams} exams read`;
}

async function refreshProgress(request = api(`/api/campaigns/${campaignId}/`)) {
  try {
    const data = await request;
    state.exams = data.progress?.exams ?? 0;
    state.submitted = data.progress?.my_reads_submitted ?? 0;
    showProgress();
  } catch {
    // progress is informative; a failure here must not stop reading
  }
}

function payload() {
  return {
    labels: picker.codes,
    quality: [...form.querySelectorAll("input[name=quality]:checked")].map((i) => i.value),
    comment: comment.value.trim(),
    measurements: measure.values,
    evidence: evidence.kept(),
    duration_ms: state.drawnAt === null ? null : Math.round(performance.now() - state.drawnAt),
  };
}

async function submit() {
  if (state.busy) {
    // The next ECG is on screen but the last decision is still travelling:
    // keep the key press and submit as soon as that one is stored.
    state.submitQueued = state.drawnAt !== null;
    return;
  }
  if (!state.current || submitButton.disabled) return;
  const decision = payload();
  if (!decision.labels.length && !decision.quality.length) {
    showError("Choose at least one class (or a signal-quality flag) before submitting.");
    search.focus();
    return;
  }
  clearError();
  state.busy = true;
  submitButton.disabled = true;
  const done = state.current;
  const post = api(`/api/assignments/${done.assignment}/decision/`, { method: "POST", body: decision });
  post.catch(() => {});
  try {
    const next = state.ahead ? await state.ahead : null;
    state.ahead = null;
    if (next) {
      // Draw the prefetched exam while the decision travels.
      resetForm();
      const drawing = draw(next);
      try {
        await post;
      } catch (error) {
        await drawing;
        state.ahead = Promise.resolve(next); // keep it for after the retry
        const drawnAt = state.drawnAt;
        await draw(done);
        state.drawnAt = drawnAt; // the clock of the first view goes on
        restoreForm(decision);
        showError(`Not submitted: ${error.message}`);
        state.submitQueued = false;
        return;
      }
      afterSubmit(done);
      await drawing;
    } else {
      try {
        await post;
      } catch (error) {
        showError(`Not submitted: ${error.message}`);
        state.submitQueued = false;
        submitButton.disabled = false;
        return;
      }
      afterSubmit(done);
      const fresh = await claim();
      if (!fresh) {
        finish();
        return;
      }
      resetForm();
      await draw(fresh);
    }
    say(interpolate("Submitted. Exam %(key)s is on screen.", { key: state.current.exam.display_key }));
    claimAhead();
  } catch (error) {
    showError(error.message);
    state.submitQueued = false;
    submitButton.disabled = !state.current;
  } finally {
    state.busy = false;
    if (state.submitQueued) {
      state.submitQueued = false;
      submit();
    }
  }
}

function afterSubmit(done) {
  state.submitted++;
  showProgress();
  refreshProgress();
  document.dispatchEvent(new CustomEvent("decision-submitted", { detail: { assignment: done.assignment } }));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

// --- Keyboard -------------------------------------------------------------------------

document.addEventListener("keydown", (event) => {
  if (help.open || event.defaultPrevented) return;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    submit();
    return;
  }
  if (isTextField(event.target) || event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.key === "/") {
    event.preventDefault();
    picker.focusSearch();
  } else if (event.key === "?") {
    event.preventDefault();
    help.showModal();
  } else if (event.key === "Enter") {
    // Buttons and links keep their own Enter.
    if (event.target instanceof HTMLElement && event.target.closest("button, a, summary")) return;
    event.preventDefault();
    submit();
  } else if (picker.shortcut(event.key)) {
    event.preventDefault();
  }
});

$("help-open").addEventListener("click", () => help.showModal());
$("help-viewer-keys").replaceChildren(...keyRows());

// The label panel folds away to give the ECG the width (remembered on this browser).
const PANEL_KEY = "ecg-annotator.panel-collapsed";
function foldPanel(collapsed) {
  root.classList.toggle("panel-collapsed", collapsed);
  $("panel-toggle").setAttribute("aria-expanded", String(!collapsed));
  $("panel-toggle").textContent = collapsed ? `‹ ${gettext("Labels")}` : `${gettext("Hide")} ›`;
  try {
    localStorage.setItem(PANEL_KEY, collapsed ? "1" : "");
  } catch {
    // storage refused (private mode): the choice lasts for this page
  }
}
$("panel-toggle").addEventListener("click", () => foldPanel(!root.classList.contains("panel-collapsed")));
try {
  if (localStorage.getItem(PANEL_KEY)) foldPanel(true);
} catch {
  // no storage: the panel starts open
}

// --- Start ---------------------------------------------------------------------------

async function start() {
  refreshProgress(campaignRequest);
  try {
    const taxonomy = await taxonomyRequest;
    picker.setClasses(taxonomy.classes);
    fillHelp(taxonomy.classes);
  } catch (error) {
    $("taxonomy").setAttribute("aria-busy", "false");
    $("taxonomy").replaceChildren(el("p", { class: "error" }, `The taxonomy could not be loaded: ${error.message}`));
    showError(error.message);
    return;
  }
  let first;
  try {
    first = await firstClaim;
  } catch (error) {
    $("exam-title").textContent = "No exam";
    showError(error.message);
    return;
  }
  if (!first) {
    finish();
    return;
  }
  // The campaign's display filters are where the reading starts; the reader may change them.
  if (first.display_filters) viewer.setFilters(first.display_filters);
  await draw(first);
  claimAhead();
}

start();
