"""Reader checks: accuracy on calibration exams, and test–retest agreement.

Part of :mod:`annotator.agreement`; pure numpy. Both take a table of reads, one
row per check read (a few per reader and week, so no chunking): ``labels``
``(N, K)`` int8 0/1, the read; ``truth`` ``(N, K)`` int8, what it is compared
with (1 / 0, -1 unknown); ``readers`` ``(N,)`` the reader's index; ``exam_keys``
``(N,)`` the exam's integer id, the unit of the bootstrap (every read of an exam
gets the exam's weight :func:`~annotator.agreement.poisson_weights`, so the
replicates resample exams, as the rest of the report does).

**Calibration** (:func:`calibration`): reads of calibration exams against the
exams' reference; the scores of :mod:`~annotator.agreement.reference`
(precision, recall = sensitivity, specificity, NPV, F1) per reader and class,
micro and macro, and micro per reader and period (``periods``, e.g. ISO weeks),
so a reader who drifts is seen.

**Test–retest** (:func:`retest`): each re-read against the same reader's first
read of the exam (``truth``); per reader and class Cohen's kappa
``(p_o - p_e)/(1 - p_e)``, ``p_o = (a + d)/n``, ``p_e = (f s + (n-f)(n-s))/n^2``
with ``f`` and ``s`` the yes counts of the first read and the re-read and
``a``/``d`` the exams where both said yes/no (scikit-learn's
``cohen_kappa_score`` of the two reads), and the observed agreement ``p_o``;
macro averages over the classes where defined, micro pools every (exam, class).

Intervals are the report's: 2.5th and 97.5th percentiles of the Poisson
bootstrap replicates, None where the statistic is undefined in more than half.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotator.agreement.formulas import REASONS, _undefined
from annotator.agreement.reference import REFERENCE_STATISTICS, scores
from annotator.agreement.report import _per_reader, _table_levels
from annotator.agreement.weights import poisson_weights

__all__ = ["RETEST_STATISTICS", "calibration", "retest"]

RETEST_STATISTICS = ("kappa", "observed_agreement")

_NO_REREAD = REASONS.index("the reader re-read no exam")
_ONE_VALUE = REASONS.index(
    "expected agreement is 1: the read and the re-read give this class one and "
    "the same value on every exam"
)


@dataclass
class _Tables:
    """Count fields as :func:`~annotator.agreement.report._table_levels` takes
    them: ``point`` (U, K), ``boot`` (B, U, K) or None."""

    point: dict[str, NDArray]
    boot: dict[str, NDArray] | None
    n_bootstrap: int


def _check(labels: NDArray, truth: NDArray, units: NDArray, exam_keys: NDArray) -> None:
    n = len(units)
    if labels.shape != truth.shape or labels.ndim != 2 or labels.shape[0] != n:
        raise ValueError("labels and truth must be (N, K) with one unit per read")
    if len(exam_keys) != n:
        raise ValueError("exam_keys must have one key per read")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 or 1")


def _tables(
    fields: dict[str, NDArray],
    units: NDArray,
    n_units: int,
    exam_keys: NDArray,
    bootstrap: int,
    seed: int,
) -> _Tables:
    """Sum per-read fields (N, K) by unit: point (U, K) and, with a bootstrap,
    replicates (B, U, K) weighted by each read's exam."""
    k = next(iter(fields.values())).shape[1]
    point = {}
    for name, value in fields.items():
        total = np.zeros((n_units, k))
        np.add.at(total, units, value)
        point[name] = total
    boot = None
    if bootstrap:
        keys, inverse = np.unique(
            np.asarray(exam_keys, dtype=np.int64), return_inverse=True
        )
        weights = poisson_weights(keys, seed, bootstrap)[:, inverse].astype(np.float64)
        boot = {name: np.zeros((bootstrap, n_units, k)) for name in fields}
        for u in range(n_units):
            rows = np.flatnonzero(units == u)
            if rows.size:
                w = weights[:, rows]
                for name, value in fields.items():
                    boot[name][:, u] = w @ value[rows]
    return _Tables(point, boot, bootstrap)


def calibration(
    labels: NDArray,
    truth: NDArray,
    readers: NDArray,
    periods: NDArray,
    exam_keys: NDArray,
    *,
    class_codes: Sequence[str],
    reader_names: Sequence[str],
    period_names: Sequence[str],
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """``{"n_exams", "n_reads", "readers": {name: {"n_reads", "classes": {code:
    {scores, "ci95", "undefined"}}, "micro": {…}, "macro": {"n_classes", …},
    "periods": {period: {"n_reads", scores (micro), "ci95", "undefined"}}}}}``.

    ``periods`` (N,) indexes ``period_names``; readers with no read are left out.
    """
    labels, truth = np.asarray(labels, np.int8), np.asarray(truth, np.int8)
    readers, periods = np.asarray(readers, np.intp), np.asarray(periods, np.intp)
    _check(labels, truth, readers, exam_keys)
    known = truth >= 0
    said = (labels == 1) & known
    true = truth == 1
    fields = {
        "GN": known.astype(np.float64),
        "G1": said.astype(np.float64),
        "GC": true.astype(np.float64),
        "GTP": (said & true).astype(np.float64),
    }
    names = ("GN", "G1", "GC", "GTP")
    present = bootstrap > 0
    by_reader = _tables(fields, readers, len(reader_names), exam_keys, bootstrap, seed)
    levels = _table_levels(by_reader, names, scores, REFERENCE_STATISTICS)
    classes, micro, macro = _per_reader(
        levels, class_codes, reader_names, REFERENCE_STATISTICS, present
    )
    # Reader-period units: micro scores of each reader in each period.
    n_periods = max(len(period_names), 1)
    units = readers * n_periods + periods
    by_period = _tables(
        fields, units, len(reader_names) * n_periods, exam_keys, bootstrap, seed
    )
    unit_names = [
        f"{j}:{p}" for j in range(len(reader_names)) for p in range(n_periods)
    ]
    _, period_micro, _ = _per_reader(
        _table_levels(by_period, names, scores, REFERENCE_STATISTICS),
        class_codes,
        unit_names,
        REFERENCE_STATISTICS,
        present,
    )
    n_reads = np.bincount(units, minlength=len(unit_names))
    out: dict[str, Any] = {}
    for j, name in enumerate(reader_names):
        mine = int(n_reads[j * n_periods : (j + 1) * n_periods].sum())
        if not mine:
            continue
        out[name] = {
            "n_reads": mine,
            "classes": classes[name],
            "micro": micro[name],
            "macro": macro[name],
            "periods": {
                period: {
                    "n_reads": int(n_reads[j * n_periods + p]),
                    **period_micro[f"{j}:{p}"],
                }
                for p, period in enumerate(period_names)
                if n_reads[j * n_periods + p]
            },
        }
    return {
        "n_exams": int(np.unique(exam_keys).size),
        "n_reads": len(readers),
        "readers": out,
    }


def _retest_statistics(
    fields: dict[str, NDArray],
) -> dict[str, tuple[NDArray, NDArray]]:
    n, first, second, both = fields["N"], fields["F"], fields["S"], fields["B"]
    none = n == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = (n - first - second + 2 * both) / n
        expected = (first * second + (n - first) * (n - second)) / n**2
        kappa = (observed - expected) / (1 - expected)
    return {
        "kappa": _undefined(
            kappa, np.select([none, expected >= 1], [_NO_REREAD, _ONE_VALUE])
        ),
        "observed_agreement": _undefined(observed, np.where(none, _NO_REREAD, 0)),
    }


def retest(
    labels: NDArray,
    truth: NDArray,
    readers: NDArray,
    exam_keys: NDArray,
    *,
    class_codes: Sequence[str],
    reader_names: Sequence[str],
    bootstrap: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """``{"n_rereads", "readers": {name: {"n_exams", "classes": {code: {"kappa",
    "observed_agreement", "ci95", "undefined"}}, "micro": {…}, "macro":
    {"n_classes", …}}}}``: ``labels`` the re-reads, ``truth`` the first reads
    (both 0/1); readers with no re-read are left out."""
    labels, truth = np.asarray(labels, np.int8), np.asarray(truth, np.int8)
    readers = np.asarray(readers, np.intp)
    _check(labels, truth, readers, exam_keys)
    if not np.isin(truth, (0, 1)).all():
        raise ValueError("the first reads must be 0 or 1")
    second, first = labels.astype(np.float64), truth.astype(np.float64)
    fields = {
        "N": np.ones_like(first),
        "F": first,
        "S": second,
        "B": first * second,
    }
    tables = _tables(fields, readers, len(reader_names), exam_keys, bootstrap, seed)
    levels = _table_levels(tables, tuple(fields), _retest_statistics, RETEST_STATISTICS)
    classes, micro, macro = _per_reader(
        levels, class_codes, reader_names, RETEST_STATISTICS, bootstrap > 0
    )
    n_exams = np.bincount(readers, minlength=len(reader_names))
    return {
        "n_rereads": len(readers),
        "readers": {
            name: {
                "n_exams": int(n_exams[j]),
                "classes": classes[name],
                "micro": micro[name],
                "macro": macro[name],
            }
            for j, name in enumerate(reader_names)
            if n_exams[j]
        },
    }
