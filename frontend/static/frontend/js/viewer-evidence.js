/**
 * Evidence on the ECG: spans of the tracing where a class is seen, drawn as
 * translucent bands on their leads, and the "Evidence" tool that marks them.
 *
 *   const evidence = new Evidence(viewer, {classes: () => [{code, name}…], list, watch});
 *   evidence.toggle();          // the tool (key E): drag a span on a lead, pick a class
 *   evidence.spans;             // [{code, start, end, leads}]: s of the record, lead names
 *   evidence.kept();            // the spans whose class is still chosen (what is sent)
 *   evidence.set(spans); evidence.clear();
 *   evidence.show([{label, colour, spans}]); // others' evidence, read-only (adjudication)
 *
 * Spans live in record time and lead names, never in pixels. Where a lead is
 * drawn comes from the viewer's own traces (their meta: lead, the time span of
 * the column, the row's extent in paper µV; viewer-paper.js), so the bands
 * follow every layout, page, zoom and pan, as the calipers' cursors do. The
 * viewer module is not changed: the layer listens to the graph's Plotly events.
 */

import { el, gettext, interpolate, isTextField } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const MIN_PX = 3; // a shorter drag is a click, not a span
const OWN = "#0072b2";
/** Readers' colours on the adjudication page (Okabe–Ito, told apart in colour blindness). */
export const PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];

export const EVIDENCE_KEYS = [["E", gettext("Evidence: drag a span on a lead, then pick the class seen there")]];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

const ms = (t) => Math.round(t * 1000) / 1000;
const leadText = (lead) => (lead === "-aVR" ? "−aVR" : lead);

function seconds(t) {
  return new Intl.NumberFormat(document.documentElement.lang || undefined, {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  }).format(t);
}

/** "AF · 1.20–2.00 s · II, V1" */
export function spanText(span) {
  return interpolate(gettext("%(code)s · %(start)s–%(end)s s · %(leads)s"), {
    code: span.code,
    start: seconds(span.start),
    end: seconds(span.end),
    leads: span.leads.map(leadText).join(", "),
  });
}

/** "1.20–2.00 s · II": where a span is, before its class is picked. */
function placeText(span) {
  return interpolate(gettext("%(start)s–%(end)s s · %(leads)s"), {
    start: seconds(span.start),
    end: seconds(span.end),
    leads: span.leads.map(leadText).join(", "),
  });
}

/** A legend of whose evidence is drawn in which colour. */
export function evidenceLegend(groups) {
  return el(
    "ul",
    { class: "evidence-legend", "aria-label": gettext("Evidence on the tracing") },
    groups.map((g) =>
      el(
        "li",
        {},
        el("span", { class: "swatch", style: `--colour: ${g.colour}`, "aria-hidden": "true" }),
        interpolate(gettext("%(reader)s (evidence: %(n)s)"), { reader: g.label, n: g.spans.length }),
      ),
    ),
  );
}

export class Evidence {
  /**
   * @param viewer the EcgViewer
   * @param {{classes?: () => {code: string, name: string}[], list?: HTMLElement,
   *   watch?: HTMLElement, tool?: boolean, announce?: (message: string) => void}} options
   *   `classes`: what a span may be marked as (the chosen classes); `list`: where the
   *   spans are listed with remove buttons; `watch`: an element whose changes mean the
   *   chosen classes changed; `tool`: add the Evidence button and key (reading).
   */
  constructor(viewer, { classes = () => [], list = null, watch = null, tool = true, announce = () => {} } = {}) {
    Object.assign(this, { viewer, classes, list, announce });
    this.spans = [];
    this.others = []; // [{label, colour, spans}] drawn read-only
    this.active = false;
    this._drag = null;
    this.menu = null;
    this.layer = svg("svg", { class: "ecg-overlay ecg-evidence", "aria-hidden": "true" });
    viewer.frame.insertBefore(this.layer, viewer.calipers.overlay); // under the calipers
    this.layer.addEventListener("pointerdown", (event) => this._down(event));
    this.layer.addEventListener("pointermove", (event) => this._move(event));
    this.layer.addEventListener("pointerup", (event) => this._up(event));
    this.layer.addEventListener("pointercancel", () => this._cancelDrag());
    viewer.element.addEventListener("drawn", () => this._follow());
    viewer.element.addEventListener("caliper", (event) => {
      if (event.detail.active && this.active) this.toggle(false); // one tool at a time
    });
    if (watch) new MutationObserver(() => this._changed(false)).observe(watch, { childList: true, subtree: true });
    this.button = null;
    if (tool) {
      this.button = el(
        "button",
        { type: "button", class: "ecg-tool", "aria-pressed": "false", "aria-keyshortcuts": "Shift+E", title: EVIDENCE_KEYS[0][1] },
        gettext("Evidence"),
      );
      this.button.addEventListener("click", () => this.toggle());
      viewer.controls?.calipers.after(this.button);
      window.addEventListener("keydown", (event) => this._key(event), true);
    }
    this._changed(false);
  }

  // --- The spans -----------------------------------------------------------------------

  set(spans) {
    this.spans = (spans ?? []).map((s) => ({ code: s.code, start: s.start, end: s.end, leads: [...s.leads] }));
    this._changed(false);
  }

  clear() {
    this._closeMenu(false);
    this.set([]);
  }

  remove(index) {
    const [gone] = this.spans.splice(index, 1);
    this._changed(true);
    if (gone) this.announce(interpolate(gettext("Evidence removed: %(span)s."), { span: spanText(gone) }));
  }

  /** The spans whose class is among the chosen ones: a read never sends another. */
  kept() {
    const codes = new Set(this.classes().map((c) => c.code));
    return this.spans.filter((s) => codes.has(s.code)).map((s) => ({ ...s, leads: [...s.leads] }));
  }

  /** Other people's evidence, each group in its colour (the adjudication page). */
  show(groups) {
    this.others = groups;
    this.render();
  }

  // --- The tool ------------------------------------------------------------------------

  toggle(on = !this.active) {
    this.active = on;
    if (on && this.viewer.calipers.active) this.viewer.calipers.toggle(false);
    if (!on) this._cancelDrag();
    this.layer.classList.toggle("marking", on);
    this.viewer.element.classList.toggle("evidence-on", on);
    this.button?.setAttribute("aria-pressed", String(on));
    if (on) this.announce(gettext("Evidence: drag across the lead where a chosen class is seen."));
    return on;
  }

  /** Shift+E toggles the tool; Escape leaves it. Not while typing or in a dialog. */
  _key(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || isTextField(event.target)) return;
    if (document.querySelector("dialog[open]") || !this.viewer.base || this.viewer.element.closest("[hidden]")) return;
    if (event.key === "E") this.toggle();
    else if (event.key === "Escape" && this.active && !this.menu) this.toggle(false);
    else return;
    event.preventDefault();
    event.stopPropagation();
  }

  // --- Pointer -------------------------------------------------------------------------

  /** Where each lead is drawn now: [{lead, name, start, end, y: [µV, µV]}]. */
  cells() {
    return (this.viewer.graph.data ?? [])
      .filter((t) => t.meta?.lead && t.meta.rowY)
      .map((t) => ({ lead: t.meta.lead, name: t.name, start: t.meta.start, end: t.meta.end, y: t.meta.rowY }));
  }

  _at(event) {
    const axes = this.viewer.axes();
    const box = this.layer.getBoundingClientRect();
    const px = event.clientX - box.left;
    const py = event.clientY - box.top;
    return {
      t: axes.x[0] + (px / axes.width) * (axes.x[1] - axes.x[0]),
      y: axes.y[1] - (py / axes.height) * (axes.y[1] - axes.y[0]),
      px,
    };
  }

  _down(event) {
    if (!this.active || event.button !== 0 || !this.viewer.axes()) return;
    event.preventDefault();
    this._closeMenu(false);
    const at = this._at(event);
    const cell = this.cells().find((c) => at.y >= c.y[0] && at.y < c.y[1] && at.t >= c.start && at.t <= c.end);
    if (!cell) return;
    this._drag = { cell, from: at.t, to: at.t, px: at.px, moved: 0 };
    this.layer.setPointerCapture(event.pointerId);
    this.render();
  }

  _move(event) {
    const drag = this._drag;
    if (!drag) return;
    const at = this._at(event);
    drag.to = Math.min(Math.max(at.t, drag.cell.start), drag.cell.end);
    drag.moved = Math.max(drag.moved, Math.abs(at.px - drag.px));
    this.render();
  }

  _up(event) {
    const drag = this._drag;
    if (!drag) return;
    if (this.layer.hasPointerCapture(event.pointerId)) this.layer.releasePointerCapture(event.pointerId);
    const start = ms(Math.max(Math.min(drag.from, drag.to), 0));
    const end = ms(Math.min(Math.max(drag.from, drag.to), this.viewer.base.duration));
    if (drag.moved < MIN_PX || end <= start) {
      this._cancelDrag();
      return;
    }
    drag.span = { start, end, leads: [drag.cell.lead] };
    this._openMenu(event);
  }

  _cancelDrag() {
    this._drag = null;
    this.render();
  }

  // --- The class menu ----------------------------------------------------------------

  _openMenu(event) {
    const choices = this.classes();
    const items = choices.map(({ code, name }) =>
      el(
        "button",
        { type: "button", role: "menuitem", class: "evidence-item", "data-code": code, tabindex: "-1" },
        el("span", { class: "code" }, code),
        " ",
        name,
      ),
    );
    const cancel = el("button", { type: "button", role: "menuitem", class: "evidence-item cancel", tabindex: "-1" }, gettext("Cancel"));
    this.menu = el(
      "div",
      { class: "evidence-menu", role: "menu", "aria-label": gettext("Class seen in this span") },
      el("p", { class: "evidence-menu-title" }, placeText(this._drag.span)),
      choices.length ? null : el("p", { class: "evidence-menu-empty" }, gettext("Choose the class first, then mark where it is seen.")),
      items,
      cancel,
    );
    this.menu.addEventListener("click", (e) => {
      const item = e.target.closest(".evidence-item");
      if (item) this._pick(item.dataset.code ?? null);
    });
    this.menu.addEventListener("keydown", (e) => this._menuKey(e));
    this.menu.addEventListener("focusout", (e) => {
      if (this.menu && !this.menu.contains(e.relatedTarget)) this._closeMenu(false);
    });
    document.body.append(this.menu);
    const x = event.clientX + window.scrollX;
    const y = event.clientY + window.scrollY;
    const width = this.menu.offsetWidth;
    this.menu.style.left = `${Math.max(Math.min(x + 8, window.scrollX + document.documentElement.clientWidth - width - 8), 8)}px`;
    this.menu.style.top = `${y + 8}px`;
    (items[0] ?? cancel).focus();
  }

  _menuKey(event) {
    const items = [...this.menu.querySelectorAll(".evidence-item")];
    const at = items.indexOf(document.activeElement);
    let next = null;
    if (event.key === "ArrowDown") next = (at + 1) % items.length;
    else if (event.key === "ArrowUp") next = (at - 1 + items.length) % items.length;
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    else if (event.key === "Escape") this._closeMenu(true);
    else if (event.key === "Tab") this._closeMenu(true);
    if (next !== null) items[next].focus();
    if (event.key !== "Enter" && event.key !== " ") event.preventDefault();
    // The page's keys (class shortcuts, submit) wait until the menu is closed.
    event.stopPropagation();
  }

  _pick(code) {
    const span = this._drag?.span;
    this._closeMenu(true);
    if (!code || !span) return;
    const added = { code, ...span };
    this.spans.push(added);
    this.spans.sort((a, b) => a.start - b.start || a.end - b.end);
    this._changed(true);
    this.announce(interpolate(gettext("Evidence added: %(span)s."), { span: spanText(added) }));
  }

  _closeMenu(refocus) {
    const menu = this.menu;
    this.menu = null;
    this._drag = null;
    if (!menu) return;
    menu.remove();
    if (refocus) (this.button ?? this.viewer.graph).focus();
    this.render();
  }

  // --- Drawing -------------------------------------------------------------------------

  _changed(user) {
    this._list();
    this.render();
    if (user) this.viewer.element.dispatchEvent(new CustomEvent("evidence", { detail: { spans: this.spans } }));
  }

  _follow() {
    this.render();
    const graph = this.viewer.graph;
    if (this._bound || typeof graph.on !== "function") return;
    this._bound = true;
    // Zooms and pans (while dragging too): the bands stay on the paper.
    for (const name of ["plotly_relayout", "plotly_relayouting", "plotly_afterplot"]) graph.on(name, () => this.render());
  }

  /** Draw the bands where their times and leads fall in the current view. */
  render() {
    const axes = this.viewer.axes();
    if (!axes) return;
    // Attributes and children are touched only when they change: each touch
    // costs a layout on the way to the next exam.
    const size = { width: String(axes.width), height: String(axes.height), viewBox: `0 0 ${axes.width} ${axes.height}` };
    for (const [name, value] of Object.entries(size)) if (this.layer.getAttribute(name) !== value) this.layer.setAttribute(name, value);
    const px = (t) => ((t - axes.x[0]) / (axes.x[1] - axes.x[0])) * axes.width;
    const py = (y) => ((axes.y[1] - y) / (axes.y[1] - axes.y[0])) * axes.height;
    const cells = this.cells();
    const chosen = new Set(this.classes().map((c) => c.code));
    const groups = [
      ...this.others,
      { label: null, colour: OWN, spans: this.spans, stale: (s) => !chosen.has(s.code) },
    ];
    const marks = [];
    groups.forEach((group, g) => {
      for (const span of group.spans) {
        const stale = group.stale?.(span) ?? false;
        for (const cell of cells) {
          if (!span.leads.includes(cell.lead)) continue;
          const a = Math.max(span.start, cell.start, axes.x[0]);
          const b = Math.min(span.end, cell.end, axes.x[1]);
          if (b <= a) continue;
          const [x0, x1] = [px(a), px(b)];
          const [top, bottom] = [py(cell.y[1]), py(cell.y[0])];
          marks.push(this._band(x0, x1, top, bottom, group.colour, stale, g, span.code, group.label));
        }
      }
    });
    const drag = this._drag;
    if (drag) {
      const [a, b] = [Math.min(drag.from, drag.to), Math.max(drag.from, drag.to)];
      marks.push(
        svg("rect", {
          class: "evidence-draft",
          x: px(a),
          width: Math.max(px(b) - px(a), 1),
          y: py(drag.cell.y[1]),
          height: py(drag.cell.y[0]) - py(drag.cell.y[1]),
        }),
      );
    }
    if (marks.length || this.layer.firstChild) this.layer.replaceChildren(...marks);
  }

  _band(x0, x1, top, bottom, colour, stale, g, code, label) {
    const group = svg("g", {
      class: `evidence-band${stale ? " stale" : ""}`,
      style: `--colour: ${colour}`,
      "data-code": code,
      ...(label ? { "data-reader": label } : {}),
    });
    group.append(
      svg("rect", { x: x0, y: top, width: x1 - x0, height: bottom - top }),
      // A strip along the top of the band, stacked per reader where bands overlap.
      svg("rect", { class: "evidence-edge", x: x0, y: top + g * 4, width: x1 - x0, height: 3 }),
    );
    if (x1 - x0 > 14) {
      // At the band's right end: its left end may be the lead's name.
      const text = svg("text", { x: x1 - 3, y: top + 15 + g * 12, class: "evidence-code", "text-anchor": "end" });
      text.textContent = code;
      group.append(text);
    }
    return group;
  }

  /** The panel's list of spans, each with a remove button. */
  _list() {
    if (!this.list) return;
    if (!this.spans.length && this.list.dataset.empty === "true") return; // already says "none"
    this.list.dataset.empty = String(!this.spans.length);
    const chosen = new Set(this.classes().map((c) => c.code));
    this.list.replaceChildren(
      ...(this.spans.length
        ? this.spans.map((span, i) => {
            const stale = !chosen.has(span.code);
            return el(
              "li",
              { class: stale ? "stale" : null },
              el("span", { class: "evidence-text" }, spanText(span)),
              stale ? el("span", { class: "muted" }, ` ${gettext("(class not chosen: not saved)")}`) : null,
              el(
                "button",
                {
                  type: "button",
                  class: "link-button evidence-remove",
                  "aria-label": interpolate(gettext("Remove evidence %(span)s"), { span: spanText(span) }),
                  onclick: () => this.remove(i),
                },
                gettext("Remove"),
              ),
            );
          })
        : [el("li", { class: "muted" }, gettext("None marked. Evidence tool (E): drag across a lead, then pick the class."))]),
    );
  }
}
