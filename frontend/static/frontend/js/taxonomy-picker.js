/**
 * The taxonomy picker of the labeling and adjudication pages: the classes grouped
 * by category under collapsible headings, a search box, shortcut keys, and the
 * chosen classes as removable chips.
 *
 *   const picker = new TaxonomyPicker({list, search, chosen, announce});
 *   picker.setClasses(taxonomy.classes);
 *   picker.set(["SR"]); picker.toggle("AF", "key"); picker.codes; // ["AF"]
 *   picker.pin(["SR", "AF"]);            // listed first, under `pinnedTitle`
 *   picker.annotate(notes, flagged);     // e.g. "1/2" votes beside a class
 *
 * Both pages search and choose by the same two rules, exported for that reason:
 * rankClasses (what a query finds, best first) and chooseClass (one class of an
 * exclusive group at a time).
 */

import { el } from "./dom.js";

const human = (name) => name.replaceAll("_", " ");

function searchText(cls) {
  // One field a line, so that a query never matches across two of them.
  return [cls.code, cls.name, cls.snomed_ct, cls.group, ...[].concat(cls.synonyms ?? [])]
    .filter(Boolean)
    .join("\n")
    .toLowerCase();
}

/**
 * The classes that match `query`, best first: the exact code, then a code or name
 * that starts with it, then one whose code, name, SNOMED CT code, group or synonym
 * contains it. Ties keep the taxonomy's order; a blank query matches nothing.
 */
export function rankClasses(classes, query) {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  const found = [];
  classes.forEach((cls, order) => {
    const code = cls.code.toLowerCase();
    let rank = null;
    if (code === q) rank = 0;
    else if (code.startsWith(q) || cls.name.toLowerCase().startsWith(q)) rank = 1;
    else if (searchText(cls).includes(q)) rank = 2;
    if (rank !== null) found.push({ cls, rank, order });
  });
  return found.sort((a, b) => a.rank - b.rank || a.order - b.order).map((match) => match.cls);
}

/**
 * Choose (`on`) or drop `code` in the Set `chosen`, in place. Choosing a class of
 * an exclusive group (one dominant rhythm, say) drops the other classes of that
 * group; the codes dropped that way are returned.
 */
export function chooseClass(chosen, byCode, code, on) {
  if (!on) {
    chosen.delete(code);
    return [];
  }
  const group = byCode.get(code)?.exclusive_group;
  const replaced = [];
  if (group) {
    for (const other of chosen) {
      if (other !== code && byCode.get(other)?.exclusive_group === group) {
        chosen.delete(other);
        replaced.push(other);
      }
    }
  }
  chosen.add(code);
  return replaced;
}

function titleFor(cls) {
  const bits = [cls.definition || cls.name];
  if (cls.snomed_ct) bits.push(`SNOMED CT ${cls.snomed_ct}`);
  if (cls.exclusive_group) bits.push(`one of: ${human(cls.exclusive_group)}`);
  return bits.join(" · ");
}

export class TaxonomyPicker {
  /**
   * @param {{list: HTMLElement, search: HTMLInputElement, chosen: HTMLUListElement,
   *   idPrefix?: string, emptyText?: string, pinnedId?: string, pinnedTitle?: string,
   *   announce?: (message: string) => void}} parts
   * `list` receives the groups, `chosen` the chips; checkboxes get the ids
   * `${idPrefix}-CODE`. With `pinnedTitle` a group with the id `${pinnedId}-group`
   * (list `${pinnedId}-list`) comes first and shows the codes given to pin().
   */
  constructor({
    list,
    search,
    chosen,
    idPrefix = "class",
    emptyText = "No class chosen yet.",
    pinnedId = "pinned",
    pinnedTitle = null,
    announce = () => {},
  }) {
    Object.assign(this, { list, search, chips: chosen, idPrefix, emptyText, pinnedId, pinnedTitle, announce });
    this.classes = [];
    this.byCode = new Map();
    this.order = new Map();
    this.shortcuts = new Map(); // key (lower case) -> code
    this.chosen = new Set();
    this.pinned = [];
    list.classList.add("picker");
    chosen.classList.add("chips");
    search.addEventListener("input", () => this._onInput());
    search.addEventListener("keydown", (event) => this._onSearchKey(event));
    list.addEventListener("change", (event) => {
      if (event.target.matches("input[type=checkbox]")) this.choose(event.target.value, event.target.checked);
    });
    list.addEventListener("click", (event) => {
      const toggle = event.target.closest(".group-toggle");
      if (toggle) this._expand(toggle, toggle.getAttribute("aria-expanded") !== "true");
    });
    chosen.addEventListener("click", (event) => {
      const button = event.target.closest(".chip-remove");
      if (!button) return;
      // Focus stays in the chips (the one that took this place), else goes to the search.
      const at = [...this.chips.querySelectorAll(".chip-remove")].indexOf(button);
      this.choose(button.dataset.code, false, "chip");
      const left = this.chips.querySelectorAll(".chip-remove");
      (left[Math.min(at, left.length - 1)] ?? this.search).focus();
    });
  }

  // --- Public API --------------------------------------------------------------

  /** Build the picker for a taxonomy's classes (in the taxonomy's order). */
  setClasses(classes) {
    this.classes = classes;
    const groups = new Map();
    classes.forEach((cls, i) => {
      this.byCode.set(cls.code, cls);
      this.order.set(cls.code, i);
      if (cls.shortcut) this.shortcuts.set(cls.shortcut, cls.code);
      if (!groups.has(cls.group)) groups.set(cls.group, []);
      groups.get(cls.group).push(cls);
    });
    const sections = [...groups].map(([group, members], n) =>
      this._section(group, members, { listId: `${this.idPrefix}-group-${n + 1}` }),
    );
    if (this.pinnedTitle) {
      const pinned = this._section(this.pinnedTitle, [], { listId: `${this.pinnedId}-list`, pinned: true });
      pinned.id = `${this.pinnedId}-group`;
      sections.unshift(pinned);
    }
    this.noMatch = el("p", { class: "no-match muted", hidden: true });
    this.list.replaceChildren(...sections, this.noMatch);
    this.list.setAttribute("aria-busy", "false");
    this._filter();
    this._sync();
  }

  /** The chosen codes, in taxonomy order. */
  get codes() {
    return this.inOrder(this.chosen);
  }

  has(code) {
    return this.chosen.has(code);
  }

  name(code) {
    return this.byCode.get(code)?.name ?? code;
  }

  inOrder(codes) {
    const at = (code) => this.order.get(code) ?? Infinity;
    return [...codes].sort((a, b) => at(a) - at(b));
  }

  /** Replace the chosen classes (codes the taxonomy lacks are left out). */
  set(codes) {
    this.chosen = new Set([...codes].filter((code) => this.byCode.has(code)));
    this._sync();
  }

  /** Choose or drop a class. `how` ("click", "key", "chip") decides what is said. */
  choose(code, on, how = "click") {
    const cls = this.byCode.get(code);
    if (!cls) return;
    const replaced = chooseClass(this.chosen, this.byCode, code, on);
    this._sync();
    for (const other of replaced) this._flash(other);
    if (how === "key") this._flash(code, true);
    // A click shows its own result where it was made; anything else is said.
    if (replaced.length) {
      this.announce(
        `${cls.name} (${code}) chosen; it replaces ${replaced.join(", ")}: only one ${human(cls.exclusive_group)} applies.`,
      );
    } else if (how !== "click") {
      this.announce(`${cls.name} (${code}) ${on ? "chosen" : "removed"}.`);
    }
  }

  toggle(code, how = "key") {
    this.choose(code, !this.chosen.has(code), how);
  }

  /** A page's key press: toggles the class with that shortcut; true if it did. */
  shortcut(key) {
    // Exactly as typed: capitals (Shift) are the ECG viewer's keys.
    const code = key.length === 1 ? this.shortcuts.get(key) : undefined;
    if (!code) return false;
    this.toggle(code, "key");
    return true;
  }

  focusSearch() {
    this.search.focus();
    this.search.select();
  }

  clearSearch() {
    this.search.value = "";
    this._filter();
  }

  /** List these codes first, in the pinned group (hidden while empty or searching). */
  pin(codes) {
    const list = document.getElementById(`${this.pinnedId}-list`);
    if (!list) return;
    this.pinned = this.inOrder(codes).filter((code) => this.byCode.has(code));
    list.replaceChildren(...this.pinned.map((code) => this._item(this.byCode.get(code), true)));
    this._filter();
    this._sync();
  }

  /** Notes beside classes (`Map code -> {text, title}`) and the codes to flag. */
  annotate(notes, flagged = new Set()) {
    for (const item of this.list.querySelectorAll("li.class")) {
      const note = notes.get(item.dataset.code);
      const span = item.querySelector(".note");
      span.textContent = note?.text ?? "";
      span.title = note?.title ?? "";
      item.classList.toggle("flagged", flagged.has(item.dataset.code));
    }
  }

  // --- Building ------------------------------------------------------------------

  _section(title, members, { listId, pinned = false }) {
    const toggle = el(
      "button",
      { type: "button", class: "group-toggle", "aria-expanded": "true", "aria-controls": listId },
      el("span", { class: "group-name" }, title),
      el("span", { class: "group-count num", "aria-hidden": "true" }),
    );
    const list = el(
      "ul",
      { id: listId, class: "classes", "aria-label": title },
      members.map((cls) => this._item(cls, pinned)),
    );
    return el("section", { class: pinned ? "group pinned" : "group", "data-group": title }, el("h3", {}, toggle), list);
  }

  _item(cls, pinned = false) {
    // The pinned copy of a class is a second checkbox for the same code.
    const id = `${this.idPrefix}-${pinned ? "pinned-" : ""}${cls.code}`;
    let exclusive = null;
    if (cls.exclusive_group) {
      const others = this.classes
        .filter((c) => c.exclusive_group === cls.exclusive_group && c.code !== cls.code)
        .map((c) => c.code);
      exclusive = el(
        "span",
        { class: "visually-hidden", id: `${id}-excl` },
        `Only one of ${human(cls.exclusive_group)}: choosing it removes ${others.join(", ")}.`,
      );
    }
    const input = el("input", {
      type: "checkbox",
      id,
      value: cls.code,
      name: "labels",
      class: exclusive ? "exclusive" : null,
      "aria-describedby": exclusive ? exclusive.id : null,
      "aria-keyshortcuts": cls.shortcut || null,
    });
    return el(
      "li",
      { class: cls.parent ? "class child" : "class", "data-code": cls.code },
      el(
        "label",
        { for: id, title: titleFor(cls) },
        input,
        el("span", { class: "code" }, cls.code),
        el("span", { class: "name" }, cls.name),
        el("span", { class: "note" }),
        cls.shortcut ? el("kbd", { class: "shortcut", title: `Shortcut: ${cls.shortcut}` }, cls.shortcut) : null,
        exclusive,
      ),
    );
  }

  // --- State -----------------------------------------------------------------------

  _sync() {
    for (const input of this.list.querySelectorAll("input[type=checkbox]")) {
      input.checked = this.chosen.has(input.value);
    }
    const codes = this.codes;
    this.chips.replaceChildren(
      ...(codes.length
        ? codes.map((code) =>
            el(
              "li",
              { class: "chip", title: this.name(code) },
              el("span", { class: "code" }, code),
              el("span", { class: "cls-name" }, this.name(code)),
              el(
                "button",
                { type: "button", class: "chip-remove", "data-code": code, "aria-label": `Remove ${this.name(code)} (${code})` },
                "×",
              ),
            ),
          )
        : [el("li", { class: "chips-empty muted" }, this.emptyText)]),
    );
    for (const section of this.list.querySelectorAll("section.group")) {
      const count = section.querySelectorAll("input:checked").length;
      section.querySelector(".group-count").textContent = count ? String(count) : "";
    }
  }

  _expand(toggle, open) {
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById(toggle.getAttribute("aria-controls")).hidden = !open;
  }

  /** Show the classes the search finds; returns them, best first. */
  _filter() {
    const query = this.search.value.trim();
    const matches = rankClasses(this.classes, query);
    const found = new Set(matches.map((cls) => cls.code));
    for (const section of this.list.querySelectorAll("section.group")) {
      const pinned = section.classList.contains("pinned");
      let shown = 0;
      for (const item of section.querySelectorAll("li.class")) {
        item.hidden = Boolean(query) && !found.has(item.dataset.code);
        item.classList.toggle("best", !pinned && Boolean(query) && item.dataset.code === matches[0]?.code);
        if (!item.hidden) shown++;
      }
      // While searching each class is listed once, under its own group, and every
      // group with a match is open; the toggles come back after.
      section.hidden = pinned ? Boolean(query) || this.pinned.length === 0 : shown === 0;
      const toggle = section.querySelector(".group-toggle");
      section.querySelector("ul").hidden = query ? false : toggle.getAttribute("aria-expanded") !== "true";
    }
    if (this.noMatch) {
      this.noMatch.hidden = !query || matches.length > 0;
      this.noMatch.textContent = this.noMatch.hidden ? "" : `No class matches “${query}”.`;
    }
    return matches;
  }

  _onInput() {
    const n = this._filter().length;
    if (this.search.value.trim()) this.announce(`${n} ${n === 1 ? "class matches" : "classes match"}.`);
  }

  _onSearchKey(event) {
    const search = this.search;
    if (event.key === "Enter" && !(event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      const [best] = rankClasses(this.classes, search.value);
      if (best) {
        this.toggle(best.code, "key");
        this.clearSearch();
      }
    } else if (event.key === "Escape") {
      event.preventDefault();
      if (search.value) this.clearSearch();
      else search.blur();
    } else if (event.key === "ArrowDown") {
      const first = [...this.list.querySelectorAll("li.class input")].find((input) => input.checkVisibility());
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  /** Draw the eye to a class that changed (and, from the keyboard, bring it into view). */
  _flash(code, reveal = false) {
    const item = document.getElementById(`${this.idPrefix}-${code}`)?.closest("li");
    if (!item) return;
    if (reveal) {
      const list = item.closest("ul");
      if (list.hidden) this._expand(list.closest("section").querySelector(".group-toggle"), true);
      item.scrollIntoView({ block: "nearest" });
    }
    item.classList.remove("flash");
    void item.offsetWidth; // restart the animation
    item.classList.add("flash");
  }
}
