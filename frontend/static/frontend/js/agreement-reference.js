/**
 * The dashboard's scores against the reference standard: each reader's (and
 * model's) precision, recall, specificity, NPV or F1 per class, with 95%
 * intervals, for the most prevalent classes, and their macro average.
 */

import { classRows, readerLabel, statCell } from "./charts.js";
import { el, gettext, interpolate } from "./dom.js";

const $ = (id) => document.getElementById(id);
const TOP_CLASSES = 8;
const SOURCES = {
  imported: "the imported reference standard",
  consensus: "the adjudicated consensus",
};

let shown = null; // {report, top}

/** Show a report's reference scores (or say there is no reference). */
export function showReferenceScores(report, names) {
  if (!shown) $("reference-stat").addEventListener("change", drawTable);
  shown = {
    report,
    top: classRows(report, names)
      .filter((c) => c.n_positive_reads > 0)
      .slice(0, TOP_CLASSES),
  };
  const reference = report.reference;
  $("reference-stat").disabled = !reference;
  if (!reference) {
    $("reference-meta").textContent = gettext(
      "No reference standard: import one (import_readings --reference) or score against the consensus.",
    );
    $("reference-table").replaceChildren();
    return;
  }
  $("reference-meta").textContent = interpolate("Scored against %(source)s on %(n)s exams.", {
    source: gettext(SOURCES[reference.source] || reference.source),
    n: reference.n_exams,
  });
  drawTable();
}


function drawTable() {
  const reference = shown.report.reference;
  const stat = $("reference-stat").value;
  const readers = Object.keys(reference.readers);
  const head = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col" }, gettext("Reader")),
      shown.top.map((c) => el("th", { scope: "col", class: "num" }, el("span", { class: "code", title: c.name }, c.code))),
      el("th", { scope: "col", class: "num" }, gettext("Macro")),
    ),
  );
  const body = el(
    "tbody",
    {},
    readers.map((reader) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, readerLabel(shown.report, reader)),
        shown.top.map((c) => statCell(reference.readers[reader][c.code], stat)),
        statCell(reference.macro[reader], stat),
      ),
    ),
  );
  $("reference-table").replaceChildren(
    el("caption", { class: "visually-hidden" }, gettext("Each reader's score against the reference standard, with 95% intervals")),
    head,
    body,
  );
}
