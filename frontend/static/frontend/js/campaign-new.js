/**
 * The new-campaign page: shows the fields of the chosen way of picking exams and
 * of the chosen adjudication policy, and replaces the list of classes to
 * adjudicate by the shared taxonomy picker (search, groups, chips), kept in step
 * with the form's own select so the form posts as it would without a script.
 */

import { api, gettext } from "./dom.js";
import { TaxonomyPicker } from "./taxonomy-picker.js";

const $ = (id) => document.getElementById(id);
const form = document.querySelector(".study-form");

function checked(name) {
  return form.querySelector(`input[name="${name}"]:checked`)?.value;
}

/** Show only the parts that belong to the chosen source and policy. */
function showParts() {
  const source = checked("source");
  for (const part of form.querySelectorAll("[data-source]")) part.hidden = part.dataset.source !== source;
  $("field-datasets").hidden = source === "ids";
  const policy = checked("adjudication_policy");
  for (const part of form.querySelectorAll("[data-policy]")) part.hidden = part.dataset.policy !== policy;
}

form.addEventListener("change", (event) => {
  if (event.target.name === "source" || event.target.name === "adjudication_policy") showParts();
});
showParts();

// --- The classes to adjudicate, through the taxonomy picker --------------------------

const select = form.querySelector('select[name="adjudication_codes"]');
const picker = new TaxonomyPicker({
  list: $("code-list"),
  search: $("code-search"),
  chosen: $("code-chosen"),
  idPrefix: "adjudicate",
  emptyText: gettext("No class chosen: choose the classes whose disagreements go to an adjudicator."),
  exclusive: false,
});

function toSelect() {
  const codes = new Set(picker.codes);
  for (const option of select.options) option.selected = codes.has(option.value);
}
// After the picker's own handlers (registered first) have updated its choice.
$("code-list").addEventListener("change", toSelect);
$("code-chosen").addEventListener("click", toSelect);
$("code-search").addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault(); // Enter chooses a class here; it does not submit the form
    queueMicrotask(toSelect);
  }
});

async function loadTaxonomy() {
  const id = form.querySelector('select[name="taxonomy"]').value;
  if (!id) return;
  const taxonomy = await api(`/api/taxonomies/${id}/`);
  const wanted = new Set([...select.selectedOptions].map((option) => option.value));
  // The select posts the codes: it holds this version's classes.
  select.replaceChildren(
    ...taxonomy.classes.map((cls) => new Option(`${cls.code} · ${cls.name}`, cls.code, false, wanted.has(cls.code))),
  );
  picker.setClasses(taxonomy.classes, []); // choosing classes to adjudicate breaks no rule
  picker.set([...wanted]);
  $("field-adjudication_codes").hidden = true;
  $("code-picker").hidden = false;
}

form.querySelector('select[name="taxonomy"]').addEventListener("change", () => {
  for (const option of select.options) option.selected = false;
  loadTaxonomy().catch(() => {
    $("field-adjudication_codes").hidden = false;
    $("code-picker").hidden = true;
  });
});
loadTaxonomy().catch(() => {});
