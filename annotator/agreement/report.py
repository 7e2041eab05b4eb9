"""The agreement report (DESIGN section 6) from merged counts, as a JSON-ready dict.

Part of :mod:`annotator.agreement`: levels (class, micro, macro), bootstrap
intervals and the ``undefined`` reasons, assembled into :func:`report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotator.agreement.counts import Counts
from annotator.agreement.formulas import (
    CLASS_STATISTICS,
    READER_STATISTICS,
    REASONS,
    _reader_stats,
    from_counts,
    macro_mean,
)
from annotator.agreement.groups import GROUP_STATISTICS, group_stats
from annotator.agreement.reference import REFERENCE_STATISTICS, mcnemar, scores

__all__ = ["REFERENCE_SOURCES", "report"]

REFERENCE_SOURCES = ("imported", "consensus")


@dataclass
class _Stat:
    """One statistic at one level (class, micro or macro) with its interval.

    Arrays end with the class axis (length 1 for micro and macro); a leading pair
    or reader axis comes first where the statistic has one.
    """

    value: NDArray
    reason: NDArray
    n_replicates: int
    low: NDArray | None = None
    high: NDArray | None = None
    n_defined: NDArray | None = None  # replicates where defined
    n_classes: NDArray | None = None  # macro: classes averaged

    def put(self, index: tuple, key: str, out: dict, undefined: dict, ci: dict) -> None:
        """Write value, reason and interval at ``index`` under ``key``."""
        value, reason = float(self.value[index]), int(self.reason[index])
        out[key] = None if reason else value
        if reason:
            undefined[key] = (
                REASONS[reason] if reason < len(REASONS) else ("zero denominator")
            )
        if not self.n_replicates:
            return
        n_defined, b = int(self.n_defined[index]), self.n_replicates
        if reason or 2 * n_defined < b:
            ci[key] = None
            if not reason:
                undefined.setdefault("ci95", {})[key] = (
                    "undefined in more than half of the bootstrap replicates "
                    f"({b - n_defined} of {b})"
                )
        else:
            ci[key] = [float(self.low[index]), float(self.high[index])]


def _stat(point: tuple, boot: NDArray | None, n_replicates: int) -> _Stat:
    stat = _Stat(point[0], point[1], n_replicates)
    if boot is not None:
        stat.n_defined = (~np.isnan(boot)).sum(axis=0)
        # All-NaN columns get zeros (their interval is discarded anyway) so that
        # nanpercentile has nothing to warn about.
        safe = np.where(stat.n_defined > 0, boot, 0.0)
        if safe.size:
            stat.low, stat.high = np.nanpercentile(safe, [2.5, 97.5], axis=0)
        else:  # no reader pairs
            stat.low = stat.high = np.zeros(safe.shape[1:])
    return stat


def _levels(counts: Counts) -> dict[str, dict[str, _Stat]]:
    """Every statistic at the levels 'class', 'micro' and 'macro'."""
    k, b = counts.n_classes, counts.n_bootstrap
    point = from_counts(counts.point, k, counts.has_consensus)
    boot = None
    if counts.boot is not None:
        boot = from_counts(counts.boot, k, counts.has_consensus)
    levels: dict[str, dict[str, _Stat]] = {"class": {}, "micro": {}, "macro": {}}
    for name, (per_class, micro) in point.items():
        boot_class = boot_micro = boot_macro = None
        if boot is not None:
            (boot_class, _), (boot_micro, _) = boot[name]
            boot_macro = macro_mean(boot_class)[0]
        levels["class"][name] = _stat(per_class, boot_class, b)
        levels["micro"][name] = _stat(micro, boot_micro, b)
        mean, reason, n = macro_mean(per_class[0])
        levels["macro"][name] = _stat((mean, reason), boot_macro, b)
        levels["macro"][name].n_classes = n
    return levels


def _section(
    stats: dict[str, _Stat],
    index: tuple[int, ...],
    names: Sequence[str],
    bootstrap: bool,
    pairs: Sequence[tuple[int, str]] | None = None,
) -> dict[str, Any]:
    """One report dict: statistics, Cohen's kappa by pair, ``ci95``, ``undefined``.

    ``index`` selects the exam-class slot (a reader index first for reader
    statistics); pairs are (pair index, "a|b"), None for no ``cohen_kappa`` key.
    """
    out: dict[str, Any] = {}
    undefined: dict[str, Any] = {}
    ci: dict[str, Any] = {}
    for name in names:
        stats[name].put(index, name, out, undefined, ci)
    if pairs is not None:
        by_pair, ci_pairs, undefined_pairs = {}, {}, {}
        for p, key in pairs:
            stats["cohen_kappa"].put(
                (p, *index), key, by_pair, undefined_pairs, ci_pairs
            )
        out["cohen_kappa"] = by_pair
        if bootstrap:
            ci["cohen_kappa"] = ci_pairs
        if "ci95" in undefined_pairs:
            undefined.setdefault("ci95", {})["cohen_kappa"] = undefined_pairs.pop(
                "ci95"
            )
        if undefined_pairs:
            undefined["cohen_kappa"] = undefined_pairs
    out["ci95"] = ci
    out["undefined"] = undefined
    return out


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


def _table_levels(
    counts: Counts,
    fields: Sequence[str],
    statistics: Any,
    names: Sequence[str],
) -> dict[str, dict[str, _Stat]]:
    """Per-reader statistics from 2x2 count fields at the levels 'class' (J, K),
    'micro' and 'macro' (J, 1). ``statistics`` maps the fields (point, or boot
    with the replicate axis first) to name -> (values, reasons)."""
    b = counts.n_bootstrap

    def summed(source: dict) -> dict:
        return {name: source[name].sum(axis=-1, keepdims=True) for name in fields}

    point, micro = statistics(counts.point), statistics(summed(counts.point))
    boot = boot_micro = None
    if counts.boot is not None:
        boot, boot_micro = statistics(counts.boot), statistics(summed(counts.boot))
    levels: dict[str, dict[str, _Stat]] = {"class": {}, "micro": {}, "macro": {}}
    for name in names:
        levels["class"][name] = _stat(point[name], boot and boot[name][0], b)
        levels["micro"][name] = _stat(
            micro[name], boot_micro and boot_micro[name][0], b
        )
        mean, reason, n = macro_mean(point[name][0])
        boot_macro = macro_mean(boot[name][0])[0] if boot is not None else None
        levels["macro"][name] = _stat((mean, reason), boot_macro, b)
        levels["macro"][name].n_classes = n
    return levels


def _per_reader(
    levels: dict[str, dict[str, _Stat]],
    class_codes: Sequence[str],
    reader_names: Sequence[str],
    names: Sequence[str],
    bootstrap: bool,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """By reader: per class, micro, and macro (with ``n_classes``)."""
    by_class: dict[str, Any] = {}
    micro: dict[str, Any] = {}
    macro: dict[str, Any] = {}
    for j, name in enumerate(reader_names):
        by_class[name] = {
            code: _section(levels["class"], (j, k), names, bootstrap)
            for k, code in enumerate(class_codes)
        }
        micro[name] = _section(levels["micro"], (j, 0), names, bootstrap)
        macro[name] = {
            "n_classes": {
                stat: int(levels["macro"][stat].n_classes[j, 0]) for stat in names
            },
            **_section(levels["macro"], (j, 0), names, bootstrap),
        }
    return by_class, micro, macro


def _leave_one_out(
    counts: Counts, class_codes: Sequence[str], reader_names: Sequence[str]
) -> dict[str, Any]:
    """Each reader against the majority of the exam's other readers."""

    def statistics(fields: dict) -> dict:
        return _reader_stats(
            {
                "RN": fields["LN"],
                "R1": fields["L1"],
                "C1": fields["LC"],
                "TP": fields["LTP"],
            }
        )

    levels = _table_levels(
        counts, ("LN", "L1", "LC", "LTP"), statistics, READER_STATISTICS
    )
    by_class, micro, macro = _per_reader(
        levels, class_codes, reader_names, READER_STATISTICS, counts.n_bootstrap > 0
    )
    return {"readers": by_class, "micro": micro, "macro": macro}


def _reference(
    counts: Counts,
    class_codes: Sequence[str],
    reader_names: Sequence[str],
    source: str,
    pairs: Sequence[tuple[int, str, bool]],
) -> dict[str, Any]:
    """The ``reference`` section: scores per reader and class, micro and macro
    per reader, McNemar's test per reader pair and class."""
    bootstrap = counts.n_bootstrap > 0
    levels = _table_levels(
        counts, ("GN", "G1", "GC", "GTP"), scores, REFERENCE_STATISTICS
    )
    readers, micro, macro = _per_reader(
        levels, class_codes, reader_names, REFERENCE_STATISTICS, bootstrap
    )
    first_wrong, second_wrong = counts.point["MB"], counts.point["MC"]
    tests: dict[str, Any] = {}
    for p, key, swapped in pairs:
        # "a|b" names the readers in sorted order; b counts a wrong, b right.
        b_count, c_count = first_wrong[p], second_wrong[p]
        if swapped:
            b_count, c_count = c_count, b_count
        result = mcnemar(b_count, c_count)
        tests[key] = {
            code: {
                "statistic": _value(result["statistic"], k),
                "p_value": _value(result["p_value"], k),
                "exact_p_value": float(result["exact_p_value"][0][k]),
                "b": _number(b_count[k]),
                "c": _number(c_count[k]),
            }
            for k, code in enumerate(class_codes)
        }
    return {
        "source": source,
        "n_exams": _number(counts.point["GE"].max()) if counts.n_classes else 0,
        "readers": readers,
        "macro": macro,
        "micro": micro,
        "mcnemar": tests,
    }


def _value(result: tuple[NDArray, NDArray], k: int) -> float | None:
    value, reason = result
    return None if reason[k] else float(value[k])


def _groups(
    counts: Counts,
    class_codes: Sequence[str],
    group_names: Sequence[str],
    pairs: Sequence[tuple[int, str]],
) -> dict[str, Any]:
    """The ``groups`` section: agreement on each exclusive group as one choice."""
    bootstrap = counts.n_bootstrap > 0
    out: dict[str, Any] = {}
    for g, (name, members) in enumerate(zip(group_names, counts.groups, strict=True)):
        size = len(members) + 1
        point = group_stats(counts.point, g, size)
        boot = group_stats(counts.boot, g, size) if counts.boot is not None else None
        stats = {
            stat: _stat(
                point[stat], boot[stat][0] if boot else None, counts.n_bootstrap
            )
            for stat in (*GROUP_STATISTICS, "cohen_kappa")
        }
        section = _section(stats, (0,), GROUP_STATISTICS, bootstrap, pairs)
        out[name] = {
            "n_exams": _number(counts.point["T"][2:].sum()),
            "categories": [*(class_codes[k] for k in members), "none"],
            **section,
        }
    return out


def report(
    counts: Counts,
    *,
    class_codes: Sequence[str],
    reader_names: Sequence[str],
    group_names: Sequence[str] = (),
    reference_source: str = "imported",
    machine_names: Sequence[str] = (),
) -> dict[str, Any]:
    """The agreement report (DESIGN section 6) as a JSON-ready dict.

    Shape::

        {"n_exams": int,                     # exams with at least one reading
         "readers": [name, ...],
         "classes": {code: {"n_positive_reads", "prevalence", "observed_agreement",
                            "fleiss_kappa", "krippendorff_alpha", "pabak", "ac1",
                            "positive_agreement", "negative_agreement",
                            "cohen_kappa": {"a|b": value},
                            "ci95": {statistic: [low, high] | None,
                                     "cohen_kappa": {"a|b": [low, high] | None}},
                            "undefined": {statistic: reason,
                                          "cohen_kappa": {"a|b": reason},
                                          "ci95": {statistic: reason, ...}}}},
         "reader_stats": {name: {code: {"sensitivity", "specificity", "ppv", "f1",
                                        "ci95", "undefined"}}},
         "macro": {...}, "micro": {...}}

    DESIGN section 6 uses the key "readers" twice (the list of names and the
    per-reader statistics), which one JSON object cannot hold: the list keeps
    "readers" and the per-reader dict is "reader_stats" (``{}`` without a consensus).

    Values are floats, or None when undefined (the reason is in ``undefined``); never
    NaN. ``ci95`` is ``{}`` without a bootstrap; an interval is None when its
    statistic is undefined, or undefined in more than half of the replicates (then
    ``undefined["ci95"]`` says so). Pairs are "a|b" with a < b, for the pairs of
    readers who share at least one exam. ``macro`` averages each statistic over the
    classes where it is defined (``n_classes`` counts them; its interval averages,
    in each replicate, the classes defined in that replicate); ``micro`` computes each
    statistic once from the counts summed over classes (every exam-class pair is a
    unit). Both also hold ``cohen_kappa`` by pair and, with a consensus,
    ``reader_stats`` by reader. The caller adds ``campaign`` and ``taxonomy``.

    With a reference standard counted, ``reference`` is::

        {"source": "imported" | "consensus",
         "n_exams": int,                     # exams with a reference label
         "readers": {name: {code: {"precision", "recall", "specificity", "npv",
                                   "f1", "ci95", "undefined"}}},
         "micro": {name: {...}}, "macro": {name: {"n_classes", ...}},
         "mcnemar": {"a|b": {code: {"statistic", "p_value", "exact_p_value",
                                    "b", "c"}}}}

    (None without one); McNemar's ``b`` counts exams where ``a`` is wrong and
    ``b`` right. ``groups`` has one entry per exclusive group counted, named by
    ``group_names``: ``{"n_exams"`` (exams read by two or more readers),
    ``"categories": [codes…, "none"]``, ``"observed_agreement"``,
    ``"fleiss_kappa"``, ``"krippendorff_alpha"``, ``"cohen_kappa": {"a|b"}``,
    ``"ci95"``, ``"undefined"}``.
    """
    class_codes, reader_names = list(class_codes), list(reader_names)
    if len(class_codes) != counts.n_classes or len(set(class_codes)) != len(
        class_codes
    ):
        raise ValueError("class_codes must be unique and match the classes axis")
    if (
        len(reader_names) != counts.n_readers
        or len(set(reader_names)) != counts.n_readers
    ):
        raise ValueError("reader_names must be unique and match the readers axis")
    if any("|" in name for name in reader_names):
        raise ValueError("reader names cannot contain '|' (it separates pair names)")
    if len(group_names) != len(counts.groups) or len(set(group_names)) != len(
        group_names
    ):
        raise ValueError("group_names must be unique and match the counted groups")
    if not set(machine_names) <= set(reader_names):
        raise ValueError("machine_names must be among the reader_names")
    if reference_source not in REFERENCE_SOURCES:
        raise ValueError(f"reference_source must be one of {REFERENCE_SOURCES}")
    bootstrap = counts.n_bootstrap > 0
    levels = _levels(counts)
    pairs = sorted(
        (
            (p, "|".join(sorted((reader_names[a], reader_names[b]))))
            for p, (a, b) in enumerate(combinations(range(counts.n_readers), 2))
            if counts.point["PN"][p] > 0
        ),
        key=lambda item: item[1],
    )
    scalars = ("n_positive_reads", *CLASS_STATISTICS)

    classes = {}
    for k, code in enumerate(class_codes):
        section = _section(levels["class"], (k,), scalars, bootstrap, pairs)
        section["n_positive_reads"] = _number(section["n_positive_reads"])
        section["ci95"].pop("n_positive_reads", None)
        classes[code] = section
    reader_stats: dict[str, Any] = {}
    if counts.has_consensus:
        reader_stats = {
            name: {
                code: _section(levels["class"], (j, k), READER_STATISTICS, bootstrap)
                for k, code in enumerate(class_codes)
            }
            for j, name in enumerate(reader_names)
        }
    summary = {}
    for level in ("macro", "micro"):
        stats = levels[level]
        section = _section(stats, (0,), CLASS_STATISTICS, bootstrap, pairs)
        if level == "macro":
            n_classes = {
                name: int(stats[name].n_classes[0]) for name in CLASS_STATISTICS
            }
            n_classes["cohen_kappa"] = {
                key: int(stats["cohen_kappa"].n_classes[p, 0]) for p, key in pairs
            }
            section = {"n_classes": n_classes, **section}
        if counts.has_consensus:
            section["reader_stats"] = {
                name: _section(stats, (j, 0), READER_STATISTICS, bootstrap)
                for j, name in enumerate(reader_names)
            }
        summary[level] = section
    reference = None
    if counts.has_reference:
        readers_of = list(combinations(range(counts.n_readers), 2))
        named = [
            (p, key, reader_names[readers_of[p][0]] > reader_names[readers_of[p][1]])
            for p, key in pairs
        ]
        reference = _reference(
            counts, class_codes, reader_names, reference_source, named
        )
    return {
        "n_exams": _number(counts.point["T"][1:].sum()),
        "readers": reader_names,
        "machines": sorted(machine_names),
        "classes": classes,
        "reader_stats": reader_stats,
        "macro": summary["macro"],
        "micro": summary["micro"],
        "reader_stats_leave_one_out": _leave_one_out(counts, class_codes, reader_names),
        "reference": reference,
        "groups": _groups(counts, class_codes, group_names, pairs),
    }
