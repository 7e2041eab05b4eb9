/**
 * Background jobs as a list that follows itself: a table on the jobs page, a
 * compact list on the dashboard; each job with its state, progress, error and
 * downloads.
 *
 *   const jobs = new JobList(tbody, {layout: "table", onFinished});
 *   await jobs.show("/api/jobs/?campaign=3"); // one page of the API's list
 *   jobs.next, jobs.previous                  // the API's links: show() them to page
 *   jobs.add(job);                            // a job just started, listed first
 *   await jobs.finished(job.id);              // once it has succeeded or failed
 *
 * While a job shown is queued or running, the same page of the list is fetched
 * again (after 1 s, growing to 8 s; paused while the tab is hidden): one request
 * for every job shown, and never a job's result, which for an agreement report
 * is megabytes. Pages are followed by the API's own `next` / `previous` links,
 * whatever their cursor, and nothing here needs a total count.
 */

import { api, el, enumLabels, gettext, showError, sleep, visible } from "./dom.js";

const ACTIVE = new Set(["queued", "running"]);
const ICON = { queued: "◷", running: "↻", succeeded: "✓", failed: "✕" };
const FIRST_DELAY_MS = 1000;
const MAX_DELAY_MS = 8000;

export const isActive = (job) => ACTIVE.has(job.status);

function kindLabel(job) {
  return enumLabels("job_kinds").get(job.kind) ?? job.kind;
}

function details(job) {
  const params = job.params || {};
  if (job.kind === "export") {
    const format = params.format === "jsonl" ? "JSON Lines" : (params.format || "").toUpperCase();
    return `${format}${params.include_unresolved ? ", with unresolved exams" : ""}`;
  }
  if (job.kind === "agreement") return `bootstrap ${params.bootstrap ?? 0}`;
  if (job.kind === "import") return params.upload ? gettext("uploaded files") : params.folder || "";
  return "";
}

/** "Label export (CSV)": what a job is, for lists and messages. */
export function jobTitle(job) {
  const more = details(job);
  return `${kindLabel(job)}${more ? ` (${more})` : ""}`;
}

/** Rows an export wrote: the list's summary, or the result of a job's own detail. */
export function exportRows(job) {
  return (job.summary ?? job.result)?.rows ?? 0;
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

// --- The parts of a job, shared by both layouts -----------------------------------

function statusBadge(job) {
  if (job.stalled) {
    // Running on paper, but its worker has not been heard from for minutes.
    return el(
      "span",
      { class: "status status-stalled", title: gettext("Its worker stopped answering; it is retried automatically.") },
      el("span", { "aria-hidden": "true" }, "⚠"),
      gettext("Stalled"),
    );
  }
  return el(
    "span",
    { class: `status status-${job.status}` },
    el("span", { "aria-hidden": "true" }, ICON[job.status] || ""),
    enumLabels("job_statuses").get(job.status) ?? job.status,
  );
}

/** Retry for a stalled job (managers: the API refuses everyone else). */
function retryButton(job, onRetried) {
  if (!job.stalled) return null;
  const button = el("button", { type: "button", class: "small retry", "aria-label": `${gettext("Retry")} #${job.id}` }, gettext("Retry"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      onRetried(await api(`/api/jobs/${job.id}/retry/`, { method: "POST" }));
    } catch (error) {
      showError(error.message);
      button.disabled = false;
    }
  });
  return button;
}

function progressBar(job) {
  return el("progress", { max: 100, value: job.progress, "aria-label": `Job ${job.id} progress` }, `${job.progress}%`);
}

function outputLinks(job, { charts }) {
  const download = (query, text) =>
    el("a", { href: `/api/jobs/${job.id}/download/${query}`, download: "", class: "download" }, text);
  if (job.kind === "export") {
    return [
      download("", "⤓ Download"),
      download("?file=manifest", "⤓ Manifest"),
      el("span", { class: "muted small" }, `${exportRows(job).toLocaleString()} rows`),
    ];
  }
  if (job.kind === "agreement") {
    const links = [download("", "⤓ Report (JSON)")];
    if (charts && job.campaign) links.push(el("a", { href: `/campaigns/${job.campaign}/`, class: "small" }, "Charts"));
    return links;
  }
  if (job.kind === "import") return [download("", gettext("⤓ Rejections (CSV)"))];
  return [];
}

function errorText(job) {
  return el("p", { class: "job-error" }, el("strong", {}, "Error: "), job.error || "no message");
}

function tableRow(job, campaigns, onRetried) {
  const campaign = job.campaign
    ? el("a", { href: `/campaigns/${job.campaign}/` }, campaigns.get(job.campaign) || `Campaign ${job.campaign}`)
    : "—";
  let output;
  if (job.status === "failed") output = el("td", { class: "output" }, errorText(job));
  else if (job.status !== "succeeded") output = el("td", { class: "output muted" }, "Ready when it has succeeded");
  else output = el("td", { class: "output" }, el("div", { class: "links" }, outputLinks(job, { charts: true })));
  return el(
    "tr",
    { "data-job": job.id, class: `job-${job.status}` },
    el(
      "th",
      { scope: "row" },
      el("span", { class: "job-title" }, kindLabel(job)),
      el("span", { class: "muted small block" }, [`#${job.id}`, details(job)].filter(Boolean).join(" · ")),
    ),
    el("td", {}, campaign),
    el(
      "td",
      {},
      statusBadge(job),
      job.attempts > 1 ? el("span", { class: "muted small block" }, `attempt ${job.attempts}`) : null,
      retryButton(job, onRetried),
    ),
    el(
      "td",
      { class: "progress-col" },
      el("div", { class: "progress-cell" }, progressBar(job), el("span", { class: "num small" }, `${job.progress}%`)),
    ),
    el(
      "td",
      {},
      when(job.created_at),
      el(
        "span",
        { class: "muted small block" },
        [job.created_by ? `by ${job.created_by}` : "", duration(job)].filter(Boolean).join(" · "),
      ),
    ),
    output,
  );
}

function listItem(job, onRetried) {
  return el(
    "li",
    { class: `job-item job-${job.status}`, "data-job": job.id },
    el(
      "div",
      { class: "job-line" },
      statusBadge(job),
      retryButton(job, onRetried),
      el("span", { class: "job-title" }, `#${job.id} ${jobTitle(job)}`),
      el("span", { class: "muted small" }, when(job.created_at)),
      el("span", { class: "job-links" }, job.status === "succeeded" ? outputLinks(job, { charts: false }) : null),
    ),
    isActive(job) ? progressBar(job) : null,
    job.status === "failed" ? errorText(job) : null,
  );
}

/** What a row shows: rows are drawn again only when it changes. */
const shown = (job) =>
  [job.status, job.stalled, job.progress, job.attempts, job.error, job.started_at, job.finished_at, exportRows(job)].join("|");

// --- The list ----------------------------------------------------------------------

export class JobList {
  /**
   * @param {HTMLElement} container a <tbody> ("table") or a <ul> ("list")
   * @param {{layout?: "table"|"list", limit?: number, emptyText?: string,
   *   campaigns?: Map<number, string>, onFinished?: (job) => void}} options
   */
  constructor(
    container,
    { layout = "table", limit = Infinity, emptyText = "No jobs yet.", campaigns = new Map(), onFinished = () => {} } = {},
  ) {
    Object.assign(this, { container, layout, limit, emptyText, campaigns, onFinished });
    this.jobs = [];
    this.url = null;
    this.next = null;
    this.previous = null;
    this.generation = 0;
    this.polling = null; // the generation whose loop runs
    this.waiting = new Map(); // job id -> [resolve, ...]
    this.fresh = new Set(); // ids added here that the list has not listed yet
  }

  /** Show one page of the API's job list (a URL); false when a later show() won. */
  async show(url) {
    const generation = ++this.generation;
    const data = await api(url);
    if (generation !== this.generation) return false;
    this.url = url;
    this.next = data.next ?? null;
    this.previous = data.previous ?? null;
    this.fresh.clear();
    this.jobs = data.results.slice(0, this.limit);
    this._render(true);
    this._follow();
    return true;
  }

  /** A job this page just started: first in the list until the list has it. */
  add(job) {
    this.fresh.add(job.id);
    this.jobs = [job, ...this.jobs.filter((j) => j.id !== job.id)].slice(0, this.limit);
    this._render(true);
    this.delay = FIRST_DELAY_MS;
    this.wake?.();
    this._follow();
  }

  /** Resolves with the job once it has left the queue and finished. */
  finished(id) {
    const job = this.jobs.find((j) => j.id === id);
    if (job && !isActive(job)) return Promise.resolve(job);
    return new Promise((resolve) => {
      if (!this.waiting.has(id)) this.waiting.set(id, []);
      this.waiting.get(id).push(resolve);
    });
  }

  // --- Following ---------------------------------------------------------------------

  async _follow() {
    const generation = this.generation;
    if (this.polling === generation || !this.jobs.some(isActive)) return;
    this.polling = generation;
    this.delay = FIRST_DELAY_MS;
    try {
      while (generation === this.generation && this.jobs.some(isActive)) {
        // add() wakes the loop early: a job just started is worth a quick look.
        await Promise.race([sleep(this.delay), new Promise((resolve) => (this.wake = resolve))]);
        await visible();
        if (generation !== this.generation) return;
        this.delay = Math.min(this.delay * 1.5, MAX_DELAY_MS);
        let data;
        try {
          data = await api(this.url);
        } catch {
          continue; // a missed poll is retried at the next tick
        }
        if (generation !== this.generation) return;
        await this._update(data.results.slice(0, this.limit));
      }
    } finally {
      if (this.polling === generation) this.polling = null;
    }
  }

  async _update(listed) {
    const before = new Map(this.jobs.map((job) => [job.id, job]));
    const ids = new Set(listed.map((job) => job.id));
    for (const id of ids) this.fresh.delete(id);
    const kept = this.jobs.filter((job) => this.fresh.has(job.id));
    // A followed job pushed off the page (newer jobs came first) is asked for alone.
    const gone = [...before.values()].filter((job) => isActive(job) && !ids.has(job.id) && !this.fresh.has(job.id));
    const alone = await Promise.all(gone.map((job) => api(`/api/jobs/${job.id}/`).catch(() => null)));
    for (const job of [...listed, ...alone.filter(Boolean)]) {
      const old = before.get(job.id);
      if (old && isActive(old) && !isActive(job)) this._finish(job);
    }
    this.jobs = [...kept, ...listed].slice(0, this.limit);
    this._render(false);
  }

  /** A job changed here (a retry): redrawn in its place and followed again. */
  _replace(job) {
    this.jobs = this.jobs.map((listed) => (listed.id === job.id ? job : listed));
    this._render(false);
    this.delay = FIRST_DELAY_MS;
    this.wake?.();
    this._follow();
  }

  _finish(job) {
    this.onFinished(job);
    for (const resolve of this.waiting.get(job.id) ?? []) resolve(job);
    this.waiting.delete(job.id);
  }

  // --- Drawing -------------------------------------------------------------------------

  _node(job) {
    const retried = (fresh) => this._replace(fresh);
    return this.layout === "table" ? tableRow(job, this.campaigns, retried) : listItem(job, retried);
  }

  /** Draw the jobs; when the order is unchanged only changed rows are replaced (focus stays). */
  _render(full) {
    const rows = [...this.container.querySelectorAll(":scope > [data-job]")];
    const sameOrder = rows.length === this.jobs.length && rows.every((row, i) => Number(row.dataset.job) === this.jobs[i].id);
    if (!full && sameOrder) {
      this.jobs.forEach((job, i) => {
        if (rows[i].dataset.shown !== shown(job)) rows[i].replaceWith(this._marked(job));
      });
      return;
    }
    if (!this.jobs.length) {
      const empty =
        this.layout === "table"
          ? el("tr", {}, el("td", { colspan: 6, class: "muted" }, this.emptyText))
          : el("li", { class: "muted" }, this.emptyText);
      this.container.replaceChildren(empty);
      return;
    }
    this.container.replaceChildren(...this.jobs.map((job) => this._marked(job)));
  }

  _marked(job) {
    const node = this._node(job);
    node.dataset.shown = shown(job);
    return node;
  }
}
