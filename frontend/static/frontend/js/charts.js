/**
 * What the dashboard's Plotly charts and tables share: number formats, the look
 * of a chart, and the order in which a report's classes are shown.
 */

import { el, gettext, interpolate, plotlyReady } from "./dom.js";

const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 12, color: "#1d232b" };
export const MONO = { family: "ui-monospace, SFMono-Regular, Menlo, monospace", size: 11 };
export const GRID = "#eceef1";
export const UNDEFINED_MARKER = { symbol: "x-thin-open", color: "#8a939e", line: { width: 2, color: "#8a939e" } };
const CONFIG = {
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
};

/** Draw (or redraw in place) a chart with the dashboard's font and white paper. */
export async function plot(element, traces, layout) {
  const Plotly = await plotlyReady();
  return Plotly.react(element, traces, { font: FONT, plot_bgcolor: "#fff", paper_bgcolor: "#fff", ...layout }, CONFIG);
}

export function fmt(value, digits = 2) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

export function pct(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)}%`;
}

export function interval(ci) {
  return Array.isArray(ci) ? `${fmt(ci[0])}–${fmt(ci[1])}` : "";
}

/** Text for a Plotly hover template, which renders a little HTML. */
export function esc(text) {
  return String(text).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
}

/** Error bars from 95% intervals: `cis[i]` is [low, high] or null around `values[i]`. */
export function errorBars(values, cis, { thickness = 1, width = 2 } = {}) {
  return {
    type: "data",
    symmetric: false,
    array: values.map((v, i) => (v !== null && cis[i] ? cis[i][1] - v : null)),
    arrayminus: values.map((v, i) => (v !== null && cis[i] ? v - cis[i][0] : null)),
    visible: true,
    color: "#1d232b",
    thickness,
    width,
  };
}

/** A reader's name as the dashboard shows it: a model's is marked as such. */
export function readerLabel(report, name) {
  return (report.machines || []).includes(name) ? `${name} (${gettext("model")})` : name;
}

/** A report's classes with their names, most prevalent first (then most read). */
export function classRows(report, names) {
  return Object.entries(report.classes)
    .map(([code, c], i) => ({ code, i, name: names.get(code) || code, ...c }))
    .sort((a, b) => b.prevalence - a.prevalence || b.n_positive_reads - a.n_positive_reads || a.i - b.i);
}

/** A table cell with `entry[stat]` and its 95% interval (`entry.ci95`), or a dash
 * titled with the reason it is undefined (`entry.undefined`). */
export function statCell(entry, stat, digits = 3) {
  const value = entry?.[stat];
  if (value === null || value === undefined) {
    return el("td", { class: "num undefined", title: entry?.undefined?.[stat] || "" }, "—");
  }
  const ci = entry.ci95?.[stat];
  return el(
    "td",
    { class: "num", title: ci ? interpolate("95% CI %(ci)s", { ci: interval(ci) }) : "" },
    fmt(value, digits),
    ci ? el("span", { class: "ci" }, ` ${interval(ci)}`) : "",
  );
}
