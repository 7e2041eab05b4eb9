/**
 * The Imports page: the import jobs, followed while they run (the shared job
 * list), and the summary of the latest finished one: imported, skipped, and each
 * refused file with its reason (all of them in its CSV download).
 */

import { api, el, gettext, interpolate } from "./dom.js";
import { JobList } from "./job-list.js";

const $ = (id) => document.getElementById(id);

async function showSummary(job) {
  const full = await api(`/api/jobs/${job.id}/`);
  const result = full.result;
  if (!result) {
    $("import-summary").replaceChildren(el("p", { class: "error" }, full.error || ""));
    return;
  }
  $("import-summary").replaceChildren(
    el(
      "p",
      { class: "preview" },
      interpolate(gettext("Job #%(id)s: %(imported)s imported, %(skipped)s skipped (already stored), %(rejected)s rejected."), {
        id: full.id,
        imported: result.imported,
        skipped: result.skipped,
        rejected: result.rejected,
      }),
    ),
    result.rejections.length
      ? el(
          "table",
          { class: "data compact" },
          el("caption", {}, gettext("Rejected, with the reason")),
          el("thead", {}, el("tr", {}, el("th", { scope: "col" }, gettext("File")), el("th", { scope: "col" }, gettext("Reason")))),
          el("tbody", {}, result.rejections.map((r) => el("tr", {}, el("td", {}, r.file), el("td", {}, r.reason)))),
        )
      : "",
  );
}

const jobs = new JobList($("import-jobs"), {
  layout: "list",
  limit: 10,
  emptyText: gettext("No import yet."),
  onFinished: (job) => showSummary(job).catch(() => {}),
});

async function init() {
  await jobs.show("/api/jobs/?kind=import&page_size=10");
  const latest = jobs.jobs[0];
  if (latest && !["queued", "running"].includes(latest.status)) await showSummary(latest);
}

init().catch((err) => {
  $("import-jobs").replaceChildren(el("li", { class: "error" }, err.message));
});
