// Campaign dashboard: progress by consensus state, agreement and export jobs, and
// the latest agreement report as charts (per-class statistics with 95% intervals,
// readers against the consensus, pairwise Cohen's kappa).
/* global Plotly */
import { api, el, sleep } from "./dom.js";

const root = document.getElementById("dashboard");
const campaignId = root.dataset.campaign;
const taxonomyId = root.dataset.taxonomy;
const $ = (id) => document.getElementById(id);

const STATES = [
  ["pending", "Pending reads"],
  ["single", "Single read"],
  ["unanimous", "Unanimous"],
  ["majority", "Majority"],
  ["policy", "Settled by policy"],
  ["needs_adjudication", "Needs adjudication"],
  ["adjudicated", "Adjudicated"],
];
const STATS = {
  fleiss_kappa: "Fleiss' κ",
  ac1: "Gwet's AC1",
  pabak: "PABAK",
  krippendorff_alpha: "Krippendorff's α",
  positive_agreement: "Positive agreement",
  negative_agreement: "Negative agreement",
};
const READER_STATS = { f1: "F1", sensitivity: "Sensitivity", specificity: "Specificity", ppv: "PPV" };
const READER_COLOURS = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#000000"];
const TOP_CLASSES = 8;
const FONT = { family: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', size: 12, color: "#1d232b" };
const PLOT_CONFIG = {
  displaylogo: false,
  responsive: true,
  showSendToCloud: false,
  modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d"],
};

const state = { report: null, classes: new Map(), followed: new Set() };

// --- API ---------------------------------------------------------------------

// --- Helpers -------------------------------------------------------------------

function fmt(value, digits = 2) {
  return value === null || value === undefined ? "—" : Number(value).toFixed(digits);
}

function pct(value) {
  return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)}%`;
}

function interval(ci) {
  return Array.isArray(ci) ? `${fmt(ci[0])}–${fmt(ci[1])}` : "";
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

function esc(text) {
  // Plotly hover templates render a little HTML: names are shown as text.
  return String(text).replace(/[&<>"]/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[ch]);
}

function showError(message) {
  $("page-error").textContent = message;
  $("page-error").hidden = !message;
}

// --- Progress ----------------------------------------------------------------

async function loadProgress() {
  const campaign = await api(`/api/campaigns/${campaignId}/`);
  const p = campaign.progress || {};
  const exams = p.exams || 0;
  const expected = exams * campaign.readers_per_exam;
  const done = p.reads_submitted || 0;
  $("reads-bar").max = Math.max(expected, 1);
  $("reads-bar").value = done;
  $("reads-bar").textContent = pct(expected ? done / expected : 0);
  $("reads-text").textContent = `${done.toLocaleString()} / ${expected.toLocaleString()}`;
  $("reads-detail").textContent =
    `${exams.toLocaleString()} exams × ${campaign.readers_per_exam} readers each · ` +
    `${(p.claims_open || 0).toLocaleString()} reads in progress · readers: ${campaign.readers.join(", ")}`;
  // "Single read" only happens with one reader per exam.
  const shown = STATES.filter(([key]) => key !== "single" || p.single || campaign.readers_per_exam === 1);
  $("states-body").replaceChildren(
    ...shown.map(([key, label]) => {
      const n = p[key] || 0;
      const share = exams ? n / exams : 0;
      return el(
        "tr",
        { class: `state-row state-${key}` },
        el("th", { scope: "row" }, el("span", { class: "swatch", "aria-hidden": "true" }), label),
        el(
          "td",
          { class: "bar-col" },
          el("progress", { max: Math.max(exams, 1), value: n, "aria-label": `${label}: ${pct(share)}` }),
        ),
        el("td", { class: "num" }, `${n.toLocaleString()} `, el("span", { class: "muted" }, `(${pct(share)})`)),
      );
    }),
  );
  $("state-stack").replaceChildren(
    ...STATES.filter(([key]) => p[key]).map(([key, label]) => {
      const part = el("span", { class: `state-${key}`, title: `${label}: ${p[key]}` });
      part.style.flexGrow = String(p[key]);
      return part;
    }),
  );
  $("progress").setAttribute("aria-busy", "false");
}

// --- Jobs ----------------------------------------------------------------------

const KIND = { agreement: "Agreement report", export: "Label export", import: "Exam import" };

function jobTitle(job) {
  const params = job.params || {};
  if (job.kind === "export") {
    const format = (params.format || "").toUpperCase();
    return `${format === "JSONL" ? "JSON Lines" : format} export${params.include_unresolved ? " (with unresolved)" : ""}`;
  }
  if (job.kind === "agreement") return `Agreement report (bootstrap ${params.bootstrap ?? 0})`;
  return KIND[job.kind] || job.kind;
}

function jobItem(job) {
  const links = [];
  if (job.status === "succeeded") {
    links.push(el("a", { href: `/api/jobs/${job.id}/download/`, download: "" }, job.kind === "export" ? "Download" : "Report JSON"));
    if (job.kind === "export") {
      links.push(el("a", { href: `/api/jobs/${job.id}/download/?file=manifest`, download: "" }, "Manifest"));
    }
  }
  const active = job.status === "queued" || job.status === "running";
  return el(
    "li",
    { class: "job-item", "data-job": job.id },
    el(
      "div",
      { class: "job-line" },
      el("span", { class: `status status-${job.status}` }, statusIcon(job.status), " ", job.status),
      el("span", { class: "job-title" }, `#${job.id} ${jobTitle(job)}`),
      el("span", { class: "muted small" }, when(job.created_at)),
      el("span", { class: "job-links" }, links),
    ),
    active
      ? el("progress", { max: 100, value: job.progress, "aria-label": `Job ${job.id} progress` }, `${job.progress}%`)
      : null,
    job.status === "failed" && job.error ? el("p", { class: "error small" }, job.error) : null,
  );
}

function statusIcon(status) {
  return { queued: "◷", running: "↻", succeeded: "✓", failed: "✕" }[status] || "";
}

async function loadJobs() {
  const data = await api(`/api/jobs/?campaign=${campaignId}`);
  const jobs = data.results.slice(0, 5);
  $("recent-jobs").replaceChildren(
    ...(jobs.length ? jobs.map(jobItem) : [el("li", { class: "muted" }, "No jobs yet.")]),
  );
  for (const job of jobs) follow(job);
}

async function follow(job) {
  // Poll a queued or running job with a growing delay; stop once it has finished.
  if (state.followed.has(job.id) || !(job.status === "queued" || job.status === "running")) return job;
  state.followed.add(job.id);
  let delay = 500;
  try {
    while (job.status === "queued" || job.status === "running") {
      await sleep(delay);
      delay = Math.min(delay * 1.6, 8000);
      job = await api(`/api/jobs/${job.id}/`);
      replaceJob(job);
    }
  } finally {
    state.followed.delete(job.id);
  }
  finished(job);
  return job;
}

function replaceJob(job) {
  const old = $("recent-jobs").querySelector(`[data-job="${job.id}"]`);
  if (old) old.replaceWith(jobItem(job));
}

function finished(job) {
  const title = `${jobTitle(job)} #${job.id}`;
  if (job.status === "failed") {
    $("job-status").textContent = `${title} failed: ${job.error}`;
    return;
  }
  $("job-status").textContent =
    job.kind === "export"
      ? `${title} is ready (${(job.result?.rows ?? 0).toLocaleString()} rows).`
      : `${title} is ready; the charts below show it.`;
  if (job.kind === "agreement" && job.result) showReport(job);
}

async function startJob(url, body, button) {
  button.disabled = true;
  $("job-status").textContent = "Starting…";
  try {
    const job = await api(url, { method: "POST", body });
    $("job-status").textContent = `${jobTitle(job)} #${job.id} is ${job.status}.`;
    const list = $("recent-jobs");
    list.querySelector(".muted")?.remove();
    const existing = list.querySelector(`[data-job="${job.id}"]`);
    if (existing) existing.replaceWith(jobItem(job));
    else list.prepend(jobItem(job));
    while (list.children.length > 5) list.lastElementChild.remove();
    if (job.status === "queued" || job.status === "running") await follow(job);
    else finished(job);
    loadProgress().catch(() => {});
  } catch (err) {
    $("job-status").textContent = `Could not start the job: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// --- Agreement report ------------------------------------------------------------

async function loadLatestReport() {
  const data = await api(
    `/api/jobs/?campaign=${campaignId}&kind=agreement&status=succeeded&page_size=1`,
  );
  if (!data.results.length) {
    $("report-meta").textContent = "No agreement report yet: compute one above.";
    return;
  }
  // The list carries a summary only; the report itself comes with the job's detail.
  showReport(await api(`/api/jobs/${data.results[0].id}/`));
}

function showReport(job) {
  state.report = job.result;
  const r = job.result;
  $("report-meta").textContent =
    `Job #${job.id}, ${when(job.finished_at || job.created_at)} · ${r.n_exams} exams · ` +
    `${r.readers.length} readers · ${r.bootstrap ? `95% intervals from ${r.bootstrap} bootstrap resamples` : "no intervals (bootstrap 0)"}`;
  $("report").hidden = false;
  $("report-more").hidden = false;
  renderSummary();
  renderClassChart();
  renderClassTable();
  renderReaders();
  renderPairs();
}

function classRows() {
  const r = state.report;
  return Object.entries(r.classes)
    .map(([code, c], i) => ({ code, i, name: state.classes.get(code)?.name || code, ...c }))
    .sort((a, b) => b.prevalence - a.prevalence || b.n_positive_reads - a.n_positive_reads || a.i - b.i);
}

function selectedStat() {
  return document.querySelector('input[name="stat"]:checked').value;
}

function renderSummary() {
  const r = state.report;
  const tiles = ["fleiss_kappa", "ac1", "pabak", "positive_agreement"].map((stat) => {
    const macro = r.macro || {};
    const micro = r.micro || {};
    const n = macro.n_classes?.[stat];
    return el(
      "div",
      { class: "tile", role: "listitem" },
      el("div", { class: "tile-label" }, STATS[stat]),
      el("div", { class: "tile-value num" }, fmt(macro[stat])),
      el("div", { class: "tile-ci num" }, macro.ci95?.[stat] ? `95% CI ${interval(macro.ci95[stat])}` : "\u00a0"),
      el(
        "div",
        { class: "tile-foot" },
        `macro over ${n ?? 0} classes · micro ${fmt(micro[stat])}`,
        micro.ci95?.[stat] ? ` (${interval(micro.ci95[stat])})` : "",
      ),
    );
  });
  $("summary").replaceChildren(...tiles);
}

function renderClassChart() {
  const stat = selectedStat();
  const label = STATS[stat];
  const showUnread = $("show-unread").checked;
  const all = classRows();
  const rows = showUnread ? all : all.filter((c) => c.n_positive_reads > 0);
  const hidden = all.length - rows.length;
  const defined = rows.filter((c) => c[stat] !== null);
  const undefinedRows = rows.filter((c) => c[stat] === null);
  const ci = (c) => c.ci95?.[stat];
  const hover = (c) =>
    `<b>${esc(c.code)}</b> ${esc(c.name)}<br>${label}: ${fmt(c[stat], 3)}` +
    (ci(c) ? ` (95% CI ${interval(ci(c))})` : c.undefined?.ci95?.[stat] ? `<br>interval undefined: ${esc(c.undefined.ci95[stat])}` : "") +
    `<br>prevalence ${pct(c.prevalence)} · ${c.n_positive_reads} positive reads<extra></extra>`;
  const traces = [
    {
      type: "bar",
      name: label,
      x: defined.map((c) => c.code),
      y: defined.map((c) => c[stat]),
      marker: { color: "#2f5d8a" },
      error_y: {
        type: "data",
        symmetric: false,
        array: defined.map((c) => (ci(c) ? ci(c)[1] - c[stat] : null)),
        arrayminus: defined.map((c) => (ci(c) ? c[stat] - ci(c)[0] : null)),
        visible: true,
        color: "#1d232b",
        thickness: 1.2,
        width: 3,
      },
      hovertemplate: defined.map(hover),
    },
    {
      type: "scatter",
      mode: "markers",
      name: `${label} undefined`,
      x: undefinedRows.map((c) => c.code),
      y: undefinedRows.map(() => 0),
      marker: { symbol: "x-thin-open", size: 11, color: "#8a939e", line: { width: 2, color: "#8a939e" } },
      hovertemplate: undefinedRows.map(
        (c) =>
          `<b>${esc(c.code)}</b> ${esc(c.name)}<br>${label} undefined: ${esc(c.undefined?.[stat] || "not computable")}` +
          `<br>prevalence ${pct(c.prevalence)} · ${c.n_positive_reads} positive reads<extra></extra>`,
      ),
    },
    {
      type: "bar",
      name: "Prevalence",
      x: rows.map((c) => c.code),
      y: rows.map((c) => c.prevalence),
      yaxis: "y2",
      marker: { color: "#e3b04b" },
      hovertemplate: rows.map(
        (c) => `<b>${esc(c.code)}</b> prevalence ${pct(c.prevalence)} · ${c.n_positive_reads} positive reads<extra></extra>`,
      ),
    },
  ];
  const lows = defined.map((c) => (ci(c) ? ci(c)[0] : c[stat]));
  const bottom = Math.min(0, ...lows);
  const layout = {
    font: FONT,
    margin: { l: 64, r: 16, t: 16, b: 60 },
    bargap: 0.35,
    plot_bgcolor: "#fff",
    paper_bgcolor: "#fff",
    showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.1 },
    xaxis: {
      type: "category",
      categoryorder: "array",
      categoryarray: rows.map((c) => c.code),
      anchor: "y2",
      tickangle: -60,
      tickfont: { family: "ui-monospace, SFMono-Regular, Menlo, monospace", size: 11 },
      title: { text: "Classes, most prevalent first", standoff: 8 },
      automargin: true,
    },
    yaxis: {
      domain: [0.3, 1],
      title: { text: label },
      range: [Math.min(-0.1, bottom - 0.05), 1.05],
      zeroline: true,
      zerolinecolor: "#9aa3ad",
      gridcolor: "#eceef1",
    },
    yaxis2: {
      domain: [0, 0.2],
      anchor: "x",
      title: { text: "Prevalence", font: { size: 11 } },
      rangemode: "tozero",
      tickformat: ".0%",
      nticks: 3,
      gridcolor: "#eceef1",
    },
  };
  Plotly.react($("class-chart"), traces, layout, PLOT_CONFIG);
  const parts = [
    `${defined.length} classes with a value, sorted by prevalence; bars show ${label} with 95% intervals.`,
  ];
  if (undefinedRows.length) {
    parts.push(`${undefinedRows.length} shown as × where ${label} is undefined (hover for the reason).`);
  }
  if (hidden) parts.push(`${hidden} classes that no reader chose are hidden (their κ is undefined: no positive reads).`);
  $("class-chart-desc").textContent = parts.join(" ");
}

function renderClassTable() {
  const r = state.report;
  const pairs = Object.keys(r.macro?.cohen_kappa || {});
  const stats = ["fleiss_kappa", "ac1", "pabak", "krippendorff_alpha", "positive_agreement", "negative_agreement"];
  const cell = (c, stat) => {
    if (c[stat] === null) return el("td", { class: "num undefined", title: c.undefined?.[stat] || "" }, "undefined");
    const ci = c.ci95?.[stat];
    return el("td", { class: "num" }, fmt(c[stat]), ci ? el("span", { class: "ci" }, ` ${interval(ci)}`) : "");
  };
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
        pairs.map((p) => el("th", { scope: "col", class: "num" }, `Cohen's κ ${p.replace("|", " · ")}`)),
      ),
    ),
    el(
      "tbody",
      {},
      classRows().map((c) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, el("span", { class: "code" }, c.code), " ", el("span", { class: "muted" }, c.name)),
          el("td", { class: "num" }, pct(c.prevalence)),
          el("td", { class: "num" }, c.n_positive_reads),
          stats.map((s) => cell(c, s)),
          pairs.map((p) => {
            const v = c.cohen_kappa?.[p];
            return v === null || v === undefined
              ? el("td", { class: "num undefined", title: c.undefined?.cohen_kappa?.[p] || "" }, "undefined")
              : el("td", { class: "num" }, fmt(v));
          }),
        ),
      ),
    ),
  );
}

function renderReaders() {
  const r = state.report;
  const stat = $("reader-stat").value;
  const readers = Object.keys(r.reader_stats || {});
  $("readers-empty").hidden = readers.length > 0;
  $("reader-chart").hidden = readers.length === 0;
  if (!readers.length) {
    $("reader-table").replaceChildren();
    $("reader-chart-desc").textContent = "";
    return;
  }
  const top = classRows()
    .filter((c) => c.n_positive_reads > 0)
    .slice(0, TOP_CLASSES);
  const codes = top.map((c) => c.code);
  const traces = readers.map((reader, i) => {
    const values = codes.map((code) => r.reader_stats[reader][code]?.[stat] ?? null);
    const cis = codes.map((code) => r.reader_stats[reader][code]?.ci95?.[stat] ?? null);
    return {
      type: "bar",
      name: reader,
      x: codes,
      y: values,
      marker: { color: READER_COLOURS[i % READER_COLOURS.length] },
      error_y: {
        type: "data",
        symmetric: false,
        array: values.map((v, k) => (v !== null && cis[k] ? cis[k][1] - v : null)),
        arrayminus: values.map((v, k) => (v !== null && cis[k] ? v - cis[k][0] : null)),
        visible: true,
        color: "#1d232b",
        thickness: 1,
        width: 2,
      },
      hovertemplate: codes.map((code, k) => {
        const s = r.reader_stats[reader][code] || {};
        const why = s.undefined?.[stat];
        return `<b>${esc(reader)}</b> · ${esc(code)}<br>${READER_STATS[stat]}: ${values[k] === null ? `undefined${why ? ` (${esc(why)})` : ""}` : fmt(values[k], 3)}` +
          (cis[k] ? ` (95% CI ${interval(cis[k])})` : "") + "<extra></extra>";
      }),
    };
  });
  const gaps = readers.flatMap((reader) =>
    codes
      .filter((code) => (r.reader_stats[reader][code]?.[stat] ?? null) === null)
      .map((code) => ({ reader, code, why: r.reader_stats[reader][code]?.undefined?.[stat] })),
  );
  traces.push({
    type: "scatter",
    mode: "markers",
    name: "Undefined",
    x: gaps.map((g) => g.code),
    y: gaps.map(() => 0),
    marker: { symbol: "x-thin-open", size: 10, color: "#8a939e", line: { width: 2, color: "#8a939e" } },
    hovertemplate: gaps.map(
      (g) => `<b>${esc(g.reader)}</b> · ${esc(g.code)}<br>${READER_STATS[stat]} undefined: ${esc(g.why || "not computable")}<extra></extra>`,
    ),
  });
  const layout = {
    font: FONT,
    margin: { l: 48, r: 16, t: 10, b: 40 },
    barmode: "group",
    bargap: 0.25,
    plot_bgcolor: "#fff",
    paper_bgcolor: "#fff",
    legend: { orientation: "h", x: 0, y: 1.12 },
    xaxis: { type: "category", tickfont: { family: "ui-monospace, SFMono-Regular, Menlo, monospace", size: 11 } },
    yaxis: { title: { text: READER_STATS[stat] }, range: [0, 1.05], gridcolor: "#eceef1" },
  };
  Plotly.react($("reader-chart"), traces, layout, PLOT_CONFIG);
  $("reader-chart-desc").textContent =
    `${READER_STATS[stat]} of each reader against the consensus for the ${codes.length} most prevalent classes, with 95% intervals.`;

  const head = el(
    "thead",
    {},
    el(
      "tr",
      {},
      el("th", { scope: "col", rowspan: 2 }, "Class"),
      readers.map((reader) => el("th", { scope: "colgroup", colspan: 3, class: "group" }, reader)),
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
    top.map((c) =>
      el(
        "tr",
        {},
        el("th", { scope: "row" }, el("span", { class: "code", title: c.name }, c.code)),
        readers.map((reader) =>
          ["sensitivity", "specificity", "f1"].map((s) => {
            const v = r.reader_stats[reader][c.code]?.[s];
            const why = r.reader_stats[reader][c.code]?.undefined?.[s];
            return v === null || v === undefined
              ? el("td", { class: "num undefined", title: why || "" }, "—")
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

function renderPairs() {
  const r = state.report;
  const pairs = Object.keys(r.macro?.cohen_kappa || {});
  if (!pairs.length) {
    $("pair-table").replaceChildren(
      el("tbody", {}, el("tr", {}, el("td", { class: "muted" }, "No two readers share an exam yet."))),
    );
    return;
  }
  $("pair-table").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Cohen's kappa per pair of readers"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "Readers"),
        el("th", { scope: "col", class: "num" }, "Macro κ"),
        el("th", { scope: "col", class: "num" }, "95% CI"),
        el("th", { scope: "col", class: "num" }, "Micro κ"),
        el("th", { scope: "col", class: "num" }, "95% CI"),
        el("th", { scope: "col", class: "num" }, "Classes"),
      ),
    ),
    el(
      "tbody",
      {},
      pairs.map((pair) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, pair.replace("|", " · ")),
          el("td", { class: "num strong" }, fmt(r.macro.cohen_kappa[pair])),
          el("td", { class: "num muted" }, interval(r.macro.ci95?.cohen_kappa?.[pair]) || "—"),
          el("td", { class: "num strong" }, fmt(r.micro?.cohen_kappa?.[pair])),
          el("td", { class: "num muted" }, interval(r.micro?.ci95?.cohen_kappa?.[pair]) || "—"),
          el("td", { class: "num" }, r.macro.n_classes?.cohen_kappa?.[pair] ?? "—"),
        ),
      ),
    ),
  );
}

// --- Start -------------------------------------------------------------------------

async function init() {
  $("start-agreement").addEventListener("click", (event) =>
    startJob(`/api/campaigns/${campaignId}/agreement/`, { bootstrap: 200 }, event.currentTarget),
  );
  for (const button of document.querySelectorAll("[data-export]")) {
    button.addEventListener("click", () =>
      startJob(
        `/api/campaigns/${campaignId}/exports/`,
        { format: button.dataset.export, include_unresolved: $("include-unresolved").checked },
        button,
      ),
    );
  }
  for (const radio of document.querySelectorAll('input[name="stat"]')) {
    radio.addEventListener("change", renderClassChart);
  }
  $("show-unread").addEventListener("change", renderClassChart);
  $("reader-stat").addEventListener("change", renderReaders);

  const results = await Promise.allSettled([
    loadProgress(),
    api(`/api/taxonomies/${taxonomyId}/`).then((t) => {
      for (const cls of t.classes) state.classes.set(cls.code, cls);
    }),
    loadJobs(),
  ]);
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length) showError(`Some data could not be loaded: ${failed[0].reason.message}`);
  try {
    if (!state.report) await loadLatestReport();
  } catch (err) {
    $("report-meta").textContent = `Could not load the report: ${err.message}`;
  }
}

init();
