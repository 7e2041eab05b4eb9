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
 * One module per part: viewer-paper.js draws the paper (layouts, millimetre
 * grid, traces), viewer-signal.js fetches and parses signals; this one owns the
 * figure: which exam and window are drawn, the signal cache, zoom and controls.
 * (Research: shared/research/viewer.md, viewer-bench.md.)
 * - Speed and gain change millimetres per second and per millivolt; the paper
 *   (px per mm) stays, and `scaleanchor` keeps a millimetre square while zooming.
 * - The server decimates with M4 aligned to the pixel columns we ask for when
 *   there are more than 4 samples per column; zooming in asks again for the
 *   visible window at full resolution.
 * - Records longer than LONG_RECORD_S open as an overview: one row per lead over
 *   the whole record, time compressed to fit, amplitude still at paper gain.
 */

import { ApiError, examTitle, plotlyReady } from "./dom.js";
import {
  GAINS,
  homeView,
  LAYOUT_NAMES,
  LAYOUTS,
  LONG_RECORD_S,
  PAGE_S,
  paperGeometry,
  paperLayout,
  paperTraces,
  PLOT_CONFIG,
  SPEEDS,
} from "./viewer-paper.js";
import { fetchSignal, parseSignal, segment } from "./viewer-signal.js";

// Pages and benchmarks import these from the viewer, wherever they are kept.
export { ApiError, GAINS, LAYOUT_NAMES, parseSignal, plotlyReady, SPEEDS };

const MIN_WIDTH = 16; // pixel columns the signal endpoint accepts
const MAX_WIDTH = 20000;
// Plotly sends one relayout per zoom or pan; a newer one aborts the older fetch.
const REFETCH_DELAY_MS = 0;
const CACHE_SIZE = 6;

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
    this.view = homeView(this._paper(), this.mode);
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

  _fetch(examId, { width, start = null, end = null, signal = undefined }) {
    this.fetches++;
    return fetchSignal(this.apiRoot, examId, {
      width,
      start: start !== null && start > 0 ? start : null,
      // No end means the record's end (a rounded end could fall past it: 400).
      end: end !== null && end < this._duration() - 1e-9 ? end : null,
      signal,
    });
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

  /** What the drawing depends on (viewer-paper.js). */
  _paper() {
    return {
      available: Math.max(this.graph?.clientWidth || this.element.clientWidth || 1000, 320),
      layoutName: this.layoutName,
      leads: this.base ? [...this.base.leads.keys()] : null,
      speed: this.speed,
      gain: this.gain,
      duration: this._duration(),
    };
  }

  _geometry(mode, duration = this._duration()) {
    return paperGeometry(this._paper(), mode, duration);
  }

  // --- Drawing -------------------------------------------------------------------

  _redrawHome(reason) {
    if (!this.base) return Promise.resolve();
    const started = performance.now();
    this._cancelDetail();
    this.detail = null;
    this.view = homeView(this._paper(), this.mode);
    return this._render(true).then(() => {
      this._announce(started, reason);
      this._ensureResolution();
    });
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

  /** Draw the current view; `fresh` rebuilds the graph (new exam, layout or scale). */
  _render(fresh) {
    const run = async () => {
      const Plotly = await plotlyReady();
      const mode = this.view.mode;
      const paper = this._paper();
      const traces = paperTraces(paper, mode, this.view, (lead, a, b, offset) => this._segment(lead, a, b, offset));
      const layout = paperLayout(paper, mode, this.view);
      this._selfUpdate = true;
      try {
        if (fresh || !this._plotted) {
          await Plotly.react(this.graph, traces, layout, PLOT_CONFIG);
          if (!this._plotted) this._bindPlotly();
          this._plotted = true;
        } else {
          await Plotly.react(this.graph, traces, layout, PLOT_CONFIG);
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
    const layout = paperLayout(this._paper(), this.view.mode, this.view);
    return layout.xaxis.dtick !== full.xaxis.dtick || layout.yaxis.dtick !== full.yaxis.dtick;
  }

  _describe() {
    const exam = this.exam;
    const mode = this.view.mode === "overview" ? "overview of the whole record" : `${this.layoutName} layout`;
    const id = exam?.display_key ? `${examTitle(exam.display_key)}: ` : "";
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
