/**
 * The ECG viewer's measuring tools: calipers and the cursor readout.
 *
 *   const calipers = new Calipers(viewer, overlay, readout);
 *   calipers.toggle();          // the "Calipers" tool: drag on a lead to place
 *   calipers.render();          // after every draw, zoom or pan: cursors stay on the paper
 *   calipers.key(event);        // arrows nudge the selected cursor; true when handled
 *
 * Cursors live in paper coordinates (time in s, paper y in µV), never in pixels,
 * so zooming and panning move them with the tracing. The readout element carries
 * the numbers as data-caliper-ms, data-caliper-bpm and data-caliper-uv.
 *
 * `viewer` gives: `axes()` → {x: [a, b], y: [a, b], width, height} of what is
 * drawn, `leadAt(t, y)` → the lead under a point ({name, lead, baseline, scale}),
 * `steps()` → {mm: s per mm, uvMm: paper µV per mm, sample: s}, `valueAt(lead, t)`
 * → µV, and the `element` it dispatches "caliper" events on.
 */

import { gettext, interpolate } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const GRAB_PX = 6; // a press this close to a cursor drags it
const MARCH_MAX = 60; // march-out marks drawn at most

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

function formatNumber(value, digits) {
  return new Intl.NumberFormat(document.documentElement.lang || undefined, {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  }).format(value);
}

export class Calipers {
  constructor(viewer, overlay, readout) {
    this.viewer = viewer;
    this.overlay = overlay;
    this.readout = readout;
    this.active = false; // the tool: pointer presses place and drag cursors
    this.points = null; // [{t, y}, {t, y}] in paper coordinates
    this.lead = null; // the lead the calipers measure (where they were placed)
    this.selected = 1; // the cursor the arrow keys move
    this.march = false;
    this.hover = false; // the cursor readout: time and amplitude under the pointer
    this._drag = null;

    this.layer = svg("g", { class: "caliper-marks" });
    this.hoverLayer = svg("g", { class: "cursor-marks" });
    overlay.append(this.layer, this.hoverLayer);
    overlay.addEventListener("pointerdown", (event) => this._down(event));
    overlay.addEventListener("pointermove", (event) => this._move(event));
    overlay.addEventListener("pointerup", (event) => this._up(event));
    overlay.addEventListener("pointercancel", (event) => this._up(event));
    this._onHover = (event) => this._hoverAt(event);
    this._onLeave = () => this.hoverLayer.replaceChildren();
    viewer.element.addEventListener("pointermove", this._onHover);
    viewer.element.addEventListener("pointerleave", this._onLeave);
    this._readout();
  }

  // --- The tool ---------------------------------------------------------------------

  toggle(on = !this.active) {
    this.active = on;
    this.overlay.classList.toggle("placing", on);
    this.viewer.element.classList.toggle("calipers-on", on);
    this._dispatch();
    return on;
  }

  clear() {
    this.points = null;
    this.lead = null;
    this.march = false;
    this.render();
  }

  toggleMarch() {
    if (!this.points) return false;
    this.march = !this.march;
    this.render();
    return this.march;
  }

  toggleHover() {
    this.hover = !this.hover;
    if (!this.hover) this.hoverLayer.replaceChildren();
    this._readout();
    return this.hover;
  }

  /** Place both cursors (paper coordinates), as a drag from a to b would. */
  place(a, b) {
    this.points = [{ ...a }, { ...b }];
    this.lead = this.viewer.leadAt(a.t, a.y);
    this.selected = 1;
    this.render();
  }

  /** The measurement: {ms, bpm, uv, lead} or null. */
  get value() {
    if (!this.points) return null;
    const [a, b] = this.points;
    const ms = Math.abs(b.t - a.t) * 1000;
    const uv = (b.y - a.y) * (this.lead?.scale ?? 1);
    return { ms, bpm: ms > 0 ? 60000 / ms : null, uv, lead: this.lead?.name ?? null };
  }

  /** Arrow keys: ←/→ move the selected cursor 1 mm (Shift 5 mm, Alt one sample),
   * ↑/↓ its level; Tab-like switching with [ and ]. True when the key was used. */
  key(event) {
    if (!this.active || !this.points) return false;
    const steps = this.viewer.steps();
    const scale = event.shiftKey ? 5 : 1;
    const point = this.points[this.selected];
    if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      const step = event.altKey ? steps.sample : steps.mm * scale;
      point.t += event.key === "ArrowLeft" ? -step : step;
    } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      point.y += (event.key === "ArrowUp" ? 1 : -1) * steps.uvMm * scale;
    } else if (event.key === "[" || event.key === "]") {
      this.selected = event.key === "[" ? 0 : 1;
    } else {
      return false;
    }
    this.render();
    return true;
  }

  // --- Pointer ------------------------------------------------------------------------

  _paperPoint(event) {
    const box = this.overlay.getBoundingClientRect();
    const axes = this.viewer.axes();
    const px = event.clientX - box.left;
    const py = event.clientY - box.top;
    return {
      t: axes.x[0] + (px / axes.width) * (axes.x[1] - axes.x[0]),
      y: axes.y[1] - (py / axes.height) * (axes.y[1] - axes.y[0]),
      px,
      py,
    };
  }

  _pixelX(t, axes = this.viewer.axes()) {
    return ((t - axes.x[0]) / (axes.x[1] - axes.x[0])) * axes.width;
  }

  _pixelY(y, axes = this.viewer.axes()) {
    return ((axes.y[1] - y) / (axes.y[1] - axes.y[0])) * axes.height;
  }

  _down(event) {
    if (!this.active || event.button !== 0) return;
    event.preventDefault();
    const at = this._paperPoint(event);
    const near = this.points?.findIndex((p) => Math.abs(this._pixelX(p.t) - at.px) <= GRAB_PX) ?? -1;
    if (near >= 0) {
      this._drag = near;
    } else {
      this.place(at, at);
      this._drag = 1;
    }
    this.selected = this._drag;
    this.overlay.setPointerCapture(event.pointerId);
  }

  _move(event) {
    if (this._drag === null) return;
    const at = this._paperPoint(event);
    this.points[this._drag] = { t: at.t, y: at.y };
    this.render();
  }

  _up(event) {
    if (this._drag === null) return;
    this._drag = null;
    if (this.overlay.hasPointerCapture(event.pointerId)) this.overlay.releasePointerCapture(event.pointerId);
    this._dispatch();
  }

  _hoverAt(event) {
    if (!this.hover || !this.viewer.axes()) return;
    const at = this._paperPoint(event);
    const axes = this.viewer.axes();
    if (at.px < 0 || at.py < 0 || at.px > axes.width || at.py > axes.height) return;
    const lead = this.viewer.leadAt(at.t, at.y);
    const value = lead ? this.viewer.valueAt(lead.lead, at.t) : null;
    this.hoverAt = { t: at.t, lead: lead?.name ?? null, uv: value === null ? null : value * (lead.scale < 0 ? -1 : 1) };
    const text = lead
      ? interpolate(gettext("%(lead)s  %(t)s s  %(mv)s mV"), {
          lead: lead.name === "-aVR" ? "−aVR" : lead.name,
          t: formatNumber(at.t, 3),
          mv: value === null ? "–" : formatNumber(this.hoverAt.uv / 1000, 2),
        })
      : `${formatNumber(at.t, 3)} s`;
    const label = svg("text", { x: at.px + 8, y: Math.max(at.py - 8, 12), class: "cursor-text" });
    label.textContent = text;
    this.hoverLayer.replaceChildren(
      svg("line", { x1: at.px, x2: at.px, y1: 0, y2: axes.height, class: "cursor-line" }),
      label,
    );
    this.readout.dataset.cursor = text;
  }

  // --- Drawing ------------------------------------------------------------------------

  /** Draw the cursors where their times fall in the current view. */
  render() {
    const axes = this.viewer.axes();
    if (!axes) return;
    this.overlay.setAttribute("width", axes.width);
    this.overlay.setAttribute("height", axes.height);
    this.overlay.setAttribute("viewBox", `0 0 ${axes.width} ${axes.height}`);
    const marks = [];
    if (this.points) {
      const [a, b] = this.points;
      const xs = this.points.map((p) => this._pixelX(p.t, axes));
      const ys = this.points.map((p) => this._pixelY(p.y, axes));
      if (this.march && b.t !== a.t) {
        const step = Math.abs(b.t - a.t);
        const first = Math.min(a.t, b.t);
        const k0 = Math.max(Math.ceil((axes.x[0] - first) / step), -MARCH_MAX);
        const k1 = Math.min(Math.floor((axes.x[1] - first) / step), k0 + MARCH_MAX);
        for (let k = k0; k <= k1; k++) {
          if (k === 0 || k === 1) continue;
          const x = this._pixelX(first + k * step, axes);
          marks.push(svg("line", { x1: x, x2: x, y1: 0, y2: axes.height, class: "caliper-march" }));
        }
      }
      xs.forEach((x, i) => {
        marks.push(
          svg("line", { x1: x, x2: x, y1: 0, y2: axes.height, class: `caliper-line${i === this.selected ? " selected" : ""}` }),
        );
      });
      // The amplitude caliper: the two levels, across the span between the cursors.
      const left = Math.min(...xs) - 12;
      const right = Math.max(...xs) + 12;
      for (const y of ys) marks.push(svg("line", { x1: left, x2: right, y1: y, y2: y, class: "caliper-level" }));
      marks.push(svg("line", { x1: xs[0], x2: xs[1], y1: 10, y2: 10, class: "caliper-span" }));
    }
    this.layer.replaceChildren(...marks);
    this._readout();
  }

  _readout() {
    const value = this.value;
    const node = this.readout;
    node.hidden = !value && !this.active && !this.hover;
    if (!value) {
      delete node.dataset.caliperMs;
      delete node.dataset.caliperBpm;
      delete node.dataset.caliperUv;
      node.textContent = this.active ? gettext("Drag on a lead to measure") : this.hover ? gettext("Cursor readout on") : "";
      return;
    }
    node.dataset.caliperMs = value.ms.toFixed(1);
    node.dataset.caliperBpm = value.bpm === null ? "" : value.bpm.toFixed(1);
    node.dataset.caliperUv = value.uv.toFixed(0);
    node.dataset.caliperLead = value.lead ?? "";
    const parts = [
      interpolate(gettext("Δt %(ms)s ms"), { ms: formatNumber(value.ms, 0) }),
      value.bpm === null ? "" : interpolate(gettext("%(bpm)s bpm"), { bpm: formatNumber(value.bpm, 0) }),
      interpolate(gettext("ΔV %(mv)s mV"), { mv: formatNumber(value.uv / 1000, 2) }),
      value.lead ? `(${value.lead === "-aVR" ? "−aVR" : value.lead})` : "",
    ];
    node.textContent = parts.filter(Boolean).join("  ");
  }

  _dispatch() {
    this.viewer.element.dispatchEvent(new CustomEvent("caliper", { detail: { active: this.active, value: this.value } }));
  }

  destroy() {
    this.viewer.element.removeEventListener("pointermove", this._onHover);
    this.viewer.element.removeEventListener("pointerleave", this._onLeave);
    this.overlay.remove();
  }
}
