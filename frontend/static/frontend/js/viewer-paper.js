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

const STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"];

// Rows of the paper, each a list of leads sharing the row's time span in equal
// columns; pitch is the distance between baselines and baseline the distance
// from the top of the row, in mm (multiples of 5 so baselines sit on major lines).
export const LAYOUTS = {
  "3x4": {
    rows: [["I", "aVR", "V1", "V4"], ["II", "aVL", "V2", "V5"], ["III", "aVF", "V3", "V6"], ["II"]],
    pitch: 35,
    baseline: 20,
  },
  "6x2": {
    rows: [["I", "V1"], ["II", "V2"], ["III", "V3"], ["aVR", "V4"], ["aVL", "V5"], ["aVF", "V6"]],
    pitch: 25,
    baseline: 15,
  },
  "12x1": { rows: STANDARD_LEADS.map((lead) => [lead]), pitch: 20, baseline: 10 },
};
export const LAYOUT_NAMES = Object.keys(LAYOUTS);
export const SPEEDS = [12.5, 25, 50];
export const GAINS = [5, 10, 20];

export const PAGE_S = 10; // a resting ECG page: 10 s, four 2.5 s columns in 3x4
const PAPER_MM = 260; // width of the drawn paper: 10 mm for the calibration pulse + 250 mm
export const LONG_RECORD_S = 15; // longer records open as an overview
const CAL_UV = 1000; // calibration pulse: 1 mV ...
const CAL_S = 0.2; // ... for 200 ms

const PAPER_COLOURS = {
  background: "#fffafa",
  minor: "#f7cdd3",
  major: "#e58a96",
  trace: "#111111",
  calibration: "#111111",
  label: "#111111",
};

/** Gridline spacing: the paper step, coarsened by 5x until lines are >= minPx apart. */
function gridStep(step, pxPerUnit, minPx) {
  let minor = step;
  while (minor * pxPerUnit < minPx) minor *= 5;
  return { minor, major: minor * 5 };
}

/** The rows of leads of a layout, or of the overview (one row per lead the signal has). */
function paperRows(paper, mode) {
  if (mode === "overview") {
    const names = paper.leads ?? STANDARD_LEADS;
    const pitch = names.length > 6 ? 15 : names.length > 3 ? 25 : 30;
    return { rows: names.map((name) => [name]), pitch, baseline: Math.round((pitch * 0.6) / 5) * 5 };
  }
  return LAYOUTS[paper.layoutName];
}

/** Pixel sizes: px per mm from the width (in 0.05 px steps), plot size, scales. */
export function paperGeometry(paper, mode, duration = paper.duration) {
  const pxPerMm = Math.max(Math.floor((paper.available / PAPER_MM) * 20) / 20, 1.2);
  const { rows, pitch } = paperRows(paper, mode);
  const width = Math.round(PAPER_MM * pxPerMm);
  const height = Math.round(rows.length * pitch * pxPerMm);
  const pxPerUv = (pxPerMm * paper.gain) / 1000;
  let pxPerS = pxPerMm * paper.speed;
  let margin = Math.max(10, CAL_S * paper.speed + 5) / paper.speed; // s before t=0
  if (mode === "overview") {
    margin = duration / 25; // 10 mm of 250
    pxPerS = width / (duration + margin);
  }
  return { pxPerMm, width, height, pxPerUv, pxPerS, margin, pitchMm: pitch };
}

/** The whole page (or record) at paper scale: x in s, y in µV. */
export function homeView(paper, mode) {
  const g = paperGeometry(paper, mode);
  const x = [-g.margin, -g.margin + g.width / g.pxPerS];
  const y = [0, g.height / g.pxPerUv];
  return { mode, x, y };
}

/** The traces of a view: each lead's segment (from `segmentAt`), calibration pulses, labels. */
export function paperTraces(paper, mode, view, segmentAt) {
  const { rows, pitch, baseline } = paperRows(paper, mode);
  const g = paperGeometry(paper, mode);
  const uvPerMm = 1000 / paper.gain;
  const heightMm = rows.length * pitch;
  const span = mode === "overview" ? paper.duration : Math.min(paper.duration, PAGE_S);
  const traces = [];
  // Lead labels as one text trace: cheaper to draw than layout annotations.
  const labels = { x: [], y: [], text: [], colour: [] };
  const labelX = view.x[0] + (4 * (view.x[1] - view.x[0])) / g.width;
  const calX = [];
  const calY = [];
  const mm = g.pxPerMm / g.pxPerS; // seconds per mm on this page
  rows.forEach((leads, r) => {
    const top = heightMm - r * pitch;
    const offset = (top - baseline) * uvPerMm;
    const columns = leads.length;
    leads.forEach((lead, c) => {
      const a = (span * c) / columns;
      const b = (span * (c + 1)) / columns;
      const data = segmentAt(lead, a, b, offset);
      const rhythm = mode !== "overview" && columns === 1 && rows.length === 4;
      if (data) {
        traces.push({
          type: "scatter",
          mode: "lines",
          name: lead,
          meta: { lead, row: r, column: c, rhythm, start: a, end: b },
          ...(data.x ? { x: data.x } : { x0: data.x0, dx: data.dx }),
          y: data.y,
          line: { color: PAPER_COLOURS.trace, width: 1.2, simplify: data.simplify },
          hoverinfo: "skip",
          showlegend: false,
        });
      }
      // Overview labels sit at the left edge of what is shown.
      labels.x.push(mode === "overview" ? labelX : a + (c === 0 ? 0 : 1.5 * mm));
      labels.y.push((top - 1) * uvPerMm);
      labels.text.push(data ? `<b>${lead}</b>` : `${lead} –`);
      labels.colour.push(data ? PAPER_COLOURS.label : "#8a8f96");
    });
    // Calibration pulse in the margin before t = 0: 1 mV high, 200 ms wide
    // (in the compressed overview its width only marks the place).
    const width = mode === "overview" ? 4 * mm : CAL_S;
    const x1 = -g.margin + 2 * mm;
    const points = [
      [x1, 0],
      [x1 + mm, 0],
      [x1 + mm, CAL_UV],
      [x1 + mm + width, CAL_UV],
      [x1 + mm + width, 0],
      [x1 + 2 * mm + width, 0],
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
  traces.push({
    type: "scatter",
    mode: "text",
    name: "labels",
    meta: { labels: true },
    x: Float64Array.from(labels.x),
    y: Float64Array.from(labels.y),
    text: labels.text,
    textposition: "bottom right",
    textfont: { size: 13, color: labels.colour, family: "system-ui, sans-serif" },
    hoverinfo: "skip",
    showlegend: false,
  });
  return traces;
}

/** The axes of a view: ECG paper gridlines, ranges, and square millimetres. */
export function paperLayout(paper, mode, view) {
  const g = paperGeometry(paper, mode);
  const { x, y } = view;
  const onPaper = mode === "paper";
  const xStep = onPaper ? 1 / paper.speed : null;
  const xGrid = onPaper
    ? gridStep(xStep, g.width / (x[1] - x[0]), 2.5)
    : gridStep(0.04, g.width / (x[1] - x[0]), 2.5);
  const yGrid = gridStep(1000 / paper.gain, g.height / (y[1] - y[0]), 2.5);
  const axis = (grid) => ({
    dtick: grid.major,
    tick0: 0,
    showgrid: true,
    gridcolor: PAPER_COLOURS.major,
    gridwidth: 1,
    minor: { dtick: grid.minor, tick0: 0, showgrid: true, gridcolor: PAPER_COLOURS.minor, gridwidth: 1 },
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
  displayModeBar: "hover",
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "resetScale2d", "toImage"],
};
