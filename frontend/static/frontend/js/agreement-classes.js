/**
 * The dashboard's agreement per class: summary tiles (macro and micro averages),
 * the chosen statistic per class with 95% intervals above each class's
 * prevalence, and every per-class value as a table.
 */

import { UNDEFINED_MARKER, MONO, GRID, classRows, errorBars, esc, fmt, interval, pct, plot } from "./charts.js";
import { el, gettext, interpolate } from "./dom.js";

const $ = (id) => document.getElementById(id);

const STATS = {
  fleiss_kappa: "Fleiss' κ",
  ac1: "Gwet's AC1",
  pabak: "PABAK",
  krippendorff_alpha: "Krippendorff's α",
  positive_agreement: "Positive agreement",
  negative_agreement: "Negative agreement",
};

let shown = null; // {report, rows}

/** Show a report's per-class agreement; the controls redraw it from then on. */
export function showClassAgreement(report, names) {
  if (!shown) {
    for (const radio of document.querySelectorAll('input[name="stat"]')) radio.addEventListener("change", drawChart);
    $("show-unread").addEventListener("change", drawChart);
  }
  shown = { report, rows: classRows(report, names) };
  drawTiles();
  drawChart();
  drawTable();
}

/** The codes of the classes where `stat` is defined: what its macro average is over. */
function averaged(stat) {
  return Object.entries(shown.report.classes)
    .filter(([, c]) => c[stat] !== null && c[stat] !== undefined)
    .map(([code]) => code);
}

function drawTiles() {
  const macro = shown.report.macro || {};
  const micro = shown.report.micro || {};
  $("summary").replaceChildren(
    ...["fleiss_kappa", "ac1", "pabak", "positive_agreement"].map((stat) =>
      el(
        "div",
        { class: "tile", role: "listitem" },
        el("div", { class: "tile-label" }, STATS[stat]),
        el("div", { class: "tile-value num" }, fmt(macro[stat])),
        el("div", { class: "tile-ci num" }, macro.ci95?.[stat] ? `95% CI ${interval(macro.ci95[stat])}` : "\u00a0"),
        el(
          "div",
          {
            class: "tile-foot",
            // Which classes the macro average is over: those where the statistic is defined.
            title: `${gettext("Averaged over")}: ${averaged(stat).join(", ") || "—"}`,
          },
          interpolate(gettext("macro over the %(n)s classes where it is defined · micro %(micro)s"), {
            n: macro.n_classes?.[stat] ?? 0,
            micro: fmt(micro[stat]),
          }),
          micro.ci95?.[stat] ? ` (${interval(micro.ci95[stat])})` : "",
        ),
      ),
    ),
  );
}

function drawChart() {
  const stat = document.querySelector('input[name="stat"]:checked').value;
  const label = STATS[stat];
  const all = shown.rows;
  const rows = $("show-unread").checked ? all : all.filter((c) => c.n_positive_reads > 0);
  const hidden = all.length - rows.length;
  const defined = rows.filter((c) => c[stat] !== null);
  const undefinedRows = rows.filter((c) => c[stat] === null);
  const ci = (c) => c.ci95?.[stat] ?? null;
  const reads = (c) => `prevalence ${pct(c.prevalence)} · ${c.n_positive_reads} positive reads<extra></extra>`;
  const hover = (c) =>
    `<b>${esc(c.code)}</b> ${esc(c.name)}<br>${label}: ${fmt(c[stat], 3)}` +
    (ci(c) ? ` (95% CI ${interval(ci(c))})` : c.undefined?.ci95?.[stat] ? `<br>interval undefined: ${esc(c.undefined.ci95[stat])}` : "") +
    `<br>${reads(c)}`;
  const values = defined.map((c) => c[stat]);
  const traces = [
    {
      type: "bar",
      name: label,
      x: defined.map((c) => c.code),
      y: values,
      marker: { color: "#2f5d8a" },
      error_y: errorBars(values, defined.map(ci), { thickness: 1.2, width: 3 }),
      hovertemplate: defined.map(hover),
    },
    {
      type: "scatter",
      mode: "markers",
      name: `${label} undefined`,
      x: undefinedRows.map((c) => c.code),
      y: undefinedRows.map(() => 0),
      marker: { ...UNDEFINED_MARKER, size: 11 },
      hovertemplate: undefinedRows.map(
        (c) =>
          `<b>${esc(c.code)}</b> ${esc(c.name)}<br>${label} undefined: ${esc(c.undefined?.[stat] || "not computable")}<br>${reads(c)}`,
      ),
    },
    {
      type: "bar",
      name: "Prevalence",
      x: rows.map((c) => c.code),
      y: rows.map((c) => c.prevalence),
      yaxis: "y2",
      marker: { color: "#e3b04b" },
      hovertemplate: rows.map((c) => `<b>${esc(c.code)}</b> ${reads(c)}`),
    },
  ];
  const bottom = Math.min(0, ...defined.map((c) => (ci(c) ? ci(c)[0] : c[stat])));
  plot($("class-chart"), traces, {
    margin: { l: 64, r: 16, t: 16, b: 60 },
    bargap: 0.35,
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.1 },
    xaxis: {
      type: "category",
      categoryorder: "array",
      categoryarray: rows.map((c) => c.code),
      anchor: "y2",
      tickangle: -60,
      tickfont: MONO,
      title: { text: "Classes, most prevalent first", standoff: 8 },
      automargin: true,
    },
    yaxis: {
      domain: [0.3, 1],
      title: { text: label },
      range: [Math.min(-0.1, bottom - 0.05), 1.05],
      zeroline: true,
      zerolinecolor: "#9aa3ad",
      gridcolor: GRID,
    },
    yaxis2: {
      domain: [0, 0.2],
      anchor: "x",
      title: { text: "Prevalence", font: { size: 11 } },
      rangemode: "tozero",
      tickformat: ".0%",
      nticks: 3,
      gridcolor: GRID,
    },
  });
  const parts = [`${defined.length} classes with a value, sorted by prevalence; bars show ${label} with 95% intervals.`];
  if (undefinedRows.length) parts.push(`${undefinedRows.length} shown as × where ${label} is undefined (hover for the reason).`);
  if (hidden) parts.push(`${hidden} classes that no reader chose are hidden (their κ is undefined: no positive reads).`);
  $("class-chart-desc").textContent = parts.join(" ");
}

function drawTable() {
  const cell = (c, stat) => {
    if (c[stat] === null) return el("td", { class: "num undefined", title: c.undefined?.[stat] || "" }, "undefined");
    const ci = c.ci95?.[stat];
    return el("td", { class: "num" }, fmt(c[stat]), ci ? el("span", { class: "ci" }, ` ${interval(ci)}`) : "");
  };
  const stats = Object.keys(STATS);
  $("class-table").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Agreement statistics per class, most prevalent first"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "Class"),
        el("th", { scope: "col", class: "num" }, "Prevalence"),
        el("th", { scope: "col", class: "num" }, "Positive reads"),
        stats.map((s) => el("th", { scope: "col", class: "num" }, STATS[s])),
      ),
    ),
    el(
      "tbody",
      {},
      shown.rows.map((c) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, el("span", { class: "code" }, c.code), " ", el("span", { class: "muted" }, c.name)),
          el("td", { class: "num" }, pct(c.prevalence)),
          el("td", { class: "num" }, c.n_positive_reads),
          stats.map((s) => cell(c, s)),
        ),
      ),
    ),
  );
}
