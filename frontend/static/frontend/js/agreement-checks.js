/**
 * The dashboard's reader checks: each reader's accuracy on the calibration
 * exams (against their reference), overall and week by week so that a reader
 * who drifts is seen, and each reader's agreement with themselves on re-read
 * exams (test–retest kappa). All with 95% intervals when the report has them.
 */

import { classRows, errorBars, GRID, MONO, plot, statCell } from "./charts.js";
import { el, gettext, interpolate } from "./dom.js";

const $ = (id) => document.getElementById(id);
const WEEKS = 8; // the latest weeks shown in the table (the chart shows all)
const TOP_CLASSES = 6;

let shown = null; // {report, names}

/** Show a report's calibration and re-read sections (or say there are none). */
export function showReaderChecks(report, names) {
  if (!shown) $("calibration-stat").addEventListener("change", drawCalibration);
  shown = { report, names };
  drawCalibration();
  drawRetest();
}


function table(id, caption, head, rows) {
  $(id).replaceChildren(
    el("caption", { class: "visually-hidden" }, caption),
    el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col", class: h.num ? "num" : "" }, h.text)))),
    el("tbody", {}, rows),
  );
}

function drawCalibration() {
  const calibration = shown.report.calibration;
  const stat = $("calibration-stat").value;
  $("calibration-stat").disabled = !calibration;
  $("calibration-chart").hidden = !calibration;
  if (!calibration) {
    $("calibration-meta").textContent = gettext(
      "No calibration reads yet: mark exams with a reference as calibration exams and set how often they are served.",
    );
    $("calibration-table").replaceChildren();
    return;
  }
  const readers = Object.keys(calibration.readers);
  const allWeeks = [...new Set(readers.flatMap((r) => Object.keys(calibration.readers[r].periods)))].sort();
  const weeks = allWeeks.slice(-WEEKS);
  $("calibration-meta").textContent = interpolate(
    "%(reads)s reads of %(exams)s calibration exams, scored against their reference; every class pooled (micro).",
    { reads: calibration.n_reads, exams: calibration.n_exams },
  );
  table(
    "calibration-table",
    gettext("Each reader's accuracy on the calibration exams, overall and by week, with 95% intervals"),
    [
      { text: gettext("Reader") },
      { text: gettext("Reads"), num: true },
      { text: gettext("Overall"), num: true },
      ...weeks.map((w) => ({ text: w, num: true })),
    ],
    readers.map((reader) => {
      const mine = calibration.readers[reader];
      return el(
        "tr",
        {},
        el("th", { scope: "row" }, reader),
        el("td", { class: "num" }, String(mine.n_reads)),
        statCell(mine.micro, stat),
        weeks.map((w) =>
          mine.periods[w]
            ? statCell(mine.periods[w], stat, 2)
            : el("td", { class: "num muted", title: gettext("No calibration read this week") }, "·"),
        ),
      );
    }),
  );
  const label = $("calibration-stat").selectedOptions[0].textContent; // translated there
  plot(
    $("calibration-chart"),
    readers.map((reader) => {
      const periods = calibration.readers[reader].periods;
      const x = allWeeks.filter((w) => periods[w]);
      const y = x.map((w) => periods[w][stat] ?? null);
      return {
        type: "scatter",
        mode: "lines+markers",
        name: reader,
        x,
        y,
        error_y: errorBars(y, x.map((w) => periods[w].ci95?.[stat] || null)),
        hovertemplate: `${reader} · %{x}<br>${label} %{y:.3f}<extra></extra>`,
      };
    }),
    {
      margin: { l: 48, r: 16, t: 10, b: 40 },
      showlegend: readers.length <= 12,
      legend: { orientation: "h", x: 0, y: 1.15 },
      xaxis: { type: "category", tickfont: MONO },
      yaxis: { title: { text: label }, range: [0, 1.05], gridcolor: GRID },
    },
  );
  $("calibration-chart-desc").textContent = interpolate(
    "%(stat)s of each reader on the calibration exams, week by week, with 95% intervals.",
    { stat: label },
  );
}

function drawRetest() {
  const retest = shown.report.retest;
  if (!retest) {
    $("retest-meta").textContent = gettext(
      "No re-reads yet: set how often a reader's own exams are served again.",
    );
    $("retest-table").replaceChildren();
    return;
  }
  const codes = classRows(shown.report, shown.names)
    .filter((c) => c.n_positive_reads > 0)
    .slice(0, TOP_CLASSES);
  $("retest-meta").textContent = interpolate(
    "%(n)s exams read twice by the same reader, blind; Cohen's κ between the two reads.",
    { n: retest.n_rereads },
  );
  const readers = Object.keys(retest.readers);
  table(
    "retest-table",
    gettext("Each reader's agreement with their own earlier read, with 95% intervals"),
    [
      { text: gettext("Reader") },
      { text: gettext("Re-read exams"), num: true },
      { text: gettext("Macro κ"), num: true },
      ...codes.map((c) => ({ text: el("span", { class: "code", title: c.name }, c.code), num: true })),
    ],
    readers.map((reader) => {
      const mine = retest.readers[reader];
      return el(
        "tr",
        {},
        el("th", { scope: "row" }, reader),
        el("td", { class: "num" }, String(mine.n_exams)),
        statCell(mine.macro, "kappa"),
        codes.map((c) => statCell(mine.classes[c.code], "kappa", 2)),
      );
    }),
  );
}
