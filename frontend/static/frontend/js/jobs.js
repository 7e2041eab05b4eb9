// Jobs page: every background job with its state, a progress bar that follows
// queued and running jobs (polling with back-off), errors and downloads.

import { api, el, sleep } from "./dom.js";

const $ = (id) => document.getElementById(id);
const ACTIVE = new Set(["queued", "running"]);
const KIND = { agreement: "Agreement report", export: "Label export", import: "Exam import" };
const ICON = { queued: "◷", running: "↻", succeeded: "✓", failed: "✕" };

const state = { page: 1, campaigns: new Map(), generation: 0 };

// --- API ---------------------------------------------------------------------

// --- Helpers -------------------------------------------------------------------

function visible() {
  // Polling pauses while the tab is hidden.
  if (!document.hidden) return Promise.resolve();
  return new Promise((resolve) => {
    document.addEventListener("visibilitychange", function wait() {
      if (!document.hidden) {
        document.removeEventListener("visibilitychange", wait);
        resolve();
      }
    });
  });
}

function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function duration(job) {
  if (!job.started_at) return "";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  const seconds = Math.max(0, (end - new Date(job.started_at)) / 1000);
  if (seconds < 1) return "under a second";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${Math.round(seconds / 60)} min`;
}

function details(job) {
  const params = job.params || {};
  if (job.kind === "export") {
    const format = params.format === "jsonl" ? "JSON Lines" : (params.format || "").toUpperCase();
    return `${format}${params.include_unresolved ? ", with unresolved exams" : ""}`;
  }
  if (job.kind === "agreement") return `bootstrap ${params.bootstrap ?? 0}`;
  return "";
}

function title(job) {
  const more = details(job);
  return `${KIND[job.kind] || job.kind}${more ? ` (${more})` : ""}`;
}

function announce(message) {
  $("live").textContent = message;
}

// --- Rows ----------------------------------------------------------------------

function outputCell(job) {
  if (job.status === "failed") {
    return el("td", { class: "output" }, el("p", { class: "job-error" }, el("strong", {}, "Error: "), job.error || "no message"));
  }
  if (job.status !== "succeeded") return el("td", { class: "output muted" }, "Ready when it has succeeded");
  const parts = [];
  if (job.kind === "export") {
    parts.push(
      el("a", { href: `/api/jobs/${job.id}/download/`, download: "", class: "download" }, "⤓ Download"),
      el("a", { href: `/api/jobs/${job.id}/download/?file=manifest`, download: "", class: "download" }, "⤓ Manifest"),
      el("span", { class: "muted small" }, `${((job.summary ?? job.result)?.rows ?? 0).toLocaleString()} rows`),
    );
  } else if (job.kind === "agreement") {
    parts.push(el("a", { href: `/api/jobs/${job.id}/download/`, download: "", class: "download" }, "⤓ Report (JSON)"));
    if (job.campaign) parts.push(el("a", { href: `/campaigns/${job.campaign}/`, class: "small" }, "Charts"));
  }
  return el("td", { class: "output" }, el("div", { class: "links" }, parts));
}

function row(job) {
  const campaign = job.campaign
    ? el("a", { href: `/campaigns/${job.campaign}/` }, state.campaigns.get(job.campaign) || `Campaign ${job.campaign}`)
    : "—";
  const progressLabel = `Job ${job.id} progress`;
  return el(
    "tr",
    { "data-job": job.id, class: `job-${job.status}` },
    el(
      "th",
      { scope: "row" },
      el("span", { class: "job-title" }, KIND[job.kind] || job.kind),
      el("span", { class: "muted small block" }, [`#${job.id}`, details(job)].filter(Boolean).join(" · ")),
    ),
    el("td", {}, campaign),
    el(
      "td",
      {},
      el("span", { class: `status status-${job.status}` }, el("span", { "aria-hidden": "true" }, ICON[job.status] || ""), job.status),
      job.attempts > 1 ? el("span", { class: "muted small block" }, `attempt ${job.attempts}`) : null,
    ),
    el(
      "td",
      { class: "progress-col" },
      el(
        "div",
        { class: "progress-cell" },
        el("progress", { max: 100, value: job.progress, "aria-label": progressLabel }, `${job.progress}%`),
        el("span", { class: "num small" }, `${job.progress}%`),
      ),
    ),
    el(
      "td",
      {},
      when(job.created_at),
      el("span", { class: "muted small block" }, [job.created_by ? `by ${job.created_by}` : "", duration(job)].filter(Boolean).join(" · ")),
    ),
    outputCell(job),
  );
}

// --- Loading and polling ---------------------------------------------------------

function filters() {
  const form = new FormData($("job-filters"));
  const params = new URLSearchParams();
  for (const [key, value] of form) if (value) params.set(key, value);
  return params;
}

async function load() {
  const generation = ++state.generation;
  const params = filters();
  if (state.page > 1) params.set("page", String(state.page));
  const url = new URL(location.href);
  url.search = params.toString();
  history.replaceState(null, "", url);
  $("jobs-body").setAttribute("aria-busy", "true");
  let data;
  try {
    data = await api(`/api/jobs/?${params}`);
  } catch (err) {
    $("page-error").textContent = `Could not load the jobs: ${err.message}`;
    $("page-error").hidden = false;
    return;
  }
  if (generation !== state.generation) return;
  $("page-error").hidden = true;
  const body = $("jobs-body");
  body.replaceChildren(
    ...(data.results.length
      ? data.results.map(row)
      : [el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No jobs match these filters."))]),
  );
  body.setAttribute("aria-busy", "false");
  $("jobs-count").textContent = `${data.count.toLocaleString()} ${data.count === 1 ? "job" : "jobs"}`;
  $("prev-page").disabled = !data.previous;
  $("next-page").disabled = !data.next;
  for (const job of data.results) if (ACTIVE.has(job.status)) follow(job, generation);
}

async function follow(job, generation) {
  // Back off from 1 s to 10 s; stop when the job has finished or the list changed.
  let delay = 1000;
  while (ACTIVE.has(job.status)) {
    await sleep(delay);
    await visible();
    if (generation !== state.generation) return;
    delay = Math.min(delay * 1.5, 10000);
    try {
      job = await api(`/api/jobs/${job.id}/`);
    } catch {
      continue;
    }
    if (generation !== state.generation) return;
    const old = $("jobs-body").querySelector(`tr[data-job="${job.id}"]`);
    if (!old) return;
    old.replaceWith(row(job));
  }
  announce(
    job.status === "succeeded"
      ? `Job ${job.id} (${title(job)}) has succeeded; its output can be downloaded.`
      : `Job ${job.id} (${title(job)}) failed: ${job.error}`,
  );
}

async function loadCampaigns() {
  try {
    const data = await api("/api/campaigns/");
    for (const campaign of data.results) state.campaigns.set(campaign.id, campaign.name);
  } catch {
    return;
  }
  const select = $("campaign-filter");
  const wanted = new URLSearchParams(location.search).get("campaign");
  for (const [id, name] of state.campaigns) select.append(el("option", { value: id }, name));
  if (wanted) select.value = wanted;
}

async function init() {
  const query = new URLSearchParams(location.search);
  const form = $("job-filters");
  for (const name of ["kind", "status"]) if (query.get(name)) form.elements[name].value = query.get(name);
  state.page = Math.max(1, Number(query.get("page")) || 1);
  form.addEventListener("change", () => {
    state.page = 1;
    load();
  });
  form.addEventListener("submit", (event) => event.preventDefault());
  $("prev-page").addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    load();
  });
  $("next-page").addEventListener("click", () => {
    state.page += 1;
    load();
  });
  await loadCampaigns();
  await load();
}

init();
