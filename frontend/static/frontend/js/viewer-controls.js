/**
 * The ECG viewer's controls: its toolbar, the keys a reader uses without
 * leaving the tracing, and the position bar under the paper.
 *
 * Keys are capital letters (Shift + letter), symbols and arrows: taxonomy
 * shortcuts are lower-case letters and digits (annotator/taxonomy), so the two
 * never collide. VIEWER_KEYS is the one list: the handler and the pages' help
 * (`?`) both read it.
 */

import { el, gettext, interpolate, isTextField } from "./dom.js";

/** Display filter presets: [label, {highpass, lowpass}] (null: off). */
export const BANDS = [
  [gettext("Off"), { highpass: null, lowpass: null }],
  ["0.05–150 Hz", { highpass: 0.05, lowpass: 150 }],
  ["0.5–150 Hz", { highpass: 0.5, lowpass: 150 }],
  ["0.5–40 Hz", { highpass: 0.5, lowpass: 40 }],
];
export const NOTCHES = [null, 50, 60];
const WHEEL_ZOOM = 1.25; // per wheel notch

/** [keys as shown, what they do, matcher] — the handler and the help share it. */
export const VIEWER_KEYS = [
  ["C", gettext("Calipers: drag on a lead to measure an interval"), "C"],
  ["← →", gettext("Calipers on: move the selected cursor 1 mm (Shift 5 mm, Alt one sample)"), null],
  ["↑ ↓", gettext("Calipers on: move the selected cursor's level 1 mm (amplitude)"), null],
  ["[ ]", gettext("Calipers on: select the first or second cursor"), null],
  ["M", gettext("March out: repeat the interval across the strip"), "M"],
  ["X", gettext("Remove the calipers"), "X"],
  ["H", gettext("Cursor readout: time and amplitude under the pointer"), "H"],
  ["← →, PgUp PgDn", gettext("Previous or next page of the record"), null],
  ["L", gettext("Next layout"), "L"],
  ["S", gettext("Next paper speed"), "S"],
  ["G", gettext("Next limb-lead gain"), "G"],
  ["V", gettext("Next chest-lead gain"), "V"],
  ["F", gettext("Next filter band"), "F"],
  ["N", gettext("Mains notch: off, 50 Hz, 60 Hz"), "N"],
  ["O", gettext("Standard or Cabrera limb-lead order"), "O"],
  ["+ −", gettext("Zoom in or out (or Ctrl + mouse wheel)"), null],
  ["Z", gettext("Reset the zoom (or double-click the ECG)"), "Z"],
];

/** Rows for a page's help dialog: <tr><th><kbd>…</kbd></th><td>…</td></tr>. */
export function keyRows() {
  return VIEWER_KEYS.map(([keys, what]) =>
    el("tr", {}, el("th", { scope: "row" }, ...keys.split(", ").flatMap((k, i) => [i ? ", " : "", el("kbd", {}, k)])), el("td", {}, what)),
  );
}

function nextOf(list, value) {
  const at = list.findIndex((v) => String(v) === String(value));
  return list[(at + 1) % list.length];
}

/** Whether a key press is the viewer's: not typed into a field, no dialog open. */
function forViewer(viewer, event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey) return false;
  if (!viewer.element.isConnected || viewer.element.closest("[hidden]") || !viewer.base) return false;
  if (isTextField(event.target) || document.querySelector("dialog[open]")) return false;
  return true;
}

/** Whether the arrows are free for the viewer: focus on the page or in the viewer,
 * not in a list, a select or another control that uses them. */
function arrowsFree(viewer, event) {
  const target = event.target;
  if (!(target instanceof Element) || target === document.body || target.id === "main") return true;
  if (viewer.element.contains(target)) return !target.closest("select");
  return !target.closest("button, a, select, [role=listbox], [role=tree], [role=option], ol, ul, nav");
}

/** The viewer's key handler, on the window in the capture phase (before the page's). */
export function bindKeys(viewer) {
  const handler = (event) => {
    if (!forViewer(viewer, event)) return;
    const key = event.key;
    let done = true;
    if (key.startsWith("Arrow") || key === "[" || key === "]") {
      if (!arrowsFree(viewer, event)) return;
      done = viewer.calipers.key(event);
      if (!done && (key === "ArrowLeft" || key === "ArrowRight") && !event.altKey) {
        viewer.page(key === "ArrowLeft" ? -1 : 1);
        done = true;
      }
    } else if (event.altKey) {
      return;
    } else if (key === "PageUp" || key === "PageDown") {
      viewer.page(key === "PageUp" ? -1 : 1);
    } else if (key === "+" || key === "=") {
      viewer.zoom(1.5);
    } else if (key === "-" || key === "_") {
      viewer.zoom(1 / 1.5);
    } else {
      done = command(viewer, key);
    }
    if (done) {
      event.preventDefault();
      event.stopPropagation();
    }
  };
  window.addEventListener("keydown", handler, true);
  return () => window.removeEventListener("keydown", handler, true);
}

/** Ctrl (⌘) + mouse wheel zooms about the pointer; the plain wheel scrolls the page. */
export function bindWheel(viewer, target) {
  target.addEventListener(
    "wheel",
    (event) => {
      const axes = viewer.axes();
      if (!(event.ctrlKey || event.metaKey) || !axes) return;
      event.preventDefault();
      const box = viewer.graph.getBoundingClientRect();
      const t = axes.x[0] + ((event.clientX - box.left) / axes.width) * (axes.x[1] - axes.x[0]);
      const y = axes.y[1] - ((event.clientY - box.top) / axes.height) * (axes.y[1] - axes.y[0]);
      viewer.zoom(event.deltaY < 0 ? WHEEL_ZOOM : 1 / WHEEL_ZOOM, { t, y });
    },
    { passive: false },
  );
}

function command(viewer, key) {
  switch (key) {
    case "C":
      viewer.calipers.toggle();
      break;
    case "M":
      viewer.calipers.toggleMarch();
      break;
    case "X":
      viewer.calipers.clear();
      break;
    case "H":
      viewer.calipers.toggleHover();
      break;
    case "L":
      viewer.setLayout(nextOf(viewer.layoutChoices(), viewer.info.layout));
      break;
    case "S":
      viewer.setSpeed(nextOf(viewer.speeds, viewer.speed));
      break;
    case "G":
      viewer.setGain(nextOf(viewer.gains, viewer.gain));
      break;
    case "V":
      viewer.setChestGain(nextOf(viewer.gains, viewer.chestGain));
      break;
    case "F": {
      const at = BANDS.findIndex(([, band]) => sameBand(band, viewer.filters));
      viewer.setFilters({ ...viewer.filters, ...BANDS[(at + 1) % BANDS.length][1] });
      break;
    }
    case "N":
      viewer.setFilters({ ...viewer.filters, notch: nextOf(NOTCHES, viewer.filters.notch ?? null) });
      break;
    case "O":
      viewer.setCabrera(!viewer.cabrera);
      break;
    case "Z":
      viewer.resetZoom();
      break;
    default:
      return false;
  }
  return true;
}

function sameBand(band, filters) {
  return (band.highpass ?? null) === (filters.highpass ?? null) && (band.lowpass ?? null) === (filters.lowpass ?? null);
}

/** The toolbar: selects for layout, speed, gains and filters; calipers; reset. */
export function buildToolbar(viewer) {
  const bar = el("div", { class: "ecg-toolbar", role: "group", "aria-label": gettext("ECG display") });
  const uid = Math.random().toString(36).slice(2, 8);
  const select = (label, name, options, value, onChange, title = "") => {
    const id = `ecg-${name}-${uid}`;
    const sel = el("select", { id, name, title: title || null });
    for (const [text, val] of options) sel.add(new Option(text, String(val), false, String(val) === String(value)));
    sel.addEventListener("change", () => onChange(sel.value));
    bar.append(el("span", { class: "ecg-control" }, el("label", { for: id }, label), sel));
    return sel;
  };
  const gains = viewer.gains.map((g) => [`${g} mm/mV`, g]);
  const controls = {
    layout: select(
      gettext("Layout"),
      "layout",
      [
        ["3×4 + II", "3x4"],
        ["6×2", "6x2"],
        ["12×1", "12x1"],
        [gettext("Whole record"), "overview"],
      ],
      viewer.layoutName,
      (v) => viewer.setLayout(v),
      gettext("Layout (L)"),
    ),
    speed: select(gettext("Speed"), "speed", viewer.speeds.map((s) => [`${s} mm/s`, s]), viewer.speed, (v) => viewer.setSpeed(v), gettext("Paper speed (S)")),
    gain: select(gettext("Limbs"), "gain", gains, viewer.gain, (v) => viewer.setGain(v), gettext("Limb-lead gain (G)")),
    chestGain: select(gettext("Chest"), "chest-gain", gains, viewer.chestGain, (v) => viewer.setChestGain(v), gettext("Chest-lead gain (V)")),
    band: select(
      gettext("Filter"),
      "filter",
      BANDS.map(([text], i) => [text, i]),
      0,
      (v) => viewer.setFilters({ ...viewer.filters, ...controls.bands[Number(v)][1] }),
      gettext("Display filter band (F)"),
    ),
    notch: select(
      gettext("Notch"),
      "notch",
      NOTCHES.map((n) => [n ? `${n} Hz` : gettext("Off"), n ?? ""]),
      "",
      (v) => viewer.setFilters({ ...viewer.filters, notch: v ? Number(v) : null }),
      gettext("Mains notch filter (N)"),
    ),
  };
  controls.bands = [...BANDS]; // the presets, and a campaign's own band when it has one
  controls.overview = controls.layout.options[3];
  controls.overview.hidden = true;
  controls.cabrera = el("input", { type: "checkbox", name: "cabrera", id: `ecg-cabrera-${uid}` });
  controls.cabrera.addEventListener("change", () => viewer.setCabrera(controls.cabrera.checked));
  bar.append(
    el("span", { class: "ecg-control", title: gettext("Cabrera limb-lead order (O)") }, controls.cabrera, el("label", { for: controls.cabrera.id }, gettext("Cabrera"))),
  );
  controls.calipers = el(
    "button",
    { type: "button", class: "ecg-tool", "aria-pressed": "false", "aria-keyshortcuts": "Shift+C", title: gettext("Calipers (C)") },
    gettext("Calipers"),
  );
  controls.calipers.addEventListener("click", () => viewer.calipers.toggle());
  const reset = el("button", { type: "button", class: "ecg-reset", title: gettext("Undo zoom (Z, or double-click the ECG)") }, gettext("Reset zoom"));
  reset.addEventListener("click", () => viewer.resetZoom());
  controls.readout = el("output", { class: "ecg-readout", "aria-live": "polite", hidden: true });
  controls.status = el("span", { class: "ecg-status" });
  bar.append(controls.calipers, reset, controls.readout, controls.status);
  return { bar, controls };
}

/** Put the toolbar's controls in step with the viewer. */
export function syncToolbar(viewer, controls) {
  if (!controls) return;
  controls.overview.hidden = !viewer.isLong();
  controls.layout.value = viewer.info.layout;
  controls.speed.value = String(viewer.speed);
  controls.gain.value = String(viewer.gain);
  controls.chestGain.value = String(viewer.chestGain);
  const { bands } = controls;
  let band = bands.findIndex(([, b]) => sameBand(b, viewer.filters));
  if (band < 0) {
    const { highpass, lowpass } = viewer.filters;
    band = bands.push([`${highpass ?? 0}–${lowpass ?? ""} Hz`, { highpass, lowpass }]) - 1;
    controls.band.add(new Option(bands[band][0], String(band)));
  }
  controls.band.value = String(band);
  controls.notch.value = String(viewer.filters.notch ?? "");
  controls.cabrera.checked = viewer.cabrera;
  controls.calipers.setAttribute("aria-pressed", String(viewer.calipers?.active ?? false));
}

/** The position bar: where in the record the screen is ("0–10 s of 30:05"). */
export function buildPosition() {
  const thumb = el("span", { class: "ecg-thumb" });
  const text = el("span", { class: "ecg-where num" });
  const bar = el("div", { class: "ecg-position", role: "presentation" }, el("span", { class: "ecg-track" }, thumb), text);
  return { bar, thumb, text };
}

export function showPosition(position, { start, end, duration, page, pages }) {
  const a = Math.max(0, start);
  const b = Math.min(duration, end);
  position.thumb.style.left = `${(100 * a) / duration}%`;
  position.thumb.style.width = `${Math.max((100 * (b - a)) / duration, 0.5)}%`;
  position.bar.dataset.start = a.toFixed(3);
  position.bar.dataset.end = b.toFixed(3);
  const span = interpolate(gettext("%(a)s–%(b)s s of %(d)s s"), { a: seconds(a), b: seconds(b), d: seconds(duration) });
  position.text.textContent =
    pages > 1 ? `${span} · ${interpolate(gettext("page %(page)s of %(pages)s"), { page: page + 1, pages })}` : span;
}

function seconds(value) {
  return String(Number(value.toFixed(value < 100 ? 2 : 0)));
}
