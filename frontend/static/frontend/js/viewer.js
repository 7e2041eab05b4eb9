/**
 * The 12-lead ECG viewer: one Plotly graph that looks and measures like ECG paper.
 *
 *   const viewer = new EcgViewer(element, {layout: "3x4", speed: 25, gain: 10});
 *   await viewer.load(examId, {exam});   // fetch (or take from the cache) and draw
 *   viewer.prefetch(nextExamId, {exam}); // fetch into memory; a later load draws at once
 *   viewer.setLayout("6x2"); viewer.setSpeed(50); viewer.setGain(5); viewer.setChestGain(5);
 *   viewer.setFilters({highpass: 0.5, lowpass: 40, notch: 60}); // filtered on the server
 *   viewer.page(1); viewer.zoom(1.5); viewer.calipers.toggle();
 *   element.addEventListener("drawn", (e) => e.detail); // {examId, ms, reason, method}
 *   viewer.destroy();
 *
 * One module per part: viewer-paper.js draws the paper (layouts, millimetre
 * grid, traces, printed settings), viewer-signal.js fetches and parses signals,
 * viewer-calipers.js measures, viewer-controls.js holds the toolbar, keys and
 * position bar; this one owns the figure: which exam, page and window are
 * drawn, the signal cache, filters and zoom.
 * (Research: shared/research/viewer.md, viewer-bench.md.)
 * - Speed and gain change millimetres per second and per millivolt; the paper
 *   (px per mm) stays, and `scaleanchor` keeps a millimetre square while zooming.
 * - The server decimates with M4 aligned to the pixel columns we ask for when
 *   there are more than 4 samples per column; zooming in asks again for the
 *   visible window at full resolution.
 * - Records longer than LONG_RECORD_S open as an overview: one row per lead over
 *   the whole record, time compressed to fit, amplitude still at paper gain.
 * - A page is 250 mm of tracing: 10 s at 25 mm/s, 5 s at 50 mm/s (3×4 then shows
 *   1.25 s per column); page(±1) moves through the record at any speed.
 * - Display filters run on the server on the full-resolution window before M4
 *   (api/signal.py); the signals cached here are keyed by exam and filters.
 */

import { ApiError, examTitle, gettext, interpolate, plotlyReady } from "./dom.js";
import { Calipers } from "./viewer-calipers.js";
import { bindKeys, bindWheel, buildPosition, buildToolbar, showPosition, syncToolbar } from "./viewer-controls.js";
import {
  footerText,
  GAINS,
  homeView,
  LAYOUT_NAMES,
  LAYOUTS,
  leadAt,
  LONG_RECORD_S,
  PAGE_S,
  pageCount,
  pageSeconds,
  pageStartOf,
  paperGeometry,
  paperLayout,
  paperTextUpdate,
  paperTraces,
  PLOT_CONFIG,
  SPEEDS,
  zoomedView,
} from "./viewer-paper.js";
import { fetchSignal, filterQuery, filtersFor, parseSignal, segment, valueAt } from "./viewer-signal.js";

// Pages and benchmarks import these from the viewer, wherever they are kept.
export { ApiError, GAINS, LAYOUT_NAMES, parseSignal, plotlyReady, SPEEDS };

const MIN_WIDTH = 16; // pixel columns the signal endpoint accepts
const MAX_WIDTH = 20000;
// Plotly sends one relayout per zoom or pan; a newer one aborts the older fetch.
const REFETCH_DELAY_MS = 0;
const CACHE_SIZE = 6;
const NO_FILTERS = { highpass: null, lowpass: null, notch: null };

export class EcgViewer {
  /**
   * @param {HTMLElement} element where the viewer draws (it fills the width)
   * @param {{layout?: string, speed?: number, gain?: number, chestGain?: number,
   *          filters?: object, cabrera?: boolean, controls?: boolean,
   *          technical?: boolean, apiRoot?: string}} options — `technical` adds
   *          the sampling rate and the decimation to the status (exam browser)
   */
  constructor(
    element,
    { layout = "3x4", speed = 25, gain = 10, chestGain = null, filters = null, cabrera = false, controls = true, technical = false, apiRoot = "/api/" } = {},
  ) {
    if (!LAYOUTS[layout]) throw new Error(`Unknown layout ${layout}; use ${LAYOUT_NAMES.join(", ")}.`);
    this.element = element;
    this.apiRoot = apiRoot;
    this.layoutName = layout;
    this.speed = Number(speed);
    this.gain = Number(gain);
    this.chestGain = Number(chestGain ?? gain);
    this.filters = { ...NO_FILTERS, ...(filters ?? {}) };
    this.cabrera = Boolean(cabrera);
    this.technical = technical;
    this.speeds = SPEEDS;
    this.gains = GAINS;
    this.examId = null;
    this.exam = null;
    this.base = null; // the whole record at the resolution of the page
    this.detail = null; // the zoomed window at full resolution
    this.mode = "paper"; // or "overview": the whole record, time compressed to fit
    this.pageStart = 0; // s: where the page on screen starts
    this.view = null; // {mode, x: [a, b], y: [a, b]} of the current drawing
    this.cache = new Map(); // "examId?filters" -> Promise<signal>
    this.fetches = 0; // signal requests made (tests and benchmarks read it)
    this._token = 0;
    this._drawing = Promise.resolve();
    this._refetchTimer = null;
    this._detailAbort = null;

    element.classList.add("ecg-viewer");
    const toolbar = controls ? buildToolbar(this) : null;
    this.controls = toolbar?.controls ?? null;
    if (toolbar) element.append(toolbar.bar);
    this.frame = document.createElement("div");
    this.frame.className = "ecg-frame";
    this.graph = document.createElement("div");
    this.graph.className = "ecg-graph";
    this.graph.setAttribute("role", "img");
    this.graph.setAttribute("aria-label", gettext("12-lead ECG"));
    const overlay = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    overlay.setAttribute("class", "ecg-overlay");
    overlay.setAttribute("aria-hidden", "true");
    this.frame.append(this.graph, overlay);
    this.position = buildPosition();
    element.append(this.frame, this.position.bar);
    const readout = this.controls?.readout ?? element.appendChild(document.createElement("output"));
    readout.classList.add("ecg-readout");
    this.calipers = new Calipers(this, overlay, readout);
    element.addEventListener("caliper", () => syncToolbar(this, this.controls));
    this._unbindKeys = bindKeys(this);
    bindWheel(this, this.frame);

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
    this.pageStart = 0;
    this.calipers.clear();
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
    this.speed = positive(mmPerS, "Paper speed");
    // The page on screen keeps the time it starts in.
    this.pageStart = pageStartOf(this._paper(), Math.floor(this.pageStart / pageSeconds(this.speed) + 1e-9));
    this._syncToolbar();
    return this._redrawHome("speed");
  }

  setGain(mmPerMv) {
    this.gain = positive(mmPerMv, "Gain");
    this._syncToolbar();
    return this._redrawHome("gain");
  }

  /** The chest leads' gain (V1-V6), e.g. 5 mm/mV under 10 for the limb leads. */
  setChestGain(mmPerMv) {
    this.chestGain = positive(mmPerMv, "Chest gain");
    this._syncToolbar();
    return this._redrawHome("gain");
  }

  /** Standard (I, II, III, aVR, aVL, aVF) or Cabrera (aVL, I, −aVR, II, aVF, III) order. */
  setCabrera(on) {
    this.cabrera = Boolean(on);
    this._syncToolbar();
    return this._redrawHome("layout");
  }

  /**
   * Display filters {highpass, lowpass, notch} (null: off), applied on the server
   * before decimation. The drawing keeps its zoom; the calipers stay.
   */
  async setFilters(filters) {
    this.filters = { ...NO_FILTERS, ...filters };
    this._syncToolbar();
    if (!this.base) return;
    const started = performance.now();
    const token = ++this._token;
    this._cancelDetail();
    let signal;
    try {
      signal = await this._signal(this.examId, this.exam);
    } catch (error) {
      this._dispatch("error", { examId: this.examId, message: error.message });
      return;
    }
    if (token !== this._token) return;
    this.base = signal;
    this.detail = null;
    await this._render(true);
    this._announce(started, "filters");
    await this._ensureResolution();
  }

  /** Back to the whole page (or record) after zooming. */
  resetZoom() {
    return this._redrawHome("reset");
  }

  /** The page `delta` pages on (±1); in the overview, a screen's width. */
  page(delta) {
    if (!this.base) return Promise.resolve(false);
    if (this.view.mode === "overview") return Promise.resolve(false);
    const paper = this._paper();
    const index = Math.round(this.pageStart / pageSeconds(this.speed)) + delta;
    const start = pageStartOf(paper, index);
    if (Math.abs(start - this.pageStart) < 1e-9) return Promise.resolve(false);
    this.pageStart = start;
    return this._redrawHome("page").then(() => true);
  }

  /** Zoom by `factor` (> 1 in) about a point {t, y} of the paper (the centre by
   * default); never out past the whole page. */
  zoom(factor, at = null) {
    if (!this.view) return Promise.resolve();
    const update = zoomedView(this.view, homeView(this._paper(), this.view.mode), factor, at);
    if (!update) return this.resetZoom();
    return plotlyReady().then((Plotly) => Plotly.relayout(this.graph, update));
  }

  /** What is drawn: for pages, tests and benchmarks. */
  get info() {
    const geometry = this.view ? this._geometry(this.view.mode) : null;
    const shown = this.detail ?? this.base;
    return {
      examId: this.examId,
      layout: this.mode === "overview" ? "overview" : this.layoutName,
      speed: this.speed,
      gain: this.gain,
      chestGain: this.chestGain,
      cabrera: this.cabrera,
      pxPerMm: geometry?.pxPerMm ?? null,
      method: shown?.method ?? null,
      filters: shown?.filters ?? null,
      window: shown ? [shown.start, shown.end] : null,
      page: this.base ? Math.round(this.pageStart / pageSeconds(this.speed)) : null,
      pages: this.base ? pageCount(this._paper()) : null,
      fetches: this.fetches,
    };
  }

  /** The layouts the L key cycles through (the overview for long records). */
  layoutChoices() {
    return this.isLong() ? [...LAYOUT_NAMES, "overview"] : LAYOUT_NAMES;
  }

  isLong() {
    return this.base ? this._duration() > LONG_RECORD_S : false;
  }

  // --- What the calipers ask (viewer-calipers.js) ----------------------------------

  /** The drawn axes: ranges (s, paper µV) and plot size in css px. */
  axes() {
    const full = this.graph._fullLayout;
    if (!full?.xaxis?._length) return null;
    return { x: full.xaxis.range, y: full.yaxis.range, width: full.xaxis._length, height: full.yaxis._length };
  }

  leadAt(t, y) {
    return this.view ? leadAt(this._paper(), this.view.mode, t, y) : null;
  }

  /** Nudge steps: s per mm of paper, paper µV per mm, s per sample. */
  steps() {
    const g = this._geometry(this.view?.mode ?? "paper");
    return { mm: g.pxPerMm / g.pxPerS, uvMm: 1000 / this.gain, sample: 1 / (this.base?.fs || 500) };
  }

  /** A lead's value (µV) at t s from the best data drawn there. */
  valueAt(lead, t) {
    const d = this.detail;
    const fromDetail = d && t >= d.start && t <= d.end ? valueAt(d, lead, t) : null;
    return fromDetail ?? valueAt(this.base, lead, t);
  }

  destroy() {
    this._token++;
    this._cancelDetail();
    clearTimeout(this._resizeTimer);
    this._resizeObserver.disconnect();
    this._unbindKeys();
    this.calipers.destroy();
    if (window.Plotly) window.Plotly.purge(this.graph);
    this.cache.clear();
    this.element.replaceChildren();
    this.element.classList.remove("ecg-viewer");
  }

  // --- Data ----------------------------------------------------------------------

  _filtersFor(exam) {
    return filtersFor(this.filters, exam?.sampling_rate ?? this.base?.fs ?? null);
  }

  _signal(examId, exam) {
    const key = `${examId}?${filterQuery(this._filtersFor(exam))}`;
    let entry = this.cache.get(key);
    if (entry) {
      this.cache.delete(key); // most recently used goes last
    } else {
      entry = this._fetch(examId, { width: this._baseWidth(exam), filters: this._filtersFor(exam) });
      entry.catch(() => this.cache.get(key) === entry && this.cache.delete(key));
    }
    this.cache.set(key, entry);
    while (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value);
    return entry;
  }

  _fetch(examId, { width, start = null, end = null, filters = this._filtersFor(this.exam), signal = undefined }) {
    this.fetches++;
    return fetchSignal(this.apiRoot, examId, {
      width,
      filters,
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
      available: Math.max(this.frame?.clientWidth || this.element.clientWidth || 1000, 320),
      layoutName: this.layoutName,
      leads: this.base ? [...this.base.leads.keys()] : null,
      speed: this.speed,
      gain: this.gain,
      chestGain: this.chestGain,
      cabrera: this.cabrera,
      pageStart: this.pageStart,
      duration: this._duration(),
      // What the server applied, as printed on a paper ECG ("0.5–40 Hz 60 Hz").
      filterText: ((this.detail ?? this.base)?.filters?.label ?? "").replace(/(\d)-(\d|\s|$)/g, "$1–$2"),
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
      this._afterView();
      await new Promise((resolve) => requestAnimationFrame(resolve));
    };
    this._drawing = this._drawing.then(run, run);
    return this._drawing;
  }

  _bindPlotly() {
    this.graph.on("plotly_relayout", (event) => this._onRelayout(event));
    // While dragging a pan: the calipers and labels follow the paper.
    this.graph.on("plotly_relayouting", () => this.calipers.render());
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
    this._afterView();
    window.Plotly.restyle(this.graph, paperTextUpdate(this._paper(), this.view.mode, this.view), [this.graph.data.length - 1]);
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
    const what =
      this.view.mode === "overview"
        ? gettext("overview of the whole record")
        : interpolate(gettext("%(layout)s layout"), { layout: this.layoutName });
    const id = exam?.display_key ? `${examTitle(exam.display_key)}: ` : "";
    const settings = footerText(this._paper(), this.view.mode, this.view);
    this.graph.setAttribute("aria-label", `${id}ECG, ${what}, ${settings}, ${[...this.base.leads.keys()].join(", ")}`);
    const status = this.controls?.status;
    if (status) {
      const s = this.detail ?? this.base;
      // The sampling and the decimation are for the exam browser, not the reader.
      status.textContent = this.technical ? `${s.fs} Hz · ${s.method === "raw" ? "full resolution" : "decimated (M4)"}` : "";
    }
  }

  /** After any draw, zoom or pan: calipers, position bar. */
  _afterView() {
    this.calipers.render();
    const [a, b] = this.view.x;
    const info = this.info;
    showPosition(this.position, { start: a, end: b, duration: this._duration(), page: info.page, pages: info.pages });
  }

  _announce(started, reason) {
    const s = this.detail ?? this.base;
    this._dispatch("drawn", {
      examId: this.examId,
      ms: performance.now() - started,
      reason,
      method: s?.method ?? null,
      layout: this.info.layout,
      filters: s?.filters?.label ?? null,
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

  _syncToolbar() {
    syncToolbar(this, this.controls);
  }
}

function positive(value, what) {
  const number = Number(value);
  if (!(number > 0)) throw new Error(`${what} must be positive, got ${value}.`);
  return number;
}
