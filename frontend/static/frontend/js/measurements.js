/**
 * Intervals a reader measures (RR, PR, QRS, QT, QTc in ms): the reading page's
 * Measure table, filled from the calipers with one key, and the adjudication
 * page's table of every reader's.
 *
 *   const table = new MeasureTable(fieldset, viewer, {announce});
 *   table.record();            // the caliper interval into the selected row (key R)
 *   table.values;              // {RR: 812, QT: 380, QTc: 421.5}: only filled rows
 *   table.set(values); table.clear();
 *
 * QTc follows Bazett from QT and RR while the reader has not typed a QTc.
 */

import { el, gettext, interpolate, isTextField } from "./dom.js";

export const INTERVALS = ["RR", "PR", "QRS", "QT", "QTc"];
const MEASURED = ["RR", "PR", "QRS", "QT"]; // the rows calipers fill, in that order
const MAX_MS = 5000;

export const MEASURE_KEYS = [["R", gettext("Measure: copy the caliper interval into the selected row (RR, then PR, QRS, QT)")]];

/**
 * Bazett's corrected QT: QTc = QT / √(RR in s), in ms to 0.1 ms; null unless
 * both intervals are positive numbers (ms).
 */
export function bazett(qtMs, rrMs) {
  if (!(qtMs > 0 && rrMs > 0 && Number.isFinite(qtMs) && Number.isFinite(rrMs))) return null;
  return Math.round((qtMs / Math.sqrt(rrMs / 1000)) * 10) / 10;
}

function number(value) {
  return new Intl.NumberFormat(document.documentElement.lang || undefined, { maximumFractionDigits: 1 }).format(value);
}

export class MeasureTable {
  /**
   * @param {HTMLElement} root the fieldset: a `.measure-rows` table body, a
   *   `.measure-record` button and a `.measure-note` line
   * @param viewer the EcgViewer whose calipers are read (its `.ecg-readout`)
   */
  constructor(root, viewer, { announce = () => {} } = {}) {
    Object.assign(this, { root, viewer, announce });
    this.inputs = new Map();
    this.typedQtc = false; // the reader's own QTc: Bazett no longer overwrites it
    const header = el(
      "tr",
      {},
      INTERVALS.map((name) => el("th", { scope: "col" }, el("label", { for: `measure-${name}` }, name))),
    );
    const targets = el(
      "tr",
      { class: "measure-targets" },
      INTERVALS.map((name) =>
        el(
          "td",
          {},
          MEASURED.includes(name)
            ? el("input", {
                type: "radio",
                name: "measure-target",
                value: name,
                checked: name === "RR",
                "aria-label": interpolate(gettext("Fill %(name)s next"), { name }),
              })
            : el("span", { class: "muted", title: gettext("Bazett, from QT and RR") }, "ƒ"),
        ),
      ),
    );
    const values = el(
      "tr",
      {},
      INTERVALS.map((name) => {
        const input = el("input", {
          type: "number",
          id: `measure-${name}`,
          name: `measure-${name}`,
          min: "0",
          max: String(MAX_MS),
          step: "0.1",
          inputmode: "decimal",
          autocomplete: "off",
        });
        this.inputs.set(name, input);
        return el("td", {}, input);
      }),
    );
    root.querySelector(".measure-rows").replaceChildren(header, targets, values);
    this.note = root.querySelector(".measure-note");
    root.addEventListener("input", (event) => {
      if (event.target === this.inputs.get("QTc")) this.typedQtc = event.target.value !== "";
      if (event.target === this.inputs.get("QT") || event.target === this.inputs.get("RR")) this._qtc();
    });
    root.querySelector(".measure-record").addEventListener("click", () => this.record());
    window.addEventListener("keydown", (event) => this._key(event), true);
  }

  /** The filled rows: {name: ms}. */
  get values() {
    const out = {};
    for (const [name, input] of this.inputs) {
      const value = input.valueAsNumber;
      if (input.value !== "" && Number.isFinite(value)) out[name] = value;
    }
    return out;
  }

  set(values = {}) {
    this.clear();
    for (const [name, value] of Object.entries(values ?? {})) {
      const input = this.inputs.get(name);
      if (input) input.value = String(value);
    }
    // A stored QTc other than Bazett's is the reader's own.
    const computed = bazett(values?.QT, values?.RR);
    this.typedQtc = values?.QTc !== undefined && values.QTc !== computed;
    this._showNote();
  }

  clear() {
    for (const input of this.inputs.values()) input.value = "";
    this.typedQtc = false;
    this._select("RR");
    this._showNote();
  }

  get selected() {
    return this.root.querySelector("input[name=measure-target]:checked")?.value ?? "RR";
  }

  /** Copy the calipers' interval into the selected row and select the next one. */
  record() {
    const readout = this.viewer.calipers?.readout;
    const ms = Number(readout?.dataset.caliperMs);
    if (!readout?.dataset.caliperMs || !(ms > 0)) {
      if (!this.viewer.calipers.active) this.viewer.calipers.toggle(true);
      this.announce(gettext("Place the calipers on the interval first (drag on a lead), then press Measure (R)."));
      return false;
    }
    const name = this.selected;
    this.inputs.get(name).value = String(Math.round(ms * 10) / 10);
    this._qtc();
    const next = MEASURED[Math.min(MEASURED.indexOf(name) + 1, MEASURED.length - 1)];
    this._select(next);
    this.announce(interpolate(gettext("%(name)s %(ms)s ms recorded."), { name, ms: number(ms) }));
    return true;
  }

  _select(name) {
    for (const radio of this.root.querySelectorAll("input[name=measure-target]")) radio.checked = radio.value === name;
  }

  _qtc() {
    if (this.typedQtc) return;
    const value = bazett(this.values.QT, this.values.RR);
    this.inputs.get("QTc").value = value === null ? "" : String(value);
    this._showNote();
  }

  _showNote() {
    if (!this.note) return;
    const computed = !this.typedQtc && this.inputs.get("QTc").value !== "";
    this.note.textContent = computed ? gettext("QTc by Bazett: QT / √RR (s).") : "";
  }

  /** Shift+R records; not while typing or with a dialog open. */
  _key(event) {
    if (event.key !== "R" || event.ctrlKey || event.metaKey || event.altKey || isTextField(event.target)) return;
    if (document.querySelector("dialog[open]") || this.root.closest("[hidden]") || !this.viewer.base) return;
    event.preventDefault();
    event.stopPropagation();
    this.record();
  }
}

/** The adjudication page's table: a row per interval any reader measured, a column per reader. */
export function readersMeasurements(decisions, colourOf) {
  const names = INTERVALS.filter((name) => decisions.some((d) => d.measurements?.[name] !== undefined));
  if (!names.length) return null;
  return el(
    "table",
    { class: "data measures" },
    el("caption", {}, gettext("Readers' measurements (ms)")),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, gettext("Interval")),
        decisions.map((d) =>
          el("th", { scope: "col" }, el("span", { class: "swatch", style: `--colour: ${colourOf(d.reader)}`, "aria-hidden": "true" }), d.reader),
        ),
      ),
    ),
    el(
      "tbody",
      {},
      names.map((name) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, name),
          decisions.map((d) => {
            const value = d.measurements?.[name];
            return el("td", { class: "num" }, value === undefined ? el("span", { class: "muted" }, "—") : number(value));
          }),
        ),
      ),
    ),
  );
}
