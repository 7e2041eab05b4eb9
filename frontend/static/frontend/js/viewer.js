/**
 * The 12-lead ECG viewer: one Plotly graph that looks and measures like ECG paper.
 *
 *   const viewer = new EcgViewer(element, {layout: "3x4", speed: 25, gain: 10});
 *   await viewer.load(examId, {exam});   // fetch (or take from the cache) and draw
 *   viewer.prefetch(nextExamId, {exam}); // fetch into memory; a later load draws at once
 *   viewer.setLayout("6x2"); viewer.setSpeed(50); viewer.setGain(5);
 *   element.addEventListener("drawn", (e) => e.detail); // {examId, ms, reason, method}
 *   viewer.destroy();
 *
 * Drawing decisions (research: shared/research/viewer.md, viewer-bench.md):
 * - All leads live in ONE graph on ONE pair of axes: x is time in seconds, y is
 *   microvolts, and each row of the paper sits at its own baseline offset (a
 *   multiple of 1 mm), exactly as leads are printed on one sheet. A lead may
 *   reach into the neighbouring row as on paper instead of being clipped, the
 *   grid is continuous, zoom and pan move every lead together, and one subplot
 *   is the cheapest figure Plotly can draw (fewer axes beat fewer points).
 * - The paper grid is the axes' own major and minor gridlines (5 mm and 1 mm),
 *   never shapes. The pixel size of a millimetre is the same on both axes:
 *   ranges are computed from the plot's pixel size, and `scaleanchor` keeps the
 *   ratio while zooming. Speed and gain change millimetres per second and per
 *   millivolt; the paper (px per mm) stays.
 * - Samples arrive as int16 microvolts in a binary payload (api/signal.py) and
 *   go to Plotly as typed arrays. The server decimates with M4 aligned to the
 *   pixel columns we ask for when there are more than 4 samples per column;
 *   zooming in asks again for the visible window at full resolution.
 * - Records longer than LONG_RECORD_S open as an overview: one row per lead over
 *   the whole record, time compressed to fit, amplitude still at paper gain.
 */

const STANDARD_LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"];

// Rows of the paper, each a list of leads sharing the row's time span in equal
// columns; pitch is the distance between baselines and baseline the distance
// from the top of the row, in mm (multiples of 5 so baselines sit on major lines).
const LAYOUTS = {
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

const PAGE_S = 10; // a resting ECG page: 10 s, four 2.5 s columns in 3x4
const PAPER_MM = 260; // width of the drawn paper: 10 mm for the calibration pulse + 250 mm
const LONG_RECORD_S = 15; // longer records open as an overview
const CAL_UV = 1000; // calibration pulse: 1 mV ...
const CAL_S = 0.2; // ... for 200 ms
const MIN_WIDTH = 16; // pixel columns the signal endpoint accepts
const MAX_WIDTH = 20000;
// Plotly sends one relayout per zoom or pan; a newer one aborts the older fetch.
const REFETCH_DELAY_MS = 0;
const CACHE_SIZE = 6;

const PAPER_COLOURS = {
  background: "#fffafa",
  minor: "#f7cdd3",
  major: "#e58a96",
  trace: "#111111",
  calibration: "#111111",
  label: "#111111",
};

/** A failed API call: `status` is the HTTP status, `message` the API's detail. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let plotlyPromise = null;

/** Plotly.js once it has run (the page includes /vendor/plotly-<version>.min.js). */
export function plotlyReady() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const script = document.querySelector('script[src*="/vendor/plotly-"]');
      if (!script) {
        reject(new Error("Plotly.js is not on this page (/vendor/plotly-<version>.min.js)."));
        return;
      }
      script.addEventListener("load", () => resolve(window.Plotly));
      script.addEventListener("error", () => reject(new Error("Plotly.js failed to load.")));
    });
  }
  return plotlyPromise;
}

/** Parse the binary signal payload: uint32 header length, JSON header, aligned blocks. */
export function parseSignal(buffer) {
  const view = new DataView(buffer);
  const headerLength = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const dataStart = (4 + headerLength + 3) & ~3;
  const block = (spec, Type) => {
    if (!spec) return null;
    const [offset, byteLength] = spec;
    const at = dataStart + offset;
    // Views need aligned offsets; the server pads, but copy rather than fail.
    if (at % Type.BYTES_PER_ELEMENT === 0) {
      return new Type(buffer, at, byteLength / Type.BYTES_PER_ELEMENT);
    }
    return new Type(buffer.slice(at, at + byteLength));
  };
  const leads = new Map();
  for (const lead of header.leads) {
    leads.set(lead.name, { n: lead.n, y: block(lead.y, Int16Array), x: block(lead.x, Int32Array) });
  }
  const fs = header.sampling_rate;
  return {
    exam: header.exam,
    fs,
    start: header.start,
    end: header.end,
    method: header.method,
    width: header.width,
    x0: header.x0 ?? Math.round(header.start * fs),
    nWindow: header.n_window,
    duration: header.duration ?? header.n_window / fs,
    leads,
    bytes: buffer.byteLength,
    // Pixel columns per second this payload is exact for (raw: any).
    resolution: header.method === "raw" ? Infinity : header.width / Math.max(header.end - header.start, 1e-9),
  };
}

function lowerBound(array, value) {
  let lo = 0;
  let hi = array.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (array[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One lead's samples between times a and b (s) as Plotly arrays, shifted by offset µV. */
function segment(signal, lead, a, b, offset) {
  const data = signal.leads.get(lead);
  if (!data) return null;
  const { fs } = signal;
  if (!data.x) {
    // Raw: sample i is at start + i / fs.
    const i0 = Math.max(0, Math.ceil((a - signal.start) * fs - 1e-6));
    const i1 = Math.min(data.y.length, Math.floor((b - signal.start) * fs + 1e-6) + 1);
    if (i1 - i0 < 1) return null;
    const y = new Float32Array(i1 - i0);
    const source = data.y;
    for (let i = 0; i < y.length; i++) y[i] = source[i0 + i] + offset;
    return { x0: signal.start + i0 / fs, dx: 1 / fs, y, simplify: true };
  }
  // M4: per-lead sample indices relative to x0, ascending.
  const k0 = lowerBound(data.x, a * fs - signal.x0 - 1e-6);
  const k1 = lowerBound(data.x, b * fs - signal.x0 + 1e-6);
  if (k1 - k0 < 1) return null;
  const x = new Float64Array(k1 - k0);
  const y = new Float32Array(k1 - k0);
  for (let k = 0; k < x.length; k++) {
    x[k] = (signal.x0 + data.x[k0 + k]) / fs;
    y[k] = data.y[k0 + k] + offset;
  }
  // Decimated points are already the pixel-exact minimum: no further simplifying.
  return { x, y, simplify: false };
}

/** Gridline spacing: the paper step, coarsened by 5x until lines are >= minPx apart. */
function gridStep(step, pxPerUnit, minPx) {
  let minor = step;
  while (minor * pxPerUnit < minPx) minor *= 5;
  return { minor, major: minor * 5 };
}

export class EcgViewer {
  /**
   * @param {HTMLElement} element where the viewer draws (it fills the width)
   * @param {{layout?: string, speed?: number, gain?: number, controls?: boolean,
   *          apiRoot?: string}} options
   */
  constructor(element, { layout = "3x4", speed = 25, gain = 10, controls = true, apiRoot = "/api/" } = {}) {
    if (!LAYOUTS[layout]) throw new Error(`Unknown layout ${layout}; use ${LAYOUT_NAMES.join(", ")}.`);
    this.element = element;
    this.apiRoot = apiRoot;
    this.layoutName = layout;
    this.speed = Number(speed);
    this.gain = Number(gain);
    this.examId = null;
    this.exam = null;
    this.base = null; // the whole record at the resolution of the page
    this.detail = null; // the zoomed window at full resolution
    this.mode = "paper"; // or "overview": the whole record, time compressed to fit
    this.view = null; // {mode, x: [a, b], y: [a, b]} of the current drawing
    this.cache = new Map(); // examId -> Promise<signal>
    this.fetches = 0; // signal requests made (tests and benchmarks read it)
    this._token = 0;
    this._drawing = Promise.resolve();
    this._refetchTimer = null;
    this._detailAbort = null;

    element.classList.add("ecg-viewer");
    this.toolbar = controls ? this._buildToolbar() : null;
    this.graph = document.createElement("div");
    this.graph.className = "ecg-graph";
    this.graph.setAttribute("role", "img");
    this.graph.setAttribute("aria-label", "12-lead ECG");
    element.append(this.graph);

    this._onResize = () => this._scheduleResize();
    this._resizeObserver = new ResizeObserver(this._onResize);
    this._resizeObserver.observe(element);
    this._lastWidth = element.clientWidth;
  }

  // --- Public API --------------------------------------------------------------

  /** Fetch (or take from the prefetch cache) and draw one exam. */
  async load(examId, { exam = null } = {}) {
    const started = performance.now();
    const token = ++this._token;
    this._cancelDetail();
    const [signal] = await Promise.all([this._signal(examId, exam), plotlyReady()]);
    if (token !== this._token) return; // a newer load() won
    this.examId = examId;
    this.exam = exam;
    this.base = signal;
    this.detail = null;
    this.mode = this._duration() > LONG_RECORD_S ? "overview" : "paper";
    this._syncToolbar();
    this.view = this._homeView();
    await this._render(true);
    if (token !== this._token) return;
    this._announce(started, "load");
  }

  /** Fetch an exam's signal into memory so that load() draws without the network. */
  prefetch(examId, { exam = null } = {}) {
    return this._signal(examId, exam).then(
      () => undefined,
      () => undefined, // a failed prefetch is retried by load(), which reports
    );
  }

  /** "3x4", "6x2", "12x1", or "overview" (every lead over the whole record). */
  setLayout(layout) {
    if (layout === "overview") {
      this.mode = "overview";
    } else if (LAYOUTS[layout]) {
      this.layoutName = layout;
      this.mode = "paper";
    } else {
      throw new Error(`Unknown layout ${layout}; use ${LAYOUT_NAMES.join(", ")} or overview.`);
    }
    this._syncToolbar();
    return this._redrawHome("layout");
  }

  setSpeed(mmPerS) {
    const speed = Number(mmPerS);
    if (!(speed > 0)) throw new Error(`Paper speed must be positive, got ${mmPerS}.`);
    this.speed = speed;
    this._syncToolbar();
    return this._redrawHome("speed");
  }

  setGain(mmPerMv) {
    const gain = Number(mmPerMv);
    if (!(gain > 0)) throw new Error(`Gain must be positive, got ${mmPerMv}.`);
    this.gain = gain;
    this._syncToolbar();
    return this._redrawHome("gain");
  }

  /** Back to the whole page (or record) after zooming. */
  resetZoom() {
    return this._redrawHome("reset");
  }

  /** What is drawn: for pages, tests and benchmarks. */
  get info() {
    const geometry = this.view ? this._geometry(this.view.mode) : null;
    return {
      examId: this.examId,
      layout: this.mode === "overview" ? "overview" : this.layoutName,
      speed: this.speed,
      gain: this.gain,
      pxPerMm: geometry?.pxPerMm ?? null,
      method: (this.detail ?? this.base)?.method ?? null,
      window: this.detail ? [this.detail.start, this.detail.end] : this.base ? [this.base.start, this.base.end] : null,
      fetches: this.fetches,
    };
  }

  destroy() {
    this._token++;
    this._cancelDetail();
    clearTimeout(this._resizeTimer);
    this._resizeObserver.disconnect();
    if (window.Plotly) window.Plotly.purge(this.graph);
    this.cache.clear();
    this.element.replaceChildren();
    this.element.classList.remove("ecg-viewer");
  }

  // --- Data ----------------------------------------------------------------------

  _signal(examId, exam) {
    const key = String(examId);
    let entry = this.cache.get(key);
    if (entry) {
      this.cache.delete(key); // most recently used goes last
    } else {
      entry = this._fetch(examId, { width: this._baseWidth(exam) });
      entry.catch(() => this.cache.get(key) === entry && this.cache.delete(key));
    }
    this.cache.set(key, entry);
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value);
    return entry;
  }

  async _fetch(examId, { width, start = null, end = null, signal = undefined }) {
    const params = new URLSearchParams({ width: String(width) });
    if (start !== null && start > 0) params.set("start", String(start));
    // No end means the record's end (a rounded end could fall past it: 400).
    if (end !== null && end < this._duration() - 1e-9) params.set("end", String(end));
    this.fetches++;
    const response = await fetch(`${this.apiRoot}exams/${encodeURIComponent(examId)}/signal/?${params}`, {
      credentials: "same-origin",
      headers: { Accept: "application/octet-stream" },
      signal,
    });
    if (!response.ok) {
      let detail = `The signal could not be loaded (HTTP ${response.status}).`;
      try {
        detail = (await response.json()).detail || detail;
      } catch {
        // not JSON: keep the generic message
      }
      throw new ApiError(response.status, detail);
    }
    return parseSignal(await response.arrayBuffer());
  }

  /** Pixel columns to ask for: the page's scale, or raw when raw is no bigger than M4. */
  _baseWidth(exam) {
    const duration = exam?.duration_s ?? (exam ? exam.n_samples / exam.sampling_rate : null);
    const mode = duration !== null && duration > LONG_RECORD_S ? "overview" : "paper";
    const geometry = this._geometry(mode, duration ?? PAGE_S);
    const seconds = mode === "overview" ? duration : Math.min(duration ?? PAGE_S, PAGE_S);
    return this._columns(geometry.pxPerS * seconds);
  }

  /** Device pixel columns for a span of css px: the resolution to ask the server for.
   * The server sends raw samples when there are at most 4 per column or when M4
   * (int16 y + int32 x per point) would not be smaller. */
  _columns(cssPx) {
    return Math.min(Math.max(Math.ceil(cssPx * (window.devicePixelRatio || 1)), MIN_WIDTH), MAX_WIDTH);
  }

  _cancelDetail() {
    clearTimeout(this._refetchTimer);
    this._detailAbort?.abort();
    this._detailAbort = null;
  }

  // --- Geometry --------------------------------------------------------------------

  _duration() {
    return this.base ? this.base.duration : PAGE_S;
  }

  _rows(mode) {
    if (mode === "overview") {
      const names = this.base ? [...this.base.leads.keys()] : STANDARD_LEADS;
      const pitch = names.length > 6 ? 15 : names.length > 3 ? 25 : 30;
      return { rows: names.map((name) => [name]), pitch, baseline: Math.round((pitch * 0.6) / 5) * 5 };
    }
    return LAYOUTS[this.layoutName];
  }

  /** Pixel sizes: px per mm from the width (in 0.05 px steps), plot size, scales. */
  _geometry(mode, duration = this._duration()) {
    const available = Math.max(this.graph?.clientWidth || this.element.clientWidth || 1000, 320);
    const pxPerMm = Math.max(Math.floor((available / PAPER_MM) * 20) / 20, 1.2);
    const { rows, pitch } = this._rows(mode);
    const width = Math.round(PAPER_MM * pxPerMm);
    const height = Math.round(rows.length * pitch * pxPerMm);
    const pxPerUv = (pxPerMm * this.gain) / 1000;
    let pxPerS = pxPerMm * this.speed;
    let margin = Math.max(10, CAL_S * this.speed + 5) / this.speed; // s before t=0
    if (mode === "overview") {
      margin = duration / 25; // 10 mm of 250
      pxPerS = width / (duration + margin);
    }
    return { pxPerMm, width, height, pxPerUv, pxPerS, margin, pitchMm: pitch };
  }

  _homeView() {
    const mode = this.mode;
    const g = this._geometry(mode);
    const x = [-g.margin, -g.margin + g.width / g.pxPerS];
    const y = [0, g.height / g.pxPerUv];
    return { mode, x, y };
  }

  // --- Drawing -------------------------------------------------------------------

  _redrawHome(reason) {
    if (!this.base) return Promise.resolve();
    const started = performance.now();
    this._cancelDetail();
    this.detail = null;
    this.view = this._homeView();
    return this._render(true).then(() => {
      this._announce(started, reason);
      this._ensureResolution();
    });
  }

  _traces(mode) {
    const { rows, pitch, baseline } = this._rows(mode);
    const g = this._geometry(mode);
    const uvPerMm = 1000 / this.gain;
    const heightMm = rows.length * pitch;
    const span = mode === "overview" ? this._duration() : Math.min(this._duration(), PAGE_S);
    const traces = [];
    // Lead labels as one text trace: cheaper to draw than layout annotations.
    const labels = { x: [], y: [], text: [], colour: [] };
    const labelX = this.view.x[0] + (4 * (this.view.x[1] - this.view.x[0])) / g.width;
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
        const data = this._segment(lead, a, b, offset);
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
    return { traces };
  }

  /** A lead between a and b seconds from the best data that covers it. */
  _segment(lead, a, b, offset) {
    const d = this.detail;
    if (d && b > d.start && a < d.end) {
      const part = segment(d, lead, Math.max(a, d.start), Math.min(b, d.end), offset);
      if (part) return part;
    }
    return segment(this.base, lead, a, b, offset);
  }

  _layout(mode) {
    const g = this._geometry(mode);
    const { x, y } = this.view;
    const paper = mode === "paper";
    const xStep = paper ? 1 / this.speed : null;
    const xGrid = paper
      ? gridStep(xStep, g.width / (x[1] - x[0]), 2.5)
      : gridStep(0.04, g.width / (x[1] - x[0]), 2.5);
    const yGrid = gridStep(1000 / this.gain, g.height / (y[1] - y[0]), 2.5);
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
        ...(paper ? { scaleanchor: "x", scaleratio: this.gain / 1000 / this.speed, constrain: "range" } : {}),
        fixedrange: !paper, // the overview zooms in time only
      },
    };
  }

  _config() {
    return {
      displaylogo: false,
      showSendToCloud: false,
      showEditInChartStudio: false,
      responsive: false,
      scrollZoom: false,
      doubleClick: false, // handled here: back to the page at paper scale
      displayModeBar: "hover",
      modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "resetScale2d", "toImage"],
    };
  }

  /** Draw the current view; `fresh` rebuilds the graph (new exam, layout or scale). */
  _render(fresh) {
    const run = async () => {
      const Plotly = await plotlyReady();
      const mode = this.view.mode;
      const { traces } = this._traces(mode);
      const layout = this._layout(mode);
      this._selfUpdate = true;
      try {
        if (fresh || !this._plotted) {
          await Plotly.react(this.graph, traces, layout, this._config());
          if (!this._plotted) this._bindPlotly();
          this._plotted = true;
        } else {
          await Plotly.react(this.graph, traces, layout, this._config());
        }
      } finally {
        this._selfUpdate = false;
      }
      this._describe();
      await new Promise((resolve) => requestAnimationFrame(resolve));
    };
    this._drawing = this._drawing.then(run, run);
    return this._drawing;
  }

  _bindPlotly() {
    this.graph.on("plotly_relayout", (event) => this._onRelayout(event));
    this.graph.on("plotly_doubleclick", () => {
      this.resetZoom();
    });
  }

  _onRelayout(event) {
    if (this._selfUpdate || !this.view) return;
    const full = this.graph._fullLayout;
    if (!full) return;
    if (event["xaxis.autorange"] || event["yaxis.autorange"]) {
      this.resetZoom();
      return;
    }
    this.view = { ...this.view, x: [...full.xaxis.range], y: [...full.yaxis.range] };
    clearTimeout(this._refetchTimer);
    this._refetchTimer = setTimeout(() => this._ensureResolution(), REFETCH_DELAY_MS);
  }

  /** After a zoom or pan: make sure what is visible is drawn at full resolution. */
  async _ensureResolution() {
    if (!this.base || !this.view) return;
    const started = performance.now();
    const [a, b] = this.view.x;
    const g = this._geometry(this.view.mode);
    const needed = (g.width / (b - a)) * (window.devicePixelRatio || 1) * 0.9;
    const covers = (s) => s && s.start <= Math.max(a, 0) + 1e-6 && s.end >= Math.min(b, this._duration()) - 1e-6;
    const regrid = this._gridChanged();
    if (this.base.resolution >= needed) {
      if (this.detail || regrid) {
        this.detail = null;
        await this._render(false);
        this._announce(started, "zoom");
      }
      return;
    }
    if (covers(this.detail) && this.detail.resolution >= needed) {
      if (regrid) await this._render(false);
      return;
    }
    // Fetch the visible window plus half a window each side (small pans are free).
    const span = b - a;
    const start = Math.max(0, a - span / 2);
    const end = Math.min(this._duration(), b + span / 2);
    if (end <= start) return;
    const width = this._columns((g.width / span) * (end - start));
    this._detailAbort?.abort();
    const abort = new AbortController();
    this._detailAbort = abort;
    const token = this._token;
    let detail;
    try {
      detail = await this._fetch(this.examId, { width, start, end, signal: abort.signal });
    } catch (error) {
      if (error.name !== "AbortError") this._dispatch("error", { examId: this.examId, message: error.message });
      return;
    }
    if (token !== this._token || abort.signal.aborted) return;
    this.detail = detail;
    await this._render(false);
    this._announce(started, "zoom");
  }

  /** Whether the zoom moved the gridlines to another spacing (drawn on next render). */
  _gridChanged() {
    const full = this.graph._fullLayout;
    if (!full || !this.view) return false;
    const layout = this._layout(this.view.mode);
    return layout.xaxis.dtick !== full.xaxis.dtick || layout.yaxis.dtick !== full.yaxis.dtick;
  }

  _describe() {
    const exam = this.exam;
    const mode = this.view.mode === "overview" ? "overview of the whole record" : `${this.layoutName} layout`;
    const id = exam?.exam_id ? `Exam ${exam.exam_id}: ` : "";
    this.graph.setAttribute(
      "aria-label",
      `${id}ECG, ${mode}, ${this.speed} mm/s, ${this.gain} mm/mV, ${[...this.base.leads.keys()].join(", ")}`,
    );
    if (this.status) {
      const s = this.detail ?? this.base;
      const res = s.method === "raw" ? "full resolution" : "decimated (M4)";
      this.status.textContent = `${this.view.mode === "overview" ? "Overview · " : ""}${s.fs} Hz · ${res}`;
    }
  }

  _announce(started, reason) {
    const s = this.detail ?? this.base;
    this._dispatch("drawn", {
      examId: this.examId,
      ms: performance.now() - started,
      reason,
      method: s?.method ?? null,
      layout: this.info.layout,
    });
  }

  _dispatch(type, detail) {
    this.element.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _scheduleResize() {
    clearTimeout(this._resizeTimer);
    this._resizeTimer = setTimeout(() => {
      const width = this.element.clientWidth;
      if (Math.abs(width - this._lastWidth) < 4) return;
      this._lastWidth = width;
      if (this.base) this._redrawHome("resize");
    }, 150);
  }

  // --- Controls --------------------------------------------------------------------

  _buildToolbar() {
    const bar = document.createElement("div");
    bar.className = "ecg-toolbar";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", "ECG display");
    const uid = Math.random().toString(36).slice(2, 8);
    const select = (label, name, options, value, onChange) => {
      const wrap = document.createElement("span");
      wrap.className = "ecg-control";
      const id = `ecg-${name}-${uid}`;
      const lab = document.createElement("label");
      lab.htmlFor = id;
      lab.textContent = label;
      const sel = document.createElement("select");
      sel.id = id;
      sel.name = name;
      for (const [text, val] of options) sel.add(new Option(text, String(val), false, String(val) === String(value)));
      sel.addEventListener("change", () => onChange(sel.value));
      wrap.append(lab, sel);
      bar.append(wrap);
      return sel;
    };
    this.controls = {
      layout: select(
        "Layout",
        "layout",
        [["3×4 + II", "3x4"], ["6×2", "6x2"], ["12×1", "12x1"], ["Whole record", "overview"]],
        this.layoutName,
        (v) => this.setLayout(v),
      ),
      speed: select("Speed", "speed", SPEEDS.map((s) => [`${s} mm/s`, s]), this.speed, (v) => this.setSpeed(v)),
      gain: select("Gain", "gain", GAINS.map((s) => [`${s} mm/mV`, s]), this.gain, (v) => this.setGain(v)),
    };
    this.controls.overview = this.controls.layout.options[3];
    this.controls.overview.hidden = true;
    const reset = document.createElement("button");
    reset.type = "button";
    reset.className = "ecg-reset";
    reset.textContent = "Reset zoom";
    reset.title = "Undo zoom (or double-click the ECG)";
    reset.addEventListener("click", () => this.resetZoom());
    bar.append(reset);
    this.status = document.createElement("span");
    this.status.className = "ecg-status";
    bar.append(this.status);
    this.element.append(bar);
    return bar;
  }

  _syncToolbar() {
    if (!this.controls) return;
    const long = this.base ? this._duration() > LONG_RECORD_S : false;
    this.controls.overview.hidden = !long;
    this.controls.layout.value = this.mode === "overview" ? "overview" : this.layoutName;
    this.controls.speed.value = String(this.speed);
    this.controls.gain.value = String(this.gain);
  }
}
