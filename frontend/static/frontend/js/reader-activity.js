/**
 * The dashboard's readers at work: for each reader their reads, pace (reads per
 * hour of reading), median time per read, fast reads and open claims, and how
 * many readers have an exam on their screen now. From
 * `/api/campaigns/{id}/reader-stats/`.
 */

import { api, el, gettext, interpolate, ninterpolate } from "./dom.js";

function seconds(ms) {
  return ms === null || ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`;
}

/** Fill `table` (and `summary`) with the campaign's reader activity. */
export async function showActivity(table, summary, campaignId) {
  if (!table) return;
  const stats = await api(`/api/campaigns/${campaignId}/reader-stats/`);
  summary.textContent = ninterpolate(
    "%(n)s reader has an exam on screen now.",
    "%(n)s readers have an exam on screen now.",
    stats.reading_now,
    { n: stats.reading_now },
  );
  const head = [
    gettext("Reader"),
    gettext("Reads"),
    gettext("Reads per hour of reading"),
    gettext("Median time per read"),
    gettext("Fast reads"),
    gettext("Open claims"),
  ];
  table.replaceChildren(
    el("caption", { class: "visually-hidden" }, gettext("What each reader is doing")),
    el("thead", {}, el("tr", {}, head.map((text, i) => el("th", { scope: "col", class: i ? "num" : "" }, text)))),
    el(
      "tbody",
      {},
      stats.readers.map((row) =>
        el(
          "tr",
          {},
          el(
            "th",
            { scope: "row" },
            row.reader,
            row.reading ? el("span", { class: "badge status-open", title: gettext("An exam on screen now") }, gettext("reading")) : "",
          ),
          el("td", { class: "num" }, row.reads.toLocaleString()),
          el("td", { class: "num", title: interpolate(gettext("Over the latest %(n)s timed reads"), { n: row.timed_reads }) }, row.reads_per_hour ?? "—"),
          el("td", { class: "num" }, seconds(row.median_ms)),
          el("td", { class: "num" }, row.fast_reads.toLocaleString()),
          el("td", { class: "num" }, row.open_claims.toLocaleString()),
        ),
      ),
    ),
  );
}
