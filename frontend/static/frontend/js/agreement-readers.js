/**
 * The dashboard's readers against the others: each reader's sensitivity,
 * specificity, PPV or F1 for the most prevalent classes, with 95% intervals,
 * as a chart and a table. By default against the majority of the exam's other
 * readers (leave one out); optionally against the consensus, which includes
 * the reader's own read and so flatters them.
 */

import { UNDEFINED_MARKER, MONO, GRID, classRows, errorBars, esc, fmt, interval, plot, readerLabel } from "./charts.js";
import { el, gettext, interpolate } from "./dom.js";

const $ = (id) => document.getElementById(id);
const READER_STATS = { f1: "F1", sensitivity: "Sensitivity", specificity: "Specificity", ppv: "PPV" };
// Okabe–Ito: told apart with the common colour-vision deficiencies.
const READER_COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000"];
const TOP_CLASSES = 8;

let shown = null; // {report, top}

/** The per-reader statistics the "against" <select> chooses. */
function statsOf(report) {
  const against = $("reader-against").value;
  if (against === "loo" && report.reader_stats_leave_one_out) return report.reader_stats_leave_one_out.readers;
  return report.reader_stats || {};
}

/** Show a report's reader statistics; the statistic's <select> redraws them. */
export function showReaderAgreement(report, names) {
  if (!shown) {
    $("reader-stat").addEventListener("change", drawChart);
    $("reader-against").addEventListener("change", () => showReaderAgreement(shown.report, names));
  }
  shown = {
    report,
    top: classRows(report, names)
      .filter((c) => c.n_positive_reads > 0)
      .slice(0, TOP_CLASSES),
  };
  shown.stats = statsOf(report);
  const readers = Object.keys(shown.stats).filter((reader) =>
    Object.values(shown.stats[reader]).some((cell) => cell.f1 !== null || cell.specificity !== null),
  );
  $("readers-empty").textContent =
    $("reader-against").value === "loo"
      ? gettext("No exam has two or more readers yet, so readers cannot be compared with the others.")
      : gettext("No exam has a consensus yet, so readers cannot be compared with it.");
  $("readers-empty").hidden = readers.length > 0;
  $("reader-chart").hidden = readers.length === 0;
  if (!readers.length) {
    $("reader-table").replaceChildren();
    $("reader-chart-desc").textContent = "";
    return;
  }
  drawChart();
  drawTable(readers);
}

function drawChart() {
  const stats = shown.stats;
  const stat = $("reader-stat").value;
  const label = READER_STATS[stat];
  const codes = shown.top.map((c) => c.code);
  const of = (reader, code) => stats[reader][code] || {};
  const readers = Object.keys(stats);
  const traces = readers.map((reader, i) => {
    const values = codes.map((code) => of(reader, code)[stat] ?? null);
    const cis = codes.map((code) => of(reader, code).ci95?.[stat] ?? null);
    return {
      type: "bar",
      name: readerLabel(shown.report, reader),
      x: codes,
      y: values,
      marker: { color: READER_COLOURS[i % READER_COLOURS.length] },
      error_y: errorBars(values, cis),
      hovertemplate: codes.map((code, k) => {
        const why = of(reader, code).undefined?.[stat];
        const value = values[k] === null ? `undefined${why ? ` (${esc(why)})` : ""}` : fmt(values[k], 3);
        return `<b>${esc(readerLabel(shown.report, reader))}</b> · ${esc(code)}<br>${label}: ${value}${cis[k] ? ` (95% CI ${interval(cis[k])})` : ""}<extra></extra>`;
      }),
    };
  });
  const gaps = readers.flatMap((reader) =>
    codes
      .filter((code) => (of(reader, code)[stat] ?? null) === null)
      .map((code) => ({ reader, code, why: of(reader, code).undefined?.[stat] })),
  );
  traces.push({
    type: "scatter",
    mode: "markers",
    name: "Undefined",
    x: gaps.map((g) => g.code),
    y: gaps.map(() => 0),
    marker: { ...UNDEFINED_MARKER, size: 10 },
    hovertemplate: gaps.map(
      (g) => `<b>${esc(g.reader)}</b> · ${esc(g.code)}<br>${label} undefined: ${esc(g.why || "not computable")}<extra></extra>`,
    ),
  });
  plot($("reader-chart"), traces, {
    margin: { l: 48, r: 16, t: 10, b: 40 },
    barmode: "group",
    bargap: 0.25,
    // Past a dozen readers a legend hides the bars; each bar's hover names its reader.
    showlegend: readers.length <= 12,
    legend: { orientation: "h", x: 0, y: 1.12 },
    xaxis: { type: "category", tickfont: MONO },
    yaxis: { title: { text: label }, range: [0, 1.05], gridcolor: GRID },
  });
  $("reader-chart-desc").textContent = interpolate(
    $("reader-against").value === "loo"
      ? "%(stat)s of each reader against the majority of the exam's other readers, for the %(n)s most prevalent classes, with 95% intervals."
      : "%(stat)s of each reader against the consensus (which includes the reader's own read), for the %(n)s most prevalent classes, with 95% intervals.",
    { stat: label, n: codes.length },
  );
}

function drawTable(readers) {
  const stats = shown.stats;
  const head = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col", rowspan: 2 }, "Class"),
      readers.map((reader) =>
        el("th", { scope: "colgroup", colspan: 3, class: "group" }, readerLabel(shown.report, reader)),
      ),
    ),
    el(
      "tr",
      {},
      readers.map(() => ["Se", "Sp", "F1"].map((s) => el("th", { scope: "col", class: "num" }, s))),
    ),
  );
  const body = el(
    "tbody",
    {},
    shown.top.map((c) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, el("span", { class: "code", title: c.name }, c.code)),
        readers.map((reader) =>
          ["sensitivity", "specificity", "f1"].map((s) => {
            const v = stats[reader][c.code]?.[s];
            return v === null || v === undefined
              ? el("td", { class: "num undefined", title: stats[reader][c.code]?.undefined?.[s] || "" }, "—")
              : el("td", { class: "num" }, fmt(v));
          }),
        ),
      ),
    ),
  );
  $("reader-table").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Sensitivity (Se), specificity (Sp) and F1 of each reader"),
    head,
    body,
  );
}
