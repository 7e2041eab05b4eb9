// Jobs page: every background job with its state and a progress bar that follows
// queued and running jobs (job-list.js), filtered by kind, status and campaign,
// paged by the API's own links.

import { api, el, gettext, showError } from "./dom.js";
import { JobList, jobTitle } from "./job-list.js";

const $ = (id) => document.getElementById(id);
// What the page's address keeps: the filters, and the API's cursor (or page).
const KEPT = ["kind", "status", "campaign", "cursor", "page"];

const campaigns = new Map();
const list = new JobList($("jobs-body"), {
  layout: "table",
  emptyText: "No jobs match these filters.",
  campaigns,
  onFinished: (job) => {
    $("live").textContent =
      job.status === "succeeded"
        ? `Job ${job.id} (${jobTitle(job)}) has succeeded; its output can be downloaded.`
        : `Job ${job.id} (${jobTitle(job)}) failed: ${job.error || gettext("no message")}`;
  },
});

function filtered() {
  const params = new URLSearchParams();
  for (const [key, value] of new FormData($("job-filters"))) if (value) params.set(key, value);
  return `/api/jobs/?${params}`;
}

/** Show a page of the API's list (a URL it gave, or the filters' first page). */
async function load(url) {
  $("jobs-body").setAttribute("aria-busy", "true");
  try {
    if (!(await list.show(url))) return;
  } catch (err) {
    showError(`Could not load the jobs: ${err.message}`);
    return;
  }
  showError("");
  $("jobs-body").setAttribute("aria-busy", "false");
  const query = new URL(url, location.href).searchParams;
  const address = new URL(location.href);
  address.search = new URLSearchParams([...query].filter(([key]) => KEPT.includes(key))).toString();
  history.replaceState(null, "", address);
  const n = list.jobs.length;
  const paged = list.next || list.previous;
  $("jobs-count").textContent = `${n.toLocaleString()} ${n === 1 ? "job" : "jobs"}${paged ? " on this page" : ""}`;
  $("prev-page").disabled = !list.previous;
  $("next-page").disabled = !list.next;
}

async function loadCampaigns() {
  try {
    const data = await api("/api/campaigns/");
    for (const campaign of data.results) campaigns.set(campaign.id, campaign.name);
  } catch {
    return;
  }
  const select = $("campaign-filter");
  const wanted = new URLSearchParams(location.search).get("campaign");
  for (const [id, name] of campaigns) select.append(el("option", { value: id }, name));
  if (wanted) select.value = wanted;
}

async function init() {
  const query = new URLSearchParams(location.search);
  const form = $("job-filters");
  for (const name of ["kind", "status"]) if (query.get(name)) form.elements[name].value = query.get(name);
  form.addEventListener("change", () => load(filtered()));
  form.addEventListener("submit", (event) => event.preventDefault());
  $("prev-page").addEventListener("click", () => load(list.previous));
  $("next-page").addEventListener("click", () => load(list.next));
  await loadCampaigns();
  const kept = new URLSearchParams([...query].filter(([key]) => KEPT.includes(key)));
  await load(`/api/jobs/?${kept}`);
}

init();
