// Campaign dashboard: progress by consensus state, agreement and export jobs, and
// the latest agreement report as charts: per-class statistics with 95% intervals
// (agreement-classes.js), readers against the consensus (agreement-readers.js)
// and pairwise Cohen's kappa (agreement-pairs.js).
import { showReaderChecks } from "./agreement-checks.js";
import { wireMembers, wireStatus } from "./campaign-status.js";
import { showActivity } from "./reader-activity.js";
import { showClassAgreement } from "./agreement-classes.js";
import { showPairAgreement } from "./agreement-pairs.js";
import { showGroupAgreement } from "./agreement-groups.js";
import { showReaderAgreement } from "./agreement-readers.js";
import { showReferenceScores } from "./agreement-reference.js";
import { pct } from "./charts.js";
import { ApiError, api, el, enums, gettext, ninterpolate, showError } from "./dom.js";
import { exportRows, isActive, JobList, jobTitle } from "./job-list.js";

const root = document.getElementById("dashboard");
const campaignId = root.dataset.campaign;
const taxonomyId = root.dataset.taxonomy;
const $ = (id) => document.getElementById(id);
const RECENT_JOBS = 5;

const names = new Map(); // class code -> name
const jobs = new JobList($("recent-jobs"), { layout: "list", limit: RECENT_JOBS, onFinished: jobDone });

// --- Progress ----------------------------------------------------------------

async function loadProgress() {
  const campaign = await api(`/api/campaigns/${campaignId}/`);
  const p = campaign.progress || {};
  const exams = p.exams || 0;
  const expected = exams * campaign.readers_per_exam;
  const done = p.reads_submitted || 0;
  $("reads-bar").max = Math.max(expected, 1);
  $("reads-bar").value = done;
  $("reads-bar").textContent = pct(expected ? done / expected : 0);
  $("reads-text").textContent = `${done.toLocaleString()} / ${expected.toLocaleString()}`;
  $("reads-detail").textContent =
    `${exams.toLocaleString()} exams × ${campaign.readers_per_exam} readers each · ` +
    `${(p.claims_open || 0).toLocaleString()} exams claimed (read ahead included) · readers: ${campaign.readers.join(", ")}`;
  showFastReads(p.reads_fast, campaign.min_read_ms);
  const states = enums().consensus_states || [];
  // "Single read" only happens with one reader per exam.
  const shown = states.filter(({ value }) => value !== "single" || p.single || campaign.readers_per_exam === 1);
  $("states-body").replaceChildren(
    ...shown.map(({ value, label }) => {
      const n = p[value] || 0;
      const share = exams ? n / exams : 0;
      return el(
        "tr",
        { class: `state-row state-${value}` },
        el("th", { scope: "row" }, el("span", { class: "swatch", "aria-hidden": "true" }), label),
        el(
          "td",
          { class: "bar-col" },
          el("progress", { max: Math.max(exams, 1), value: n, "aria-label": `${label}: ${pct(share)}` }),
        ),
        el("td", { class: "num" }, `${n.toLocaleString()} `, el("span", { class: "muted" }, `(${pct(share)})`)),
      );
    }),
  );
  $("state-stack").replaceChildren(
    ...states
      .filter(({ value }) => p[value])
      .map(({ value, label }) => {
        const part = el("span", { class: `state-${value}`, title: `${label}: ${p[value]}` });
        part.style.flexGrow = String(p[value]);
        return part;
      }),
  );
  $("progress").setAttribute("aria-busy", "false");
}

/** How many reads were submitted sooner than the campaign's minimum reading time
 * (managers only: the API leaves both out for everyone else). */
function showFastReads(count, minReadMs) {
  const line = $("reads-fast");
  line.hidden = !Number.isInteger(count) || !minReadMs;
  if (line.hidden) return;
  const seconds = (minReadMs / 1000).toLocaleString(undefined, { maximumFractionDigits: 1 });
  line.textContent = ninterpolate(
    "%(count)s fast read (under %(seconds)s s)",
    "%(count)s fast reads (under %(seconds)s s)",
    count,
    { count: count.toLocaleString(), seconds },
  );
}

// --- Jobs ----------------------------------------------------------------------

/** A job of this campaign has finished: say so, and show a new report. */
function jobDone(job) {
  const title = `${jobTitle(job)} #${job.id}`;
  if (job.status === "failed") {
    $("job-status").textContent = `${title} failed: ${job.error || gettext("no message")}`;
    return;
  }
  $("job-status").textContent =
    job.kind === "export"
      ? `${title} is ready (${exportRows(job).toLocaleString()} rows).`
      : `${title} is ready; the charts below show it.`;
  if (job.kind === "agreement") {
    loadReport().catch((err) => {
      $("report-meta").textContent = `Could not load the report: ${err.message}`;
    });
  }
  loadProgress().catch(() => {});
}

async function startJob(url, body, button) {
  button.disabled = true;
  $("job-status").textContent = "Starting…";
  try {
    const job = await api(url, { method: "POST", body });
    $("job-status").textContent = `${jobTitle(job)} #${job.id} is ${job.status}.`;
    jobs.add(job);
    // Inline tasks answer with the finished job; the list follows the others.
    if (isActive(job)) await jobs.finished(job.id);
    else jobDone(job);
  } catch (err) {
    $("job-status").textContent = `Could not start the job: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// --- Agreement report ------------------------------------------------------------

/** The campaign's latest succeeded agreement report (slim: no per-class pairs); null if none. */
async function latestReport() {
  // The job list says whether there is one, so that "none yet" is no failed request.
  const list = await api(`/api/jobs/?campaign=${campaignId}&kind=agreement&status=succeeded&page_size=1`);
  if (!list.results.length) return null;
  try {
    return await api(`/api/campaigns/${campaignId}/report/`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  // A server without the report route: the whole report comes with its job.
  const job = await api(`/api/jobs/${list.results[0].id}/`);
  return { ...job.result, job: { id: job.id, finished_at: job.finished_at, params: job.params } };
}

async function loadReport() {
  const report = await latestReport();
  if (!report) {
    $("report-meta").textContent = "No agreement report yet: compute one above.";
    return;
  }
  const job = report.job || {};
  const when = job.finished_at
    ? new Date(job.finished_at).toLocaleString([], { dateStyle: "medium", timeStyle: "short" })
    : "";
  $("report-meta").textContent =
    `Job #${job.id}, ${when} · ${report.n_exams} exams · ${report.readers.length} readers · ` +
    (report.bootstrap ? `95% intervals from ${report.bootstrap} bootstrap resamples` : "no intervals (bootstrap 0)");
  $("report").hidden = false;
  $("report-more").hidden = false;
  showClassAgreement(report, names);
  showReaderAgreement(report, names);
  showReferenceScores(report, names);
  showGroupAgreement(report);
  showReaderChecks(report, names);
  await showPairAgreement(report, names, campaignId);
}

// --- Start -------------------------------------------------------------------------

async function init() {
  wireStatus(document.getElementById("status-box"), campaignId);
  wireMembers(document.getElementById("members"), campaignId);
  $("start-agreement").addEventListener("click", (event) =>
    startJob(`/api/campaigns/${campaignId}/agreement/`, { bootstrap: 200 }, event.currentTarget),
  );
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () =>
      startJob(
        `/api/campaigns/${campaignId}/exports/`,
        { format: button.dataset.export, include_unresolved: $("include-unresolved").checked },
        button,
      ),
    );
  }
  const results = await Promise.allSettled([
    loadProgress(),
    showActivity(document.getElementById("activity-table"), document.getElementById("activity-summary"), campaignId),
    api(`/api/taxonomies/${taxonomyId}/`).then((t) => {
      for (const cls of t.classes) names.set(cls.code, cls.name);
    }),
    jobs.show(`/api/jobs/?campaign=${campaignId}&page_size=${RECENT_JOBS}`),
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed) showError(`Some data could not be loaded: ${failed.reason.message}`);
  try {
    await loadReport();
  } catch (err) {
    $("report-meta").textContent = `Could not load the report: ${err.message}`;
  }
}

init();
