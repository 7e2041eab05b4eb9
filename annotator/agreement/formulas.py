"""The agreement statistics from counts, per class, pooled (micro) and averaged (macro).

Part of :mod:`annotator.agreement`, whose module docstring gives every formula
and the rules for undefined values. Values are NaN where undefined, next to a
reason code: an index into :data:`REASONS` (0 = defined).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CLASS_STATISTICS",
    "READER_STATISTICS",
    "REASONS",
    "from_counts",
    "macro_mean",
]

CLASS_STATISTICS = (
    "prevalence",
    "observed_agreement",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pabak",
    "ac1",
    "positive_agreement",
    "negative_agreement",
)
READER_STATISTICS = ("sensitivity", "specificity", "ppv", "f1")

# Reasons a statistic is undefined; index 0 means "defined".
REASONS = (
    "",
    "no readings",
    "fewer than 2 readers on any exam",
    "no positive reads",
    "expected agreement is 1: no positive reads on exams with 2 or more readers",
    "expected agreement is 1: no negative reads on exams with 2 or more readers",
    "no positive reads on exams with 2 or more readers",
    "no negative reads on exams with 2 or more readers",
    "the two readers share no exams",
    "expected agreement is 1: neither reader read a positive on their shared exams",
    "expected agreement is 1: both readers read every shared exam as positive",
    "no exam read by this reader has a consensus label for this class",
    "no positive consensus labels on this reader's exams",
    "no negative consensus labels on this reader's exams",
    "the reader made no positive reads on exams with a consensus label",
    "no positive reads and no positive consensus labels on this reader's exams",
    "undefined for every class",
    # Against a reference standard (annotator.agreement.reference).
    "no exam read by this reader has a reference label for this class",
    "no positive reference labels on this reader's exams",
    "no negative reference labels on this reader's exams",
    "the reader made no positive reads on exams with a reference label",
    "the reader made no negative reads on exams with a reference label",
    "no positive reads and no positive reference labels on this reader's exams",
    "the two readers make the same errors on every shared exam with a reference",
    # Exclusive groups (annotator.agreement.groups).
    "expected agreement is 1: every read on exams with 2 or more readers is in "
    "one category",
    "expected agreement is 1: both readers chose one and the same category on "
    "every shared exam",
    # Test-retest (annotator.agreement.checks).
    "the reader re-read no exam",
    "expected agreement is 1: the read and the re-read give this class one and "
    "the same value on every exam",
)
_NO_CLASS = REASONS.index("undefined for every class")


def _table(counts: dict, n_classes: int) -> dict[str, NDArray[np.float64]]:
    """Count fields with the class axis last, leading axes (replicates) kept."""
    table = dict(counts)
    for name in ("T", "PN"):
        value = counts[name]
        table[name] = np.broadcast_to(value[..., None], (*value.shape, n_classes))
    return table


def _pooled(table: dict) -> dict[str, NDArray[np.float64]]:
    """Micro-average counts: every (exam, class) is a unit of one pooled class."""
    return {name: value.sum(axis=-1, keepdims=True) for name, value in table.items()}


def _undefined(value: NDArray, reasons: NDArray) -> tuple[NDArray, NDArray]:
    # A non-finite value with no named reason cannot arise from the formulas; keep
    # it out of the report all the same.
    reasons = np.where((reasons == 0) & ~np.isfinite(value), len(REASONS), reasons)
    return np.where(reasons == 0, value, np.nan), reasons


def _class_stats(table: dict) -> dict[str, tuple[NDArray, NDArray]]:
    """Per-class statistics (values with NaN where undefined, reason codes)."""
    t, x, q = table["T"], table["X"], table["Q"]  # (..., J+1, K)
    n = np.arange(t.shape[-2], dtype=np.float64)[:, None]
    reads = (n * t).sum(axis=-2)
    positive = x.sum(axis=-2)
    t2, x2, q2, n2 = t[..., 2:, :], x[..., 2:, :], q[..., 2:, :], n[2:]
    exams2 = t2.sum(axis=-2)  # exams with >= 2 readers
    values = (n2 * t2).sum(axis=-2)  # pairable values n..
    ones = x2.sum(axis=-2)
    zeros = values - ones
    disagree_n = n2 * x2 - q2  # sum s(n-s) per number of readers n
    disagree = disagree_n.sum(axis=-2)  # discordant pairs b+c
    pairs2 = (n2 * (n2 - 1) * t2).sum(axis=-2)  # 2P
    yes2 = (q2 - x2).sum(axis=-2)  # 2a = sum s(s-1)
    no2 = pairs2 - yes2 - 2 * disagree  # 2d
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = (yes2 + no2) / pairs2
        pi = (yes2 + disagree) / pairs2
        p_e = 2 * pi * (1 - pi)
        between = (disagree_n / n2).sum(axis=-2)
        fleiss = 1 - between / (values - exams2) * (values / ones) * (values / zeros)
        o_01 = (disagree_n / (n2 - 1)).sum(axis=-2)
        alpha = 1 - (values - 1) * o_01 / (ones * zeros)
        stats = {
            "prevalence": (positive / reads, np.where(reads == 0, 1, 0)),
            "observed_agreement": p_o,
            "fleiss_kappa": fleiss,
            "krippendorff_alpha": alpha,
            "pabak": 2 * p_o - 1,
            "ac1": (p_o - p_e) / (1 - p_e),
            "positive_agreement": yes2 / (yes2 + disagree),
            "negative_agreement": no2 / (no2 + disagree),
        }
    none2, no_pos = exams2 == 0, positive == 0
    pairwise = np.where(none2, 2, 0)
    kappa = np.select([none2, no_pos, ones == 0, zeros == 0], [2, 3, 4, 5], 0)
    reasons = {
        "observed_agreement": pairwise,
        "pabak": pairwise,
        "ac1": pairwise,
        "fleiss_kappa": kappa,
        "krippendorff_alpha": kappa,
        "positive_agreement": np.select([none2, no_pos, ones == 0], [2, 3, 6], 0),
        "negative_agreement": np.select([none2, zeros == 0], [2, 7], 0),
    }
    out = {"n_positive_reads": (positive, np.zeros(positive.shape, int))}
    for name, value in stats.items():
        if name in reasons:
            value = (value, reasons[name])
        out[name] = _undefined(*value)
    out["cohen_kappa"] = _cohen(table, no_pos)
    return out


def _cohen(table: dict, no_positive: NDArray) -> tuple[NDArray, NDArray]:
    """Cohen's kappa per reader pair and class, shape (..., P, K)."""
    n, a1, b1, n11 = table["PN"], table["PA"], table["PB"], table["P11"]
    a0, b0 = n - a1, n - b1
    n00 = n - a1 - b1 + n11
    chance = a1 * b1 + a0 * b0  # p_e * N^2
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (n * (n11 + n00) - chance) / (n * n - chance)
    conditions = [n == 0, no_positive[..., None, :], a1 + b1 == 0, a0 + b0 == 0]
    return _undefined(kappa, np.select(conditions, [8, 3, 9, 10], 0))


def _reader_stats(table: dict) -> dict[str, tuple[NDArray, NDArray]]:
    """Sensitivity, specificity, PPV, F1 per reader and class, shape (..., J, K)."""
    rn, r1, c1, tp = table["RN"], table["R1"], table["C1"], table["TP"]
    tn = rn - r1 - c1 + tp
    none = rn == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "sensitivity": _undefined(tp / c1, np.select([none, c1 == 0], [11, 12])),
            "specificity": _undefined(
                tn / (rn - c1), np.select([none, rn - c1 == 0], [11, 13])
            ),
            "ppv": _undefined(tp / r1, np.select([none, r1 == 0], [11, 14])),
            "f1": _undefined(
                2 * tp / (r1 + c1), np.select([none, r1 + c1 == 0], [11, 15])
            ),
        }


def from_counts(
    counts: dict[str, NDArray[np.float64]], n_classes: int, consensus: bool
) -> dict[str, tuple[tuple[NDArray, NDArray], tuple[NDArray, NDArray]]]:
    """Every statistic per class and pooled (micro) from one set of count fields.

    ``counts`` is ``Counts.point`` (or ``Counts.boot``, with a leading replicate
    axis B kept on every result). Returns ``name -> ((values, reasons) per class,
    (values, reasons) micro)``: values are float64 ending in the class axis (K per
    class, 1 for micro), after a pair axis for ``cohen_kappa`` and a reader axis
    for the reader statistics (only with ``consensus``); NaN where undefined, with
    the :data:`REASONS` index alongside. ``n_positive_reads`` is included. The
    formulas are those of the :mod:`annotator.agreement` docstring; micro applies
    them once to the counts summed over classes.
    """
    table = _table(counts, n_classes)
    per_class = _class_stats(table)
    micro = _class_stats(_pooled(table))
    if consensus:
        per_class.update(_reader_stats(table))
        micro.update(_reader_stats(_pooled(table)))
    return {name: (per_class[name], micro[name]) for name in per_class}


def macro_mean(values: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Macro average: the mean over the last (class) axis of the non-NaN values.

    ``values`` has any shape ending in the class axis K; the three results keep
    it with length 1: the mean (NaN where no class is defined), the reason code
    (0, or the index of "undefined for every class" in :data:`REASONS`) and how
    many classes were averaged.
    """
    defined = ~np.isnan(values)
    n = defined.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(defined, values, 0.0).sum(axis=-1, keepdims=True) / n
    return np.where(n > 0, mean, np.nan), np.where(n > 0, 0, _NO_CLASS), n
