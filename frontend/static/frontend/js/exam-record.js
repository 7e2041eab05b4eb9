/**
 * The exam browser's record of an exam (managers): in every campaign, its
 * consensus, each read (with its kind when it is a calibration read or a
 * re-read), the adjudication, the reference and the history of every change.
 * From `/api/exams/{id}/record/`.
 */

import { api, el, enumLabels, gettext, interpolate } from "./dom.js";

const KINDS = { calibration: () => gettext("calibration"), reread: () => gettext("re-read") };

function labels(list) {
  if (list === null || list === undefined) return el("span", { class: "muted" }, "—");
  if (!list.length) return el("span", { class: "muted" }, gettext("no labels"));
  return el("span", {}, list.map((code) => el("span", { class: "code" }, code)));
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

/** Show the record of exam `id` in `box`. */
export async function showRecord(box, id) {
  box.replaceChildren(el("p", { class: "muted" }, gettext("Loading…")));
  const record = await api(`/api/exams/${id}/record/`);
  const states = enumLabels("consensus_states");
  if (!record.campaigns.length) {
    box.replaceChildren(el("p", { class: "muted" }, gettext("In no campaign.")));
    return;
  }
  box.replaceChildren(
    ...record.campaigns.map((entry) =>
      el(
        "section",
        { class: "record" },
        el("h4", {}, entry.name, " · ", states.get(entry.consensus_state) || entry.consensus_state),
        el("p", {}, gettext("Consensus: "), labels(entry.consensus_labels)),
        entry.reference ? el("p", {}, gettext("Reference: "), labels(entry.reference)) : "",
        el(
          "table",
          { class: "data compact" },
          el("caption", { class: "visually-hidden" }, interpolate(gettext("Reads in %(name)s"), { name: entry.name })),
          el(
            "thead",
            {},
            el("tr", {}, [gettext("Reader"), gettext("Labels"), gettext("Version"), gettext("Submitted")].map((h) => el("th", { scope: "col" }, h))),
          ),
          el(
            "tbody",
            {},
            entry.reads.map((read) =>
              el(
                "tr",
                {},
                el("th", { scope: "row" }, read.reader, KINDS[read.kind] ? ` (${KINDS[read.kind]()})` : ""),
                el("td", {}, labels(read.labels)),
                el("td", { class: "num" }, String(read.version)),
                el("td", {}, when(read.submitted_at)),
              ),
            ),
          ),
        ),
        entry.adjudication
          ? el("p", {}, interpolate(gettext("Adjudicated by %(name)s: "), { name: entry.adjudication.adjudicator }), labels(entry.adjudication.labels))
          : "",
        el(
          "details",
          {},
          el("summary", {}, interpolate(gettext("History (%(n)s changes)"), { n: entry.history.length })),
          el(
            "ul",
            { class: "history" },
            entry.history.map((h) =>
              el("li", {}, `${when(h.created_at)} · ${h.actor} · ${h.kind} v${h.version}: `, labels(h.old_labels), " → ", labels(h.new_labels)),
            ),
          ),
        ),
      ),
    ),
  );
}
