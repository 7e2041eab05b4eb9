/**
 * The ECG viewer's paper: the layouts of the leads on a sheet, its size in pixels
 * and millimetres, and the Plotly traces and layout that draw it.
 *
 * All leads live in ONE graph on ONE pair of axes: x is time in seconds, y is
 * microvolts, and each row of the paper sits at its own baseline offset (a
 * multiple of 1 mm), exactly as leads are printed on one sheet. The grid is the
 * axes' own major and minor gridlines (5 mm and 1 mm), never shapes, and a
 * millimetre is as many pixels on both axes.
 *
 * `paper` is what a drawing depends on: {available (css px across), layoutName,
 * leads (names the signal has, or null), speed (mm/s), gain (mm/mV), duration (s)}.
 */

import { gettext, interpolate } from "./dom.js";

const STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"];
const CHEST = /^V\d/; // leads drawn at the chest gain
const INVERTED = "-aVR"; // Cabrera order shows aVR upside down, between I and II

// Rows of the paper, each a list of leads sharing the row's time span in equal
// columns; pitch is the distance between baselines and baseline the distance
// from the top of the row, in mm (multiples of 5 so baselines sit on major lines).
export const LAYOUTS = {
  "3x4": {
    rows: [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"], ["II"]],
    cabrera: [["aVL", "II", "V1", "V4"], ["I", "aVF", "V2", "V5"], [INVERTED, "III", "V3", "V6"], ["II"]],
    pitch: 35,
    baseline: 20,
  },
  "6x2": {
    rows: [["I", "V1"], ["II", "V2"], ["III", "V3"], ["aVR", "V4"], ["aVL", "V5"], ["aVF", "V6"]],
    cabrera: [["aVL", "V1"], ["I", "V2"], [INVERTED, "V3"], ["II", "V4"], ["aVF", "V5"], ["III", "V6"]],
    pitch: 25,
    baseline: 15,
  },
  "12x1": {
    rows: STANDARD_LEADS.map((lead) => [lead]),
    cabrera: ["aVL", "I", INVERTED, "II", "aVF", "III", ...STANDARD_LEADS.slice(6)].map((lead) => [lead]),
    pitch: 20,
    baseline: 10,
  },
};
export const LAYOUT_NAMES = Object.keys(LAYOUTS);
export const SPEEDS = [12.5, 25, 50];
export const GAINS = [5, 10, 20];

export const PAGE_S = 10; // a resting ECG page: 10 s, four 2.5 s columns in 3x4
const TRACE_MM = 250; // width of the tracing on a page
const MARGIN_MM = 12; // before it: the calibration pulse (10 mm wide at 50 mm/s)
const PAPER_MM = TRACE_MM + MARGIN_MM;
const FOOTER_MM = 5; // the strip under the leads where the settings are printed
export const LONG_RECORD_S = 15; // longer records open as an overview
const CAL_UV = 1000; // calibration pulse: 1 mV ...
const CAL_S = 0.2; // ... for 200 ms
const MINOR_MIN_PX = 2; // 1 mm lines closer than this are hidden, never respaced

const PAPER_COLOURS = {
  background: "#fffafa",
  minor: "#f7cdd3",
  major: "#e58a96",
  trace: "#111111",
  calibration: "#111111",
  label: "#111111",
  footer: "#5b6470",
};

/** Seconds of record on one page at a paper speed (250 mm of tracing). */
export function pageSeconds(speed) {
  return TRACE_MM / speed;
}

/** Where page `index` (from 0) starts, and how many pages a record has. */
export function pageCount(paper) {
  const page = pageSeconds(paper.speed);
  return paper.duration <= page + 1e-9 ? 1 : Math.ceil(paper.duration / page - 1e-9);
}

export function pageStartOf(paper, index) {
  const last = pageCount(paper) - 1;
  return Math.min(Math.max(index, 0), last) * pageSeconds(paper.speed);
}

/** mm/mV a lead is drawn at: the chest gain for V1-V6, else the limb gain. */
export function leadGain(paper, lead) {
  return CHEST.test(lead) ? (paper.chestGain ?? paper.gain) : paper.gain;
}

/** The speed, gain and filters as printed on a paper ECG. */
export function settingsText(paper) {
  return [`${paper.speed} mm/s`, gainText(paper), paper.filterText].filter(Boolean).join("  ");
}

/** "10 mm/mV", or limb/chest "10/5 mm/mV" when the chest leads are drawn smaller. */
export function gainText(paper) {
  const chest = paper.chestGain && paper.chestGain !== paper.gain ? `/${paper.chestGain}` : "";
  return `${paper.gain}${chest} mm/mV`;
}

/** The rows of leads of a layout, or of the overview (one row per lead the signal has). */
export function paperRows(paper, mode) {
  if (mode === "overview") {
    const names = paper.leads ?? STANDARD_LEADS;
    const pitch = names.length > 6 ? 15 : names.length > 3 ? 25 : 30;
    return { rows: names.map((name) => [name]), pitch, baseline: Math.round((pitch * 0.6) / 5) * 5 };
  }
  const layout = LAYOUTS[paper.layoutName];
  return { ...layout, rows: paper.cabrera ? layout.cabrera : layout.rows };
}

/** Pixel sizes: px per mm from the width (in 0.05 px steps), plot size, scales. */
export function paperGeometry(paper, mode, duration = paper.duration) {
  const pxPerMm = Math.max(Math.floor((paper.available / PAPER_MM) * 20) / 20, 1.2);
  const { rows, pitch } = paperRows(paper, mode);
  const width = Math.ceil(PAPER_MM * pxPerMm); // never less than the page
  const heightMm = rows.length * pitch + FOOTER_MM;
  const height = Math.ceil(heightMm * pxPerMm);
  const pxPerUv = (pxPerMm * paper.gain) / 1000;
  let pxPerS = pxPerMm * paper.speed;
  let margin = MARGIN_MM / paper.speed; // s before the page starts
  if (mode === "overview") {
    margin = (duration * MARGIN_MM) / TRACE_MM;
    pxPerS = width / (duration + margin);
  }
  return { pxPerMm, width, height, heightMm, pxPerUv, pxPerS, margin, pitchMm: pitch };
}

/** The whole page (or record) at paper scale: x in s, y in µV. */
export function homeView(paper, mode) {
  const g = paperGeometry(paper, mode);
  const start = mode === "overview" ? 0 : (paper.pageStart ?? 0);
  const x = [start - g.margin, start - g.margin + g.width / g.pxPerS];
  const y = [0, g.height / g.pxPerUv];
  return { mode, x, y };
}

/** The time span of each column of a row of `columns` leads on the current page. */
function columnSpan(paper, mode, columns, c) {
  if (mode === "overview") return [0, paper.duration];
  const page = Math.min(pageSeconds(paper.speed), paper.duration);
  const start = paper.pageStart ?? 0;
  const a = start + (page * c) / columns;
  return [a, Math.min(a + page / columns, paper.duration)];
}

/** The lead at a point of the paper (x s, y µV): {lead, row, column, baseline µV, scale}. */
export function leadAt(paper, mode, x, y) {
  const { rows, pitch, baseline } = paperRows(paper, mode);
  const uvPerMm = 1000 / paper.gain;
  const heightMm = rows.length * pitch + FOOTER_MM;
  const r = Math.floor((heightMm - y / uvPerMm) / pitch);
  if (r < 0 || r >= rows.length) return null;
  const leads = rows[r];
  let c = 0;
  while (c < leads.length - 1 && x >= columnSpan(paper, mode, leads.length, c + 1)[0]) c++;
  const name = leads[c];
  const lead = name === INVERTED ? "aVR" : name;
  const top = heightMm - r * pitch;
  return {
    name,
    lead,
    row: r,
    column: c,
    baseline: (top - baseline) * uvPerMm,
    // µV of the lead per µV of paper y
    scale: (name === INVERTED ? -1 : 1) * (paper.gain / leadGain(paper, lead)),
  };
}

/** The traces of a view: each lead's segment (from `segmentAt`), calibration pulses, text. */
export function paperTraces(paper, mode, view, segmentAt) {
  const { rows, pitch, baseline } = paperRows(paper, mode);
  const g = paperGeometry(paper, mode);
  const uvPerMm = 1000 / paper.gain;
  const traces = [];
  const calX = [];
  const calY = [];
  const mm = g.pxPerMm / g.pxPerS; // seconds per mm on this page
  const start = mode === "overview" ? 0 : (paper.pageStart ?? 0);
  rows.forEach((leads, r) => {
    const top = g.heightMm - r * pitch;
    const offset = (top - baseline) * uvPerMm;
    const columns = leads.length;
    leads.forEach((name, c) => {
      const [a, b] = columnSpan(paper, mode, columns, c);
      const lead = name === INVERTED ? "aVR" : name;
      const scale = (name === INVERTED ? -1 : 1) * (leadGain(paper, lead) / paper.gain);
      const data = b > a ? segmentAt(lead, a, b, offset, scale) : null;
      const rhythm = mode !== "overview" && columns === 1 && rows.length === 4;
      if (data) {
        traces.push({
          type: "scatter",
          mode: "lines",
          name,
          // rowY: the row's extent in paper µV, where evidence bands go (viewer-evidence.js)
          meta: { lead, row: r, column: c, rhythm, start: a, end: b, gain: leadGain(paper, lead), inverted: scale < 0, rowY: [(top - pitch) * uvPerMm, top * uvPerMm] },
          ...(data.x ? { x: data.x } : { x0: data.x0, dx: data.dx }),
          y: data.y,
          line: { color: PAPER_COLOURS.trace, width: 1.2, simplify: data.simplify },
          hoverinfo: "skip",
          showlegend: false,
        });
      }
    });
    // Calibration pulse in the margin before the page: 1 mV high (at the row's
    // gain), 200 ms wide (in the compressed overview its width only marks the place).
    const width = mode === "overview" ? 4 * mm : CAL_S;
    const height = CAL_UV * (leadGain(paper, leads.at(-1)) / paper.gain);
    const flat = Math.min(1, (MARGIN_MM - width / mm) / 4) * mm; // 1 mm, less at 50 mm/s
    const x1 = start - g.margin + flat;
    const points = [
      [x1, 0],
      [x1 + flat, 0],
      [x1 + flat, height],
      [x1 + flat + width, height],
      [x1 + flat + width, 0],
      [x1 + 2 * flat + width, 0],
    ];
    for (const [x, y] of points) {
      calX.push(x);
      calY.push(y + offset);
    }
    calX.push(NaN);
    calY.push(NaN);
  });
  traces.push({
    type: "scatter",
    mode: "lines",
    name: "calibration",
    meta: { calibration: true, height_uv: CAL_UV, width_s: mode === "overview" ? null : CAL_S },
    x: Float64Array.from(calX),
    y: Float32Array.from(calY),
    line: { color: PAPER_COLOURS.calibration, width: 1.4, simplify: false },
    hoverinfo: "skip",
    showlegend: false,
    connectgaps: false,
  });
  traces.push(paperText(paper, mode, view));
  return traces;
}

/**
 * The text on the paper as one text trace (cheaper than annotations): lead
 * names, kept inside what is shown when zoomed, and the settings printed in the
 * footer. Redrawn on its own after a zoom or pan (`Plotly.restyle`).
 */
export function paperText(paper, mode, view) {
  const { rows, pitch } = paperRows(paper, mode);
  const g = paperGeometry(paper, mode);
  const uvPerMm = 1000 / paper.gain;
  const sPerPx = (view.x[1] - view.x[0]) / g.width;
  const uvPerPx = (view.y[1] - view.y[0]) / g.height;
  const mm = g.pxPerMm / g.pxPerS;
  const text = { x: [], y: [], text: [], colour: [], position: [] };
  rows.forEach((leads, r) => {
    const top = g.heightMm - r * pitch;
    leads.forEach((name, c) => {
      const [a, b] = columnSpan(paper, mode, leads.length, c);
      const present = b > a && (paper.leads?.includes(name === INVERTED ? "aVR" : name) ?? true);
      // At the column's start, or at the left edge of the view when zoomed past it.
      const x = Math.max(mode === "overview" ? a : a + (c === 0 ? 0 : 1.5 * mm), view.x[0] + 4 * sPerPx);
      const y = Math.max(Math.min((top - 1) * uvPerMm, view.y[1] - 3 * uvPerPx), (top - pitch + 3) * uvPerMm);
      text.x.push(x < b ? x : a);
      text.y.push(y);
      const label = name === INVERTED ? "−aVR" : name;
      text.text.push(present ? `<b>${label}</b>` : `${label} –`);
      text.colour.push(present ? PAPER_COLOURS.label : "#8a8f96");
      text.position.push("bottom right");
    });
  });
  text.x.push(view.x[0] + 4 * sPerPx);
  text.y.push(Math.max(view.y[0], 0) + 1 * uvPerMm);
  text.text.push(footerText(paper, mode, view));
  text.colour.push(PAPER_COLOURS.footer);
  text.position.push("top right");
  return {
    type: "scatter",
    mode: "text",
    name: "labels",
    meta: { labels: true, footer: text.text.at(-1) },
    x: Float64Array.from(text.x),
    y: Float64Array.from(text.y),
    text: text.text,
    textposition: text.position,
    textfont: { size: 13, color: text.colour, family: "system-ui, sans-serif" },
    hoverinfo: "skip",
    showlegend: false,
  };
}

/** `Plotly.restyle` data moving the text trace to a new view. */
export function paperTextUpdate(paper, mode, view) {
  const trace = paperText(paper, mode, view);
  return {
    x: [trace.x],
    y: [trace.y],
    text: [trace.text],
    textposition: [trace.textposition],
    "textfont.color": [trace.textfont.color],
    meta: [trace.meta],
  };
}

/** The axis ranges of `view` zoomed by `factor` about `at` ({t, y}, else the
 * centre), kept inside `home`; null when that is the whole of home. */
export function zoomedView(view, home, factor, at = null) {
  const [x0, x1] = view.x;
  const [y0, y1] = view.y;
  const scale = Math.min(1 / factor, (home.x[1] - home.x[0]) / (x1 - x0));
  if (scale >= 1 - 1e-9 && factor < 1) return null;
  const fit = (a, b, c, limits) => {
    const lo = c - (c - a) * scale;
    const hi = c + (b - c) * scale;
    const shift = Math.max(limits[0] - lo, 0) - Math.max(hi - limits[1], 0);
    return [lo + shift, hi + shift];
  };
  const update = { "xaxis.range": fit(x0, x1, at?.t ?? (x0 + x1) / 2, home.x) };
  if (view.mode === "paper") update["yaxis.range"] = fit(y0, y1, at?.y ?? (y0 + y1) / 2, home.y);
  return update;
}

/** What the footer prints: speed, gains and filters (the overview: its grid). */
export function footerText(paper, mode, view) {
  if (mode !== "overview") return settingsText(paper);
  const grid = overviewGrid(paper, view);
  const what = interpolate(gettext("Whole record · lines every %(step)s s"), { step: trimNumber(grid.major) });
  return [what, gainText(paper), paper.filterText].filter(Boolean).join("  ");
}

function trimNumber(value) {
  return String(Number(value.toPrecision(6)));
}

/** The overview's time grid: a minor step of 40 ms × 5^k so lines stay ≥ 2.5 px apart. */
function overviewGrid(paper, view) {
  const g = paperGeometry(paper, "overview");
  let minor = 0.04;
  const pxPerS = g.width / (view.x[1] - view.x[0]);
  while (minor * pxPerS < 2.5) minor *= 5;
  return { minor, major: minor * 5, showMinor: true };
}

/** ECG paper's grid: major lines every 5 mm and minor every 1 mm, always; the
 * minor lines are hidden (never respaced) when they would be under 2 px apart. */
function paperGrid(mmStep, pxPerUnit) {
  return { minor: mmStep, major: 5 * mmStep, showMinor: mmStep * pxPerUnit >= MINOR_MIN_PX };
}

/** The axes of a view: ECG paper gridlines, ranges, and square millimetres. */
export function paperLayout(paper, mode, view) {
  const g = paperGeometry(paper, mode);
  const { x, y } = view;
  const onPaper = mode === "paper";
  const xGrid = onPaper ? paperGrid(1 / paper.speed, g.width / (x[1] - x[0])) : overviewGrid(paper, view);
  const yGrid = paperGrid(1000 / paper.gain, g.height / (y[1] - y[0]));
  const axis = (grid) => ({
    dtick: grid.major,
    tick0: 0,
    showgrid: true,
    gridcolor: PAPER_COLOURS.major,
    gridwidth: 1,
    minor: { dtick: grid.minor, tick0: 0, showgrid: grid.showMinor, gridcolor: PAPER_COLOURS.minor, gridwidth: 1 },
    showticklabels: false,
    ticks: "",
    zeroline: false,
    showline: false,
    layer: "below traces",
  });
  return {
    width: g.width,
    height: g.height,
    margin: { l: 0, r: 0, t: 0, b: 0, pad: 0 },
    paper_bgcolor: PAPER_COLOURS.background,
    plot_bgcolor: PAPER_COLOURS.background,
    showlegend: false,
    hovermode: false,
    dragmode: "zoom",
    xaxis: { ...axis(xGrid), range: [...x], fixedrange: false },
    yaxis: {
      ...axis(yGrid),
      range: [...y],
      // 1 mm is as many pixels up as across: y px per µV over x px per s.
      ...(onPaper ? { scaleanchor: "x", scaleratio: paper.gain / 1000 / paper.speed, constrain: "range" } : {}),
      fixedrange: !onPaper, // the overview zooms in time only
    },
  };
}

export const PLOT_CONFIG = {
  displaylogo: false,
  showSendToCloud: false,
  showEditInChartStudio: false,
  responsive: false,
  scrollZoom: false,
  doubleClick: false, // handled by the viewer: back to the page at paper scale
  showTips: false, // Plotly's "double-click to zoom back out" would cover the page's controls
  displayModeBar: "hover",
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "resetScale2d", "toImage"],
};
