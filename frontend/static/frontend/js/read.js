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

import { ApiError, EcgViewer } from "./viewer.js";

const root = document.getElementById("read");
const campaignId = root.dataset.campaign;
const taxonomyId = root.dataset.taxonomy;

const $ = (id) => document.getElementById(id);
const form = $("decision");
const search = $("class-search");
const picker = $("taxonomy");
const chosenBox = $("chosen");
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
  classes: new Map(), // code -> class from the taxonomy
  inputs: new Map(), // code -> checkbox
  shortcuts: new Map(), // key -> code
  submitted: 0,
  exams: null,
};

// --- API --------------------------------------------------------------------------

function csrfToken() {
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  if (cookie) return decodeURIComponent(cookie.slice("csrftoken=".length));
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

function describe(data, status) {
  if (data?.detail) return String(data.detail);
  if (data && typeof data === "object") {
    const parts = Object.entries(data).map(([field, errors]) =>
      `${field === "non_field_errors" ? "" : `${field}: `}${[].concat(errors).join(" ")}`,
    );
    if (parts.length) return parts.join(" ");
  }
  return `The server answered ${status}. Try again, or reload the page.`;
}

async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`/api/${path}`, init);
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check the connection and try again.");
  }
  if (response.status === 204) return { status: 204, data: null };
  let data = null;
  try {
    data = await response.json();
  } catch {
    // an empty or non-JSON body: described by its status
  }
  if (!response.ok) throw new ApiError(response.status, describe(data, response.status));
  return { status: response.status, data };
}

async function claim(after = null) {
  const { status, data } = await api("POST", `campaigns/${campaignId}/next/`, after ? { after } : {});
  return status === 204 ? null : data;
}

// Start every request before Plotly.js runs: they travel while it compiles.
const firstClaim = claim();
const taxonomyRequest = api("GET", `taxonomies/${taxonomyId}/`);
const campaignRequest = api("GET", `campaigns/${campaignId}/`);
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
  alertBox.replaceChildren();
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "link-button";
  close.textContent = "Dismiss";
  close.addEventListener("click", clearError);
  alertBox.append(text, close);
}

function clearError() {
  alertBox.hidden = true;
  alertBox.replaceChildren();
}

// --- Taxonomy picker ----------------------------------------------------------------

function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node && !key.includes("-")) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function buildPicker(taxonomy) {
  const groups = new Map();
  for (const cls of taxonomy.classes) {
    if (!groups.has(cls.group)) groups.set(cls.group, []);
    groups.get(cls.group).push(cls);
    state.classes.set(cls.code, cls);
    if (cls.shortcut) state.shortcuts.set(cls.shortcut, cls.code);
  }
  const exclusiveMembers = new Map();
  for (const cls of taxonomy.classes) {
    if (!cls.exclusive_group) continue;
    if (!exclusiveMembers.has(cls.exclusive_group)) exclusiveMembers.set(cls.exclusive_group, []);
    exclusiveMembers.get(cls.exclusive_group).push(cls.code);
  }
  const sections = [];
  let n = 0;
  for (const [group, classes] of groups) {
    n++;
    const listId = `group-${n}`;
    const toggle = element(
      "button",
      { type: "button", className: "group-toggle", "aria-expanded": "true", "aria-controls": listId },
      element("span", { className: "group-name" }, group),
      element("span", { className: "group-count num", "aria-hidden": "true" }),
    );
    const list = element("ul", { id: listId, className: "classes", "aria-label": group });
    for (const cls of classes) list.append(classItem(cls, exclusiveMembers));
    toggle.addEventListener("click", () => {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      list.hidden = !open;
    });
    sections.push(element("section", { className: "group", dataset: { group } }, element("h3", {}, toggle), list));
  }
  const empty = element("p", { className: "no-match muted", id: "no-match", hidden: true });
  picker.replaceChildren(...sections, empty);
  picker.setAttribute("aria-busy", "false");
  fillHelp(taxonomy);
  updateChosen();
}

function classItem(cls, exclusiveMembers) {
  const id = `class-${cls.code}`;
  const input = element("input", { type: "checkbox", id, value: cls.code, name: "labels" });
  const parts = [element("span", { className: "name" }, cls.name), " ", element("span", { className: "code" }, cls.code)];
  let describedBy = null;
  if (cls.exclusive_group) {
    input.classList.add("exclusive");
    const others = exclusiveMembers.get(cls.exclusive_group).filter((c) => c !== cls.code);
    describedBy = `${id}-excl`;
    parts.push(
      element(
        "span",
        { className: "visually-hidden", id: describedBy },
        `Only one of ${humanGroup(cls.exclusive_group)}: choosing it removes ${others.join(", ")}.`,
      ),
    );
  }
  if (describedBy) input.setAttribute("aria-describedby", describedBy);
  if (cls.shortcut) {
    input.setAttribute("aria-keyshortcuts", cls.shortcut);
    parts.push(element("kbd", { className: "shortcut", title: `Shortcut: ${cls.shortcut}` }, cls.shortcut));
  }
  const label = element("label", { htmlFor: id, title: titleFor(cls) }, input, ...parts);
  input.addEventListener("change", () => choose(cls.code, input.checked, "click"));
  state.inputs.set(cls.code, input);
  const item = element("li", { className: `class${cls.parent ? " child" : ""}`, dataset: { code: cls.code } }, label);
  item.dataset.search = [cls.code, cls.name, cls.snomed_ct].join(" ").toLowerCase();
  return item;
}

function humanGroup(name) {
  return name.replaceAll("_", " ");
}

function titleFor(cls) {
  const bits = [cls.definition || cls.name];
  if (cls.snomed_ct) bits.push(`SNOMED CT ${cls.snomed_ct}`);
  if (cls.exclusive_group) bits.push(`one of: ${humanGroup(cls.exclusive_group)}`);
  return bits.join(" · ");
}

function fillHelp(taxonomy) {
  const list = $("help-classes");
  list.replaceChildren(
    ...taxonomy.classes
      .filter((c) => c.shortcut)
      .map((c) => element("li", {}, element("kbd", {}, c.shortcut), ` ${c.name} (${c.code})`)),
  );
}

/** Tick or untick a class; ticking one of an exclusive group unticks the others. */
function choose(code, on, how) {
  const cls = state.classes.get(code);
  const input = state.inputs.get(code);
  if (!cls || !input) return;
  input.checked = on;
  const replaced = [];
  if (on && cls.exclusive_group) {
    for (const [other, otherInput] of state.inputs) {
      if (other !== code && otherInput.checked && state.classes.get(other).exclusive_group === cls.exclusive_group) {
        otherInput.checked = false;
        replaced.push(other);
        flash(otherInput);
      }
    }
  }
  updateChosen();
  if (how === "key") flash(input, true);
  if (replaced.length) {
    say(`${cls.name} chosen; it replaces ${replaced.join(", ")} (only one ${humanGroup(cls.exclusive_group)}).`);
  } else if (how === "key") {
    say(`${cls.name} (${code}) ${on ? "chosen" : "removed"}.`);
  }
}

function flash(input, reveal = false) {
  const item = input.closest("li");
  if (!item) return;
  if (reveal) {
    const list = item.closest("ul");
    if (list?.hidden) list.previousElementSibling?.querySelector("button")?.click();
    item.scrollIntoView({ block: "nearest" });
  }
  item.classList.remove("flash");
  void item.offsetWidth; // restart the animation
  item.classList.add("flash");
}

function chosenCodes() {
  return [...state.inputs].filter(([, input]) => input.checked).map(([code]) => code);
}

function updateChosen() {
  const codes = chosenCodes();
  if (!codes.length) {
    chosenBox.replaceChildren(element("span", { className: "none" }, "No class chosen yet."));
  } else {
    chosenBox.replaceChildren(
      ...codes.map((code) => {
        const cls = state.classes.get(code);
        const chip = element(
          "button",
          { type: "button", className: "chip", title: `${cls.name}: remove`, "aria-label": `Remove ${cls.name} (${code})` },
          code,
          element("span", { "aria-hidden": "true" }, " ×"),
        );
        chip.addEventListener("click", () => {
          choose(code, false, "chip");
          (chosenBox.querySelector(".chip") ?? search).focus();
        });
        return chip;
      }),
    );
  }
  for (const section of picker.querySelectorAll("section.group")) {
    const count = section.querySelectorAll("input:checked").length;
    section.querySelector(".group-count").textContent = count ? String(count) : "";
  }
}

function filter(query) {
  const q = query.trim().toLowerCase();
  let shown = 0;
  for (const section of picker.querySelectorAll("section.group")) {
    let visible = 0;
    for (const item of section.querySelectorAll("li.class")) {
      const match = !q || item.dataset.search.includes(q);
      item.hidden = !match;
      if (match) visible++;
    }
    section.hidden = visible === 0;
    // While searching every group with a match is open; the toggles come back after.
    const list = section.querySelector("ul");
    const toggle = section.querySelector(".group-toggle");
    list.hidden = q ? false : toggle.getAttribute("aria-expanded") !== "true";
    shown += visible;
  }
  const empty = $("no-match");
  empty.hidden = shown > 0;
  empty.textContent = shown ? "" : `No class matches “${query.trim()}”.`;
  return shown;
}

function firstVisibleInput() {
  for (const item of picker.querySelectorAll("li.class")) {
    if (!item.hidden && !item.closest("section").hidden && !item.closest("ul").hidden) {
      return item.querySelector("input");
    }
  }
  return null;
}

search.addEventListener("input", () => {
  const shown = filter(search.value);
  if (search.value.trim()) say(`${shown} ${shown === 1 ? "class matches" : "classes match"}.`);
});
search.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !(event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    if (!search.value.trim()) return;
    const input = firstVisibleInput();
    if (input) {
      choose(input.value, !input.checked, "key");
      search.value = "";
      filter("");
    }
  } else if (event.key === "Escape") {
    event.preventDefault();
    if (search.value) {
      search.value = "";
      filter("");
    } else {
      search.blur();
    }
  } else if (event.key === "ArrowDown") {
    event.preventDefault();
    firstVisibleInput()?.focus();
  }
});

// --- Exams --------------------------------------------------------------------------

function showExam(claimed) {
  state.current = claimed;
  state.drawnAt = null;
  const { exam } = claimed;
  $("exam-title").textContent = `Exam ${exam.exam_id}`;
  const facts = [
    ["Age", exam.age === null || exam.age === undefined ? "–" : exam.age >= 90 ? "90+" : String(exam.age)],
    ["Sex", { F: "Female", M: "Male" }[exam.sex] ?? "–"],
    ["Recorded", exam.acquired_at ? new Date(exam.acquired_at).toLocaleDateString() : "–"],
    ["Sampling", `${exam.sampling_rate} Hz`],
    ["Length", `${Number(exam.duration_s).toFixed(exam.duration_s < 60 ? 1 : 0)} s`],
  ];
  $("exam-meta").replaceChildren(...facts.map(([k, v]) => element("div", {}, element("dt", {}, k), element("dd", {}, v))));
  const statements = Array.isArray(exam.machine_statements) ? exam.machine_statements.filter(Boolean) : [];
  $("machine").hidden = statements.length === 0;
  $("machine-list").replaceChildren(...statements.map((s) => element("li", {}, String(s))));
}

function resetForm() {
  // A new exam starts with the shortcut keys live, not inside the comment.
  if (isTextField(document.activeElement)) $("main").focus();
  for (const input of state.inputs.values()) input.checked = false;
  for (const input of form.querySelectorAll("input[name=quality]")) input.checked = false;
  comment.value = "";
  search.value = "";
  filter("");
  updateChosen();
}

function restoreForm(payload) {
  resetForm();
  for (const code of payload.labels) {
    const input = state.inputs.get(code);
    if (input) input.checked = true;
  }
  for (const input of form.querySelectorAll("input[name=quality]")) input.checked = payload.quality.includes(input.value);
  comment.value = payload.comment;
  updateChosen();
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

async function refreshProgress(request = api("GET", `campaigns/${campaignId}/`)) {
  try {
    const { data } = await request;
    state.exams = data.progress?.exams ?? 0;
    state.submitted = data.progress?.my_reads_submitted ?? 0;
    showProgress();
  } catch {
    // progress is informative; a failure here must not stop reading
  }
}

function payload() {
  return {
    labels: chosenCodes(),
    quality: [...form.querySelectorAll("input[name=quality]:checked")].map((i) => i.value),
    comment: comment.value.trim(),
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
  const post = api("POST", `assignments/${done.assignment}/decision/`, decision);
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
    say(`Submitted. Exam ${state.current.exam.exam_id} is on screen.`);
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

function isTextField(node) {
  if (!(node instanceof HTMLElement)) return false;
  if (node.isContentEditable || node.tagName === "TEXTAREA" || node.tagName === "SELECT") return true;
  return node.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset"].includes(node.type);
}

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
    search.focus();
    search.select();
  } else if (event.key === "?") {
    event.preventDefault();
    help.showModal();
  } else if (event.key === "Enter") {
    // Buttons and links keep their own Enter.
    if (event.target instanceof HTMLElement && event.target.closest("button, a, summary")) return;
    event.preventDefault();
    submit();
  } else if (state.shortcuts.has(event.key)) {
    event.preventDefault();
    const code = state.shortcuts.get(event.key);
    choose(code, !state.inputs.get(code).checked, "key");
  }
});

$("help-open").addEventListener("click", () => help.showModal());

// --- Start ---------------------------------------------------------------------------

async function start() {
  refreshProgress(campaignRequest);
  try {
    buildPicker((await taxonomyRequest).data);
  } catch (error) {
    picker.setAttribute("aria-busy", "false");
    picker.replaceChildren(element("p", { className: "error" }, `The taxonomy could not be loaded: ${error.message}`));
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
  await draw(first);
  claimAhead();
}

start();
