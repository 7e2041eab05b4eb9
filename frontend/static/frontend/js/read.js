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
 *
 * A read can be taken back: "Previous read" (Backspace) reopens the reader's
 * reads of this session, newest first, editable (PUT with If-Match) while the
 * exam is not settled and read-only with the reason after; saving or Esc
 * returns to the exam the reader was on. `?decision=<id>` (from "My reads")
 * opens one read the same way. What is ticked but not submitted is kept as a
 * draft per assignment (read-drafts.js) and comes back after a reload.
 */

import { ageText, api, dayText, el, examTitle, gettext, interpolate, isTextField, showMeasurements } from "./dom.js";
import { EcgViewer } from "./viewer.js";
import { keyRows } from "./viewer-controls.js";
import { Evidence } from "./viewer-evidence.js";
import { MeasureTable } from "./measurements.js";
import { TaxonomyPicker } from "./taxonomy-picker.js";
import { clearDraft, loadDraft, pruneDrafts } from "./read-drafts.js";
import { foldablePanel, ReadForm } from "./read-form.js";

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
  previousQueued: false, // "Previous read" pressed then
  submitted: 0,
  exams: null,
  reads: [], // this session's reads, oldest first: {decision, claim}
  editing: null, // the read reopened: {index, decision, claim}
  resume: null, // where reading goes on after an edit: {claim, elapsed} or null
  finished: false,
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
    el("button", { type: "button", class: "link-button", onclick: clearError }, gettext("Dismiss")),
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
  onEmptyEnter: () => submit(),
});

// --- Measurements and evidence (measurements.js, viewer-evidence.js) ------------------

const measure = new MeasureTable($("measure"), viewer, { announce: say });
const evidence = new Evidence(viewer, {
  classes: () => picker.codes.map((code) => ({ code, name: picker.name(code) })),
  list: $("evidence-list"),
  watch: $("chosen"),
  announce: say,
});

// The panel's read; its draft is the current claim's, never a reopened read's.
const panel = new ReadForm({
  form,
  picker,
  comment,
  qualityChips: $("chosen-quality"),
  draftOf: () => (state.current && !state.editing ? state.current.assignment : null),
  parts: {
    measurements: { read: () => measure.values, set: (v) => measure.set(v), clear: () => measure.clear() },
    evidence: { read: () => evidence.kept(), set: (v) => evidence.set(v), clear: () => evidence.clear() },
  },
});

function fillHelp(classes) {
  $("help-classes").replaceChildren(
    ...classes.filter((c) => c.shortcut).map((c) => el("li", {}, el("kbd", {}, c.shortcut), ` ${c.name} (${c.code})`)),
  );
}

// --- Exams --------------------------------------------------------------------------

function showExam(claimed) {
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

/** Draw an exam; the reader's clock starts when its ECG is on screen. */
async function draw(claimed) {
  state.current = claimed;
  state.drawnAt = null;
  showExam(claimed);
  const draft = loadDraft(claimed.assignment);
  if (draft) {
    panel.restore(draft);
    say(gettext("Your labels for this exam that were not submitted are back."));
  }
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
  state.finished = true;
  panel.reset();
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
    ...panel.read,
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
  if (state.editing) {
    saveEdit();
    return;
  }
  if (!state.current || submitButton.disabled) return;
  const decision = payload();
  if (!decision.labels.length && !decision.quality.length) {
    // Said, not focused: the next key is still a shortcut.
    showError(gettext("Choose at least one class (or a signal-quality flag) before submitting."));
    return;
  }
  const broken = panel.ruleRefusal(decision.labels);
  if (broken) return showError(broken);
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
      panel.reset();
      const drawing = draw(next);
      let stored;
      try {
        stored = await post;
      } catch (error) {
        if (!inAnotherTab(error)) {
          await drawing;
          state.ahead = Promise.resolve(next); // keep it for after the retry
          const drawnAt = state.drawnAt;
          await draw(done);
          state.drawnAt = drawnAt; // the clock of the first view goes on
          panel.restore(decision);
          showError(interpolate(gettext("Not submitted: %(reason)s"), { reason: error.message }));
          state.submitQueued = false;
          return;
        }
      }
      afterSubmit(done, stored);
      await drawing;
    } else {
      let stored;
      try {
        stored = await post;
      } catch (error) {
        if (!inAnotherTab(error)) {
          showError(interpolate(gettext("Not submitted: %(reason)s"), { reason: error.message }));
          state.submitQueued = false;
          submitButton.disabled = false;
          return;
        }
      }
      afterSubmit(done, stored);
      const fresh = await claim();
      if (!fresh) {
        finish();
        return;
      }
      panel.reset();
      await draw(fresh);
    }
    const key = state.current.exam.display_key;
    say(
      state.reads.at(-1)?.claim === done
        ? interpolate(gettext("Submitted. Exam %(key)s is on screen."), { key })
        : interpolate(gettext("That exam was already submitted in another tab. Exam %(key)s is on screen."), { key }),
    );
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
    } else if (state.previousQueued) {
      state.previousQueued = false;
      previousRead();
    }
  }
}

/** The refusal of a read another tab (or window) of this reader already sent. */
function inAnotherTab(error) {
  return error?.code === "already_submitted";
}

/** `stored`: the decision the server kept, or undefined when another tab had sent it. */
function afterSubmit(done, stored) {
  panel.cancel();
  clearDraft(done.assignment);
  if (stored) {
    state.reads.push({ decision: stored.id, claim: done });
    state.submitted++;
    showProgress();
  }
  refreshProgress();
  document.dispatchEvent(new CustomEvent("decision-submitted", { detail: { assignment: done.assignment } }));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});

// --- Taking a read back ---------------------------------------------------------------

/** Reopen one of the reader's reads (`entry`: {decision: id, claim}): its exam on
 * screen, its labels in the panel. Reading resumes at `resume` ({claim, elapsed}),
 * by default the exam on screen when no read is open yet. */
async function openRead(entry, index, resume = undefined) {
  if (state.busy) return;
  const opened = performance.now();
  if (resume !== undefined) {
    state.resume = resume;
  } else if (!state.editing) {
    panel.flush();
    state.resume = state.current
      ? { claim: state.current, elapsed: state.drawnAt === null ? 0 : opened - state.drawnAt }
      : null;
  }
  let decision;
  try {
    decision = await api(`/api/decisions/${entry.decision}/`);
  } catch (error) {
    showError(error.message);
    return;
  }
  state.editing = { index, decision, claim: entry.claim };
  // Enter now saves the read, not presses "Previous read" again.
  if (document.activeElement === $("previous")) $("main").focus();
  clearError();
  say("");
  panel.restore(decision);
  form.scrollTop = 0; // the chosen classes first
  showEditing();
  showExam(entry.claim);
  try {
    await viewer.load(entry.claim.exam.id, { exam: entry.claim.exam });
  } catch (error) {
    showError(error.message);
  }
  document.dispatchEvent(new CustomEvent("read-opened", { detail: { decision: decision.id, ms: performance.now() - opened } }));
}

function showEditing() {
  const editing = state.editing;
  root.classList.toggle("editing", Boolean(editing));
  const banner = $("edit-banner");
  banner.hidden = !editing;
  $("panel-body").inert = Boolean(editing && !editing.decision.editable);
  if (!editing) {
    submitButton.textContent = gettext("Submit and next");
    return;
  }
  const { decision, claim: { exam } } = editing;
  const values = { key: exam.display_key, version: decision.version, reason: decision.locked_reason };
  $("edit-text").textContent = decision.editable
    ? interpolate(gettext("You are changing your read of exam %(key)s (version %(version)s)."), values)
    : interpolate(gettext("Your read of exam %(key)s is shown as it was kept: %(reason)s"), values);
  $("resume").textContent = state.resume
    ? interpolate(gettext("Back to exam %(key)s"), { key: state.resume.claim.exam.display_key })
    : gettext("Back to reading");
  submitButton.textContent = gettext("Save changes");
  submitButton.disabled = !decision.editable;
}

function previousRead() {
  if (state.busy) {
    state.previousQueued = true; // after the read being sent is stored
    return;
  }
  const index = (state.editing ? state.editing.index : state.reads.length) - 1;
  if (index < 0) {
    say(gettext("No earlier read in this session. My reads lists them all."));
    return;
  }
  openRead(state.reads[index], index);
}

async function saveEdit() {
  const { decision, claim } = state.editing;
  const read = panel.read; // no duration: an edit keeps the reading time
  if (!read.labels.length && !read.quality.length) {
    showError(gettext("Choose at least one class (or a signal-quality flag) before saving."));
    return;
  }
  const broken = panel.ruleRefusal(read.labels);
  if (broken) return showError(broken);
  state.busy = true;
  submitButton.disabled = true;
  try {
    const saved = await api(`/api/decisions/${decision.id}/`, {
      method: "PUT",
      body: read,
      headers: { "If-Match": `"${decision.version}"` },
    });
    say(interpolate(gettext("Your read of exam %(key)s is saved (version %(version)s)."), { key: claim.exam.display_key, version: saved.version }));
    state.busy = false;
    await resumeReading();
  } catch (error) {
    state.busy = false;
    if (error.status === 412) {
      await openRead({ decision: decision.id, claim }, state.editing.index);
      showError(gettext("This read was changed elsewhere since you opened it; it is shown as it is now. Make your change again."));
    } else {
      showError(interpolate(gettext("Not saved: %(reason)s"), { reason: error.message }));
      submitButton.disabled = !decision.editable;
    }
  }
}

/** Leave the reopened read: back to the exam the reader was on, its draft restored. */
async function resumeReading() {
  if (!state.editing || state.busy) return;
  const back = state.resume;
  state.editing = null;
  state.resume = null;
  showEditing();
  clearError();
  panel.reset();
  if (back) {
    await draw(back.claim);
    state.drawnAt = performance.now() - back.elapsed; // the exam's clock goes on
    claimAhead();
  } else if (state.finished || !state.current) {
    const fresh = state.finished ? null : await claim().catch(() => null);
    if (fresh) await draw(fresh);
    else finish();
  }
}

$("previous").addEventListener("click", previousRead);
$("resume").addEventListener("click", resumeReading);

// --- Keyboard -------------------------------------------------------------------------

/** Shift + 1, 2, 3… (the keys, whatever the layout prints on them): the panel's
 * quality flags in their order. */
function qualityKey(event) {
  const match = /^Digit([1-9])$/.exec(event.code);
  return event.shiftKey && match ? (panel.qualityInputs[Number(match[1]) - 1]?.value ?? null) : null;
}

document.addEventListener("keydown", (event) => {
  if (help.open || event.defaultPrevented) return;
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    submit();
    return;
  }
  if (isTextField(event.target) || event.altKey || event.ctrlKey || event.metaKey) return;
  const flag = qualityKey(event);
  if (flag) {
    event.preventDefault();
    const toggled = $("panel-body").inert ? null : panel.toggleQuality(flag);
    if (toggled) say(interpolate(toggled.checked ? gettext("%(flag)s flagged.") : gettext("%(flag)s unflagged."), { flag: toggled.label }));
    return;
  }
  if (event.key === "Backspace") {
    event.preventDefault();
    previousRead();
  } else if (event.key === "Escape" && state.editing) {
    event.preventDefault();
    resumeReading();
  } else if (event.key === "/") {
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
  } else if (!$("panel-body").inert && picker.shortcut(event.key)) {
    event.preventDefault();
    panel.keep();
  }
});

$("help-open").addEventListener("click", () => help.showModal());
$("help-viewer-keys").replaceChildren(...keyRows());

foldablePanel(root, $("panel-toggle"));

// --- Start ---------------------------------------------------------------------------

/** `?decision=<id>` (a link from "My reads"): that read first, then reading goes on. */
async function openLinkedRead(first) {
  const id = new URLSearchParams(location.search).get("decision");
  if (!id) return false;
  history.replaceState(null, "", location.pathname); // a reload goes on reading
  try {
    const decision = await api(`/api/decisions/${encodeURIComponent(id)}/`);
    const exam = await api(`/api/exams/${decision.exam}/`);
    const entry = { decision: decision.id, claim: { assignment: decision.assignment, exam } };
    await openRead(entry, -1, first ? { claim: first, elapsed: 0 } : null);
    return state.editing !== null;
  } catch (error) {
    showError(error.message);
    return false;
  }
}

async function start() {
  pruneDrafts();
  refreshProgress(campaignRequest);
  try {
    const taxonomy = await taxonomyRequest;
    picker.setTaxonomy(taxonomy);
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
  // The campaign's display filters are where the reading starts; the reader may change them.
  if (first?.display_filters) viewer.setFilters(first.display_filters);
  if (await openLinkedRead(first)) {
    if (!first) state.finished = true;
    return;
  }
  if (!first) {
    finish();
    return;
  }
  await draw(first);
  claimAhead();
}

start();
