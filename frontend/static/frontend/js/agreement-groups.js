/**
 * The dashboard's agreement on exclusive groups: each group (dominant rhythm,
 * axis…) as one multi-category choice, with observed agreement, Fleiss' kappa
 * and Krippendorff's alpha and their 95% intervals.
 */

import { fmt, interval } from "./charts.js";
import { el, gettext } from "./dom.js";

const $ = (id) => document.getElementById(id);
const STATS = ["observed_agreement", "fleiss_kappa", "krippendorff_alpha"];

function cell(group, stat) {
  const value = group[stat];
  if (value === null || value === undefined) {
    return el("td", { class: "num undefined", title: group.undefined?.[stat] || "" }, "—");
  }
  const ci = group.ci95?.[stat];
  return el("td", { class: "num" }, fmt(value, 3), ci ? el("span", { class: "ci" }, ` ${interval(ci)}`) : "");
}

/** Show a report's group agreement as a table (or say there is none). */
export function showGroupAgreement(report) {
  const groups = Object.entries(report.groups || {});
  $("groups-empty").hidden = groups.length > 0;
  if (!groups.length) {
    $("groups-table").replaceChildren();
    return;
  }
  const head = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col" }, gettext("Group")),
      el("th", { scope: "col" }, gettext("Categories")),
      el("th", { scope: "col", class: "num" }, gettext("Exams")),
      el("th", { scope: "col", class: "num" }, gettext("Observed agreement")),
      el("th", { scope: "col", class: "num" }, gettext("Fleiss' κ")),
      el("th", { scope: "col", class: "num" }, gettext("Krippendorff's α")),
    ),
  );
  const body = el(
    "tbody",
    {},
    groups.map(([name, group]) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, name.replaceAll("_", " ")),
        el(
          "td",
          {},
          group.categories.map((code) =>
            el("span", { class: "code" }, code === "none" ? gettext("none") : code),
          ),
        ),
        el("td", { class: "num" }, String(group.n_exams)),
        STATS.map((stat) => cell(group, stat)),
      ),
    ),
  );
  $("groups-table").replaceChildren(
    el("caption", { class: "visually-hidden" }, gettext("Agreement on each exclusive group, with 95% intervals")),
    head,
    body,
  );
}
