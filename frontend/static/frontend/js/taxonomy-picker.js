/**
 * The taxonomy picker of the labeling and adjudication pages: the classes grouped
 * by category under collapsible headings, a search box, shortcut keys, and the
 * chosen classes as removable chips.
 *
 *   const picker = new TaxonomyPicker({list, search, chosen, announce, onEmptyEnter});
 *   picker.setTaxonomy(taxonomy);        // or setClasses(taxonomy.classes, taxonomy.rules)
 *   picker.set(["SR"]); picker.toggle("AF", "key"); picker.codes; // ["AF"]
 *   picker.conflicts();                  // {refused: [message…], warnings: [message…]}
 *   picker.pin(["SR", "AF"]);            // listed first, under `pinnedTitle`
 *   picker.annotate(notes, flagged);     // e.g. "1/2" votes beside a class
 *
 * The search finds codes, names and synonyms in any case and without accents
 * ("fibrilacao" finds "fibrilação"); a row found through a synonym shows it.
 * Enter in the search chooses the best match (or, in an empty search, calls
 * `onEmptyEnter`, e.g. the page's submit); choosing from the search, by Enter or a
 * click, clears it and gives the focus back to the page (`#main`), so the next key
 * is a shortcut again. Esc clears the search and leaves it.
 *
 * conflicts(codes = the chosen ones) applies the taxonomy's exclusion rules (the
 * API's `rules`: `{a, b, severity}` pairs, expanded on the server): `refused`
 * holds a message for every "refuse" pair among the codes (the server would
 * refuse the read), `warnings` one for every "warn" pair (the reader confirms).
 * Messages name both classes, as the API's do. Choosing a class that breaks a rule
 * says so through `announce` and marks the chips; the chosen set stays as the
 * reader made it, and the page decides what to do before it submits.
 *
 * Both pages search and choose by the same rules, exported for that reason:
 * rankClasses / searchClasses (what a query finds, best first), chooseClass (one
 * class of an exclusive group at a time) and findConflicts.
 */

import { el, gettext, interpolate } from "./dom.js";

const human = (name) => name.replaceAll("_", " ");

/** Lower case without accents or other combining marks: "Fibrilação" → "fibrilacao". */
export function fold(text) {
  return String(text).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
}

const foldedFields = new WeakMap(); // class -> its folded fields, made once

function fieldsOf(cls) {
  let fields = foldedFields.get(cls);
  if (!fields) {
    fields = {
      code: fold(cls.code),
      name: fold(cls.name),
      synonyms: [].concat(cls.synonyms ?? []).filter(Boolean).map((text) => ({ text, folded: fold(text) })),
      other: [cls.snomed_ct, cls.group].filter(Boolean).map(fold),
    };
    foldedFields.set(cls, fields);
  }
  return fields;
}

/** Whether `query` begins a word of `text` (at its start or after a space or sign). */
function beginsWord(text, query) {
  for (let at = text.indexOf(query); at !== -1; at = text.indexOf(query, at + 1)) {
    if (at === 0 || !/[\p{L}\p{N}]/u.test(text[at - 1])) return true;
  }
  return false;
}

/** How well one class matches a folded query: `{rank, synonym}` or null. */
function match(cls, q) {
  const f = fieldsOf(cls);
  const synonym = (test) => f.synonyms.find((s) => test(s.folded))?.text;
  let found;
  if (f.code === q) return { rank: 0 };
  if (f.name === q) return { rank: 1 };
  if ((found = synonym((s) => s === q))) return { rank: 1, synonym: found };
  if (f.code.startsWith(q) || f.name.startsWith(q)) return { rank: 2 };
  if ((found = synonym((s) => beginsWord(s, q)))) return { rank: 3, synonym: found };
  if (f.code.includes(q) || f.name.includes(q) || f.other.some((t) => t.includes(q))) return { rank: 4 };
  if ((found = synonym((s) => s.includes(q)))) return { rank: 4, synonym: found };
  return null;
}

/**
 * What `query` finds, best first, as `{cls, synonym}` (`synonym`: the one it was
 * found by, else undefined). The order: the exact code; the whole name or a whole
 * synonym (so "pacemaker" finds Paced rhythm before "Pacemaker dysfunction"); a code
 * or name that starts with the query; a synonym with a word that starts with it;
 * then a code, name, SNOMED CT code, group or synonym that contains it. Case and
 * accents do not count. Ties keep the taxonomy's order; a blank query finds nothing.
 */
export function searchClasses(classes, query) {
  const q = fold(query.trim());
  if (!q) return [];
  const found = [];
  classes.forEach((cls, order) => {
    const hit = match(cls, q);
    if (hit) found.push({ cls, order, ...hit });
  });
  return found
    .sort((a, b) => a.rank - b.rank || a.order - b.order)
    .map(({ cls, synonym }) => ({ cls, synonym }));
}

/** The classes that match `query`, best first (searchClasses without the synonyms). */
export function rankClasses(classes, query) {
  return searchClasses(classes, query).map((hit) => hit.cls);
}

/**
 * The exclusion `rules` (`[{a, b, severity}]`) that the codes in `chosen` break:
 * `{refused: [message…], warnings: [message…]}`, in the rules' order. `byCode`
 * maps a code to its class, for the names.
 */
export function findConflicts(rules, byCode, chosen) {
  const codes = new Set(chosen);
  const refused = [];
  const warnings = [];
  for (const rule of rules) {
    if (!codes.has(rule.a) || !codes.has(rule.b)) continue;
    const names = {
      a: rule.a,
      b: rule.b,
      a_name: byCode.get(rule.a)?.name ?? rule.a,
      b_name: byCode.get(rule.b)?.name ?? rule.b,
    };
    if (rule.severity === "warn") {
      warnings.push(interpolate("%(a_name)s (%(a)s) usually excludes %(b_name)s (%(b)s); check that both apply.", names));
    } else {
      refused.push(interpolate("%(a_name)s (%(a)s) excludes %(b_name)s (%(b)s); remove one.", names));
    }
  }
  return { refused, warnings };
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
  if (cls.snomed_ct) bits.push(interpolate("SNOMED CT %(code)s", { code: cls.snomed_ct }));
  if (cls.exclusive_group) bits.push(interpolate("one of: %(group)s", { group: human(cls.exclusive_group) }));
  return bits.join(" · ");
}

export class TaxonomyPicker {
  /**
   * @param {{list: HTMLElement, search: HTMLInputElement, chosen: HTMLUListElement,
   *   idPrefix?: string, emptyText?: string, pinnedId?: string, pinnedTitle?: string,
   *   announce?: (message: string) => void, onEmptyEnter?: () => void}} parts
   * `list` receives the groups, `chosen` the chips; checkboxes get the ids
   * `${idPrefix}-CODE`. With `pinnedTitle` a group with the id `${pinnedId}-group`
   * (list `${pinnedId}-list`) comes first and shows the codes given to pin().
   * `onEmptyEnter` is called for Enter in the empty search box. With
   * `exclusive: false` choosing a class never replaces another of its group.
   */
  constructor({
    list,
    search,
    chosen,
    idPrefix = "class",
    emptyText = gettext("No class chosen yet."),
    pinnedId = "pinned",
    pinnedTitle = null,
    announce = () => {},
    onEmptyEnter = () => {},
    exclusive = true,
  }) {
    Object.assign(this, { list, search, chips: chosen, idPrefix, emptyText, pinnedId, pinnedTitle, announce, onEmptyEnter, exclusive });
    this.classes = [];
    this.rules = [];
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
      if (!event.target.matches("input[type=checkbox]")) return;
      this.choose(event.target.value, event.target.checked);
      // Chosen from the search's results: the search has done its work.
      if (this.search.value.trim()) this._leaveSearch();
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

  /** Build the picker for a taxonomy (the API's: its `classes` and `rules`). */
  setTaxonomy(taxonomy) {
    this.setClasses(taxonomy.classes, taxonomy.rules ?? []);
  }

  /** Build the picker for a taxonomy's classes (in the taxonomy's order) and rules. */
  setClasses(classes, rules = []) {
    this.classes = classes;
    this.rules = rules;
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

  /**
   * The exclusion rules the codes break (by default the chosen ones):
   * `{refused: [message…], warnings: [message…]}`.
   */
  conflicts(codes = this.chosen) {
    return findConflicts(this.rules, this.byCode, codes);
  }

  /** Choose or drop a class. `how` ("click", "key", "chip") decides what is said. */
  choose(code, on, how = "click") {
    const cls = this.byCode.get(code);
    if (!cls) return;
    // A read has one class of an exclusive group; a set of classes to pick
    // (`exclusive: false`, e.g. the classes a campaign adjudicates) need not.
    let replaced = [];
    if (this.exclusive) replaced = chooseClass(this.chosen, this.byCode, code, on);
    else if (on) this.chosen.add(code);
    else this.chosen.delete(code);
    this._sync();
    for (const other of replaced) this._flash(other);
    if (how === "key") this._flash(code, true);
    // A click shows its own result where it was made; anything else is said, and
    // so is a rule the new class breaks.
    const said = [];
    const names = { name: cls.name, code };
    if (replaced.length) {
      said.push(
        interpolate("%(name)s (%(code)s) chosen; it replaces %(replaced)s: only one %(group)s applies.", {
          ...names,
          replaced: replaced.join(", "),
          group: human(cls.exclusive_group),
        }),
      );
    } else if (how !== "click") {
      said.push(interpolate(on ? "%(name)s (%(code)s) chosen." : "%(name)s (%(code)s) removed.", names));
    }
    if (on) {
      const others = [...this.chosen].filter((other) => other !== code);
      const broken = findConflicts(
        this.rules.filter((rule) => rule.a === code || rule.b === code),
        this.byCode,
        [code, ...others],
      );
      said.push(...broken.refused, ...broken.warnings);
    }
    if (said.length) this.announce(said.join(" "));
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
        interpolate("Only one of %(group)s: choosing it removes %(others)s.", {
          group: human(cls.exclusive_group),
          others: others.join(", "),
        }),
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
        el("span", { class: "synonym muted" }),
        el("span", { class: "note" }),
        cls.shortcut
          ? el("kbd", { class: "shortcut", title: interpolate("Shortcut: %(key)s", { key: cls.shortcut }) }, cls.shortcut)
          : null,
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
    // Chips of a pair the rules refuse ("conflict") or warn about ("caution") are
    // marked, and their title says why.
    const marks = new Map(); // code -> {mark, messages}
    for (const rule of this.rules) {
      if (!this.chosen.has(rule.a) || !this.chosen.has(rule.b)) continue;
      const { refused, warnings } = findConflicts([rule], this.byCode, this.chosen);
      for (const code of [rule.a, rule.b]) {
        const seen = marks.get(code) ?? { mark: "caution", messages: [] };
        if (refused.length) seen.mark = "conflict";
        seen.messages.push(...refused, ...warnings);
        marks.set(code, seen);
      }
    }
    const chip = (code) => {
      const marked = marks.get(code);
      return el(
        "li",
        { class: marked ? `chip ${marked.mark}` : "chip", title: marked ? marked.messages.join(" ") : this.name(code) },
        el("span", { class: "code" }, code),
        el("span", { class: "cls-name" }, this.name(code)),
        el(
          "button",
          {
            type: "button",
            class: "chip-remove",
            "data-code": code,
            "aria-label": interpolate("Remove %(name)s (%(code)s)", { name: this.name(code), code }),
          },
          "×",
        ),
      );
    };
    this.chips.replaceChildren(
      ...(codes.length ? codes.map(chip) : [el("li", { class: "chips-empty muted" }, this.emptyText)]),
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
    const hits = searchClasses(this.classes, query);
    const matches = hits.map((hit) => hit.cls);
    const found = new Map(hits.map((hit) => [hit.cls.code, hit.synonym]));
    for (const section of this.list.querySelectorAll("section.group")) {
      const pinned = section.classList.contains("pinned");
      let shown = 0;
      for (const item of section.querySelectorAll("li.class")) {
        const code = item.dataset.code;
        item.hidden = Boolean(query) && !found.has(code);
        item.classList.toggle("best", !pinned && Boolean(query) && code === matches[0]?.code);
        const synonym = item.querySelector(".synonym");
        if (synonym) synonym.textContent = (query && found.get(code)) || "";
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
      this.noMatch.textContent = this.noMatch.hidden ? "" : interpolate("No class matches “%(query)s”.", { query });
    }
    return matches;
  }

  _onInput() {
    const n = this._filter().length;
    if (!this.search.value.trim()) return;
    this.announce(n === 1 ? gettext("1 class matches.") : interpolate("%(n)s classes match.", { n }));
  }

  _onSearchKey(event) {
    const search = this.search;
    if (event.key === "Enter" && !(event.ctrlKey || event.metaKey || event.altKey)) {
      event.preventDefault();
      if (!search.value.trim()) {
        this.onEmptyEnter();
        return;
      }
      const [best] = rankClasses(this.classes, search.value);
      if (best) {
        this.toggle(best.code, "key");
        this._leaveSearch();
      }
    } else if (event.key === "Escape") {
      event.preventDefault();
      this._leaveSearch();
    } else if (event.key === "ArrowDown") {
      const first = [...this.list.querySelectorAll("li.class input")].find((input) => input.checkVisibility());
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  }

  /** Clear the search and give the focus back to the page, where keys are shortcuts. */
  _leaveSearch() {
    this.clearSearch();
    const main = document.getElementById("main");
    if (main) main.focus({ preventScroll: true });
    if (this.list.contains(document.activeElement) || document.activeElement === this.search) {
      document.activeElement.blur();
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
