/**
 * The dashboard's pairwise Cohen's κ: one heatmap, readers × readers, for one
 * class chosen in a <select> (or the macro or micro average over classes, when
 * the report carries them), and the pairs that agree least on it as a table.
 *
 * A class's matrix is fetched when it is chosen
 * (/api/campaigns/{id}/report/pairs/?code=), so the page never holds the κ of
 * every pair for every class: 780 pairs × 66 classes with 40 readers.
 */

import { classRows, esc, fmt, interval, MONO, plot } from "./charts.js";
import { ApiError, api, el } from "./dom.js";

const $ = (id) => document.getElementById(id);
const TABLE_ROWS = 10; // the pairs that agree least; the heatmap shows them all
const LABELED_CELLS = 12; // readers up to which each cell shows its value
const AVERAGES = { ":macro": "macro", ":micro": "micro" }; // the <select>'s first options
// Diverging around chance agreement (κ = 0): red below, blue above.
const COLOURS = [
  [0, "#b2182b"],
  [0.5, "#f7f7f7"],
  [1, "#2166ac"],
];

let shown = null; // {campaignId, report, matrices: Map choice -> Promise<{readers, kappa}>}

/** Show a report's pairwise κ; the <select> redraws the heatmap and table from then on. */
export function showPairAgreement(report, names, campaignId) {
  const select = $("pair-class");
  if (!shown) select.addEventListener("change", () => draw());
  shown = { campaignId, report, matrices: new Map() };
  const wanted = select.value;
  for (const option of [...select.options]) {
    if (option.value in AVERAGES) {
      // A report without the averages' pairs (the slim one) offers classes only.
      const has = Boolean(report[AVERAGES[option.value]]?.cohen_kappa);
      option.hidden = !has;
      option.disabled = !has;
    } else {
      option.remove();
    }
  }
  for (const c of classRows(report, names).filter((row) => row.n_positive_reads > 0)) {
    select.append(el("option", { value: c.code }, `${c.code} · ${c.name}`));
  }
  const usable = [...select.options].filter((option) => !option.disabled);
  select.value = (usable.find((option) => option.value === wanted) ?? usable[0])?.value ?? "";
  return draw();
}

/** A symmetric readers × readers matrix from `{"a|b": κ}`; the diagonal stays null. */
function matrixOf(readers, byPair) {
  const at = new Map(readers.map((reader, i) => [reader, i]));
  const kappa = readers.map(() => readers.map(() => null));
  for (const [pair, value] of Object.entries(byPair || {})) {
    const [a, b] = pair.split("|").map((reader) => at.get(reader));
    if (a === undefined || b === undefined) continue;
    kappa[a][b] = value;
    kappa[b][a] = value;
  }
  return { readers, kappa };
}

function matrix(choice) {
  const { report, matrices, campaignId } = shown;
  if (choice in AVERAGES) return Promise.resolve(matrixOf(report.readers, report[AVERAGES[choice]].cohen_kappa));
  if (!matrices.has(choice)) {
    const url = `/api/campaigns/${campaignId}/report/pairs/?code=${encodeURIComponent(choice)}`;
    const request = api(url).catch((err) => {
      // A whole report (from a server without the pairs route) carries them itself.
      const pairs = report.classes[choice]?.cohen_kappa;
      if (err instanceof ApiError && err.status === 404 && pairs) return matrixOf(report.readers, pairs);
      matrices.delete(choice);
      throw err;
    });
    matrices.set(choice, request);
  }
  return matrices.get(choice);
}

async function draw() {
  const select = $("pair-class");
  const choice = select.value;
  const what = select.selectedOptions[0]?.textContent ?? choice;
  const chart = $("pair-chart");
  chart.setAttribute("aria-busy", "true");
  let data = { readers: [], kappa: [] };
  try {
    if (choice) data = await matrix(choice);
  } catch (err) {
    $("pair-chart-desc").textContent = `The κ of ${what} could not be loaded: ${err.message}`;
    return;
  } finally {
    chart.setAttribute("aria-busy", "false");
  }
  if (select.value !== choice) return; // another class was chosen meanwhile
  const { readers, kappa } = data;
  drawTable(readers, kappa, choice);
  $("pairs-empty").hidden = readers.length > 1;
  chart.hidden = readers.length < 2;
  if (readers.length < 2) {
    $("pair-chart-desc").textContent = "";
    return;
  }
  const text = kappa.map((row, i) =>
    row.map((value, j) => {
      const pair = `<b>${esc(readers[i])} · ${esc(readers[j])}</b><br>`;
      if (i === j) return `${pair}the same reader`;
      return `${pair}κ ${value === null ? "undefined (no exam read by both, or no positive read)" : fmt(value, 3)}`;
    }),
  );
  // The chart's box grows with the readers (it is responsive to the box).
  chart.style.height = `${Math.min(760, Math.max(300, 18 * readers.length + 150))}px`;
  await plot(
    chart,
    [
      {
        type: "heatmap",
        x: readers,
        y: readers,
        z: kappa,
        zmin: -1,
        zmax: 1,
        colorscale: COLOURS,
        colorbar: { title: { text: "κ" }, thickness: 12, len: 0.9, tickvals: [-1, -0.5, 0, 0.5, 1] },
        hoverongaps: false,
        text,
        hovertemplate: "%{text}<extra></extra>",
        texttemplate: readers.length <= LABELED_CELLS ? "%{z:.2f}" : "",
      },
    ],
    {
      margin: { l: 8, r: 8, t: 8, b: 8 },
      plot_bgcolor: "#a9b0ba", // undefined pairs and the diagonal: a grey no κ has
      xaxis: { type: "category", tickangle: -45, tickfont: MONO, automargin: true, showgrid: false },
      yaxis: { type: "category", autorange: "reversed", tickfont: MONO, automargin: true, showgrid: false },
    },
  );
  $("pair-chart-desc").textContent = describe(readers, kappa, what);
}

/** The heatmap in words: how many pairs, and the lowest and highest. */
function describe(readers, kappa, what) {
  const pairs = [];
  kappa.forEach((row, i) =>
    row.forEach((value, j) => {
      if (j > i && value !== null) pairs.push({ name: `${readers[i]} · ${readers[j]}`, value });
    }),
  );
  const n = (readers.length * (readers.length - 1)) / 2;
  if (!pairs.length) return `Cohen's κ for ${what}: undefined for all ${n} pairs of readers.`;
  pairs.sort((a, b) => a.value - b.value);
  const low = pairs[0];
  const high = pairs[pairs.length - 1];
  return (
    `Cohen's κ for ${what}, ${readers.length} readers: ${pairs.length} of ${n} pairs defined; ` +
    `lowest ${low.name} (${fmt(low.value)}), highest ${high.name} (${fmt(high.value)}). Grey: undefined.`
  );
}

/** The pairs of the matrix, lowest κ first (undefined last), ten unless asked for all. */
function drawTable(readers, kappa, choice, showAll = false) {
  const pairs = [];
  kappa.forEach((row, i) =>
    row.forEach((value, j) => {
      if (j > i) pairs.push({ key: [readers[i], readers[j]].sort().join("|"), value }); // as the report names pairs
    }),
  );
  pairs.sort((a, b) => (a.value ?? Infinity) - (b.value ?? Infinity));
  const more = $("pairs-more");
  if (!pairs.length) {
    $("pair-table").replaceChildren(
      el("tbody", {}, el("tr", {}, el("td", { class: "muted" }, "No two readers share an exam yet."))),
    );
    more.replaceChildren();
    return;
  }
  // An average carries intervals and how many classes it averages; a class alone does not.
  const level = shown.report[AVERAGES[choice]] ?? null;
  const ci = level?.ci95?.cohen_kappa ?? null;
  const classes = level?.n_classes?.cohen_kappa ?? null;
  const listed = showAll ? pairs : pairs.slice(0, TABLE_ROWS);
  $("pair-table").replaceChildren(
    el("caption", { class: "visually-hidden" }, "Cohen's kappa per pair of readers, lowest first"),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "Readers"),
        el("th", { scope: "col", class: "num" }, "Cohen's κ"),
        ci ? el("th", { scope: "col", class: "num" }, "95% CI") : null,
        classes ? el("th", { scope: "col", class: "num" }, "Classes") : null,
      ),
    ),
    el(
      "tbody",
      {},
      listed.map(({ key, value }) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, key.replace("|", " · ")),
          el("td", { class: value === null ? "num undefined" : "num strong" }, value === null ? "undefined" : fmt(value)),
          ci ? el("td", { class: "num muted" }, interval(ci[key]) || "—") : null,
          classes ? el("td", { class: "num" }, classes[key] ?? "—") : null,
        ),
      ),
    ),
  );
  more.replaceChildren(
    listed.length < pairs.length
      ? el(
          "button",
          { type: "button", class: "quiet small", onclick: () => drawTable(readers, kappa, choice, true) },
          `Show all ${pairs.length.toLocaleString()} pairs`,
        )
      : [],
  );
}
