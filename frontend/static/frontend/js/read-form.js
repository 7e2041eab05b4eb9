/**
 * The labeling page's panel as a form: what one read holds (classes from the
 * picker, signal-quality flags, the comment), set, cleared and kept as a draft.
 *
 *   const panel = new ReadForm({ form, picker, comment, qualityChips, draftOf, parts });
 *   panel.read              // {labels, quality, comment} as the API takes them
 *   panel.reset(); panel.restore(read);
 *   panel.toggleQuality("noise")   // a flag's shortcut; returns its label and state
 *   panel.keep(); panel.flush()    // save the draft of draftOf() (soon / now)
 *   panel.ruleRefusal(codes)       // null, or why the classes may not be sent
 *   foldablePanel(root, toggle)    // the panel folds away (remembered)
 *
 * `draftOf()` names the assignment whose draft the form holds, or null when the
 * form shows something else (a reopened read), which is never drafted.
 */

import { el, gettext, interpolate, isTextField } from "./dom.js";
import { saveDraft } from "./read-drafts.js";

const DRAFT_DELAY_MS = 150;
const COMMENT_MAX_PX = 320;

export class ReadForm {
  constructor({ form, picker, comment, qualityChips, draftOf, parts = {} }) {
    this.form = form;
    this.parts = parts; // more of a read, by field: {read(), set(value), clear()}
    this.picker = picker;
    this.comment = comment;
    this.qualityChips = qualityChips;
    this.draftOf = draftOf;
    this.timer = null;
    this.fittedText = null; // the comment text its height was fitted to
    for (const type of ["input", "change", "click"]) form.addEventListener(type, () => this.keep());
    form.addEventListener("change", () => this.changed());
    comment.addEventListener("input", () => this.changed());
    window.addEventListener("pagehide", () => this.flush());
  }

  get qualityInputs() {
    return [...this.form.querySelectorAll("input[name=quality]")];
  }

  get read() {
    return {
      labels: this.picker.codes,
      quality: this.qualityInputs.filter((i) => i.checked).map((i) => i.value),
      comment: this.comment.value.trim(),
      ...Object.fromEntries(Object.entries(this.parts).map(([name, part]) => [name, part.read()])),
    };
  }

  reset() {
    // A new exam starts with the shortcut keys live, not inside the comment.
    if (isTextField(document.activeElement)) document.getElementById("main")?.focus();
    this.picker.set([]);
    this.picker.clearSearch();
    for (const input of this.qualityInputs) input.checked = false;
    this.comment.value = "";
    for (const part of Object.values(this.parts)) part.clear();
    this.changed();
  }

  restore(read) {
    this.reset();
    this.picker.set(read.labels ?? []);
    const quality = read.quality ?? [];
    for (const input of this.qualityInputs) input.checked = quality.includes(input.value);
    this.comment.value = read.comment ?? "";
    for (const [name, part] of Object.entries(this.parts)) if (read[name] !== undefined) part.set(read[name]);
    this.changed();
  }

  /** Flip one quality flag (its shortcut); null when the form has no such flag. */
  toggleQuality(value) {
    const input = this.qualityInputs.find((i) => i.value === value);
    if (!input) return null;
    input.checked = !input.checked;
    this.changed();
    this.keep();
    return { label: labelOf(input), checked: input.checked };
  }

  /** What follows a change: the flags as chips beside the classes, the comment's height. */
  changed() {
    const flags = this.qualityInputs.filter((i) => i.checked);
    this.qualityChips.replaceChildren(
      ...flags.map((input) => {
        const label = labelOf(input);
        const remove = () => {
          input.checked = false;
          this.changed();
          this.keep();
        };
        return el(
          "li",
          { class: "chip chip-quality" },
          el("span", {}, label),
          el("button", { type: "button", class: "chip-remove", "aria-label": interpolate(gettext("Remove %(flag)s"), { flag: label }), onclick: remove }, "×"),
        );
      }),
    );
    this._fitComment();
  }

  /** The comment grows with its text (up to a limit, then it scrolls). Measured
   * only when its text changed: reading its height lays the page out, which
   * would slow every next exam. */
  _fitComment() {
    const text = this.comment.value;
    if (text === this.fittedText) return;
    this.fittedText = text;
    this.comment.style.height = "";
    if (text) this.comment.style.height = `${Math.min(this.comment.scrollHeight + 2, COMMENT_MAX_PX)}px`;
  }

  /** Save the draft shortly (typing is not slowed), if the form still holds the same read. */
  keep() {
    const assignment = this.draftOf();
    if (assignment === null) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (this.draftOf() === assignment) saveDraft(assignment, this.read);
    }, DRAFT_DELAY_MS);
  }

  flush() {
    clearTimeout(this.timer);
    const assignment = this.draftOf();
    if (assignment !== null) saveDraft(assignment, this.read);
  }

  /** The taxonomy's rules on `codes`: null when they may be sent, else what to
   * say. A hard rule refuses (as the API would); a warning asks the reader. */
  ruleRefusal(codes) {
    const { refused, warnings } = this.picker.conflicts(codes);
    if (refused.length) return refused.join(" ");
    const ask = `${warnings.join("\n")}\n\n${gettext("Submit these classes together anyway?")}`;
    if (warnings.length && !window.confirm(ask)) return gettext("Not submitted: change the classes, or submit again and confirm.");
    return null;
  }

  /** Drop a pending save (the read was just submitted). */
  cancel() {
    clearTimeout(this.timer);
  }
}

function labelOf(input) {
  return input.closest("label")?.textContent.trim() ?? input.value;
}

const PANEL_KEY = "ecg-annotator.panel-collapsed";

/** The label panel folds away to give the ECG the width (remembered on this browser). */
export function foldablePanel(root, toggle) {
  const fold = (collapsed) => {
    root.classList.toggle("panel-collapsed", collapsed);
    toggle.setAttribute("aria-expanded", String(!collapsed));
    toggle.textContent = collapsed ? `‹ ${gettext("Labels")}` : `${gettext("Hide")} ›`;
    try {
      localStorage.setItem(PANEL_KEY, collapsed ? "1" : "");
    } catch {
      // storage refused (private mode): the choice lasts for this page
    }
  };
  toggle.addEventListener("click", () => fold(!root.classList.contains("panel-collapsed")));
  try {
    if (localStorage.getItem(PANEL_KEY)) fold(true);
  } catch {
    // no storage: the panel starts open
  }
}
