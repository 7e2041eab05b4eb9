// "My reads": the reader's reads in one campaign, newest first, found by exam
// number, each opened on the read page (`?decision=<id>`) to change it while the
// exam is not settled, or to see it as it was kept after.

import { api, el, gettext, interpolate, showError } from "./dom.js";

const $ = (id) => document.getElementById(id);
const root = $("my-reads");
const campaignId = root.dataset.campaign;
const pages = { next: null, previous: null };

function row(read) {
  const open = `${root.dataset.read}?decision=${read.id}`;
  return el(
    "tr",
    {},
    el("th", { scope: "row", class: "num" }, read.display_key),
    el("td", {}, read.labels.length ? read.labels.join(", ") : el("span", { class: "muted" }, gettext("no class"))),
    el("td", { class: "num" }, String(read.version)),
    el("td", {}, new Date(read.created_at).toLocaleString()),
    el("td", {}, read.editable ? gettext("Yes") : el("span", { class: "muted", title: read.locked_reason }, gettext("No: every read of the exam is in"))),
    el("td", {}, el("a", { href: open, "aria-label": interpolate(gettext("Open your read of exam %(key)s"), { key: read.display_key }) }, read.editable ? gettext("Change") : gettext("View"))),
  );
}

async function load(url) {
  const body = $("reads-body");
  body.setAttribute("aria-busy", "true");
  let data;
  try {
    data = await api(url);
  } catch (error) {
    showError(interpolate(gettext("Could not load your reads: %(reason)s"), { reason: error.message }));
    body.setAttribute("aria-busy", "false");
    return;
  }
  showError("");
  pages.next = data.next;
  pages.previous = data.previous;
  body.replaceChildren(
    ...(data.results.length ? data.results.map(row) : [el("tr", {}, el("td", { colspan: "6", class: "muted" }, gettext("No read matches.")))]),
  );
  body.setAttribute("aria-busy", "false");
  $("reads-count").textContent = interpolate(gettext("%(n)s reads"), { n: data.count.toLocaleString() });
  $("prev-page").disabled = !data.previous;
  $("next-page").disabled = !data.next;
}

function search() {
  const q = new FormData($("read-search")).get("q")?.toString().trim() ?? "";
  const params = new URLSearchParams(q ? { q } : {});
  return `/api/campaigns/${campaignId}/reads/?${params}`;
}

$("read-search").addEventListener("submit", (event) => {
  event.preventDefault();
  load(search());
});
$("prev-page").addEventListener("click", () => pages.previous && load(pages.previous));
$("next-page").addEventListener("click", () => pages.next && load(pages.next));
load(search());
