"""Readers scored against a reference standard, and McNemar's test between readers.

Part of :mod:`annotator.agreement`. A reference standard is one label set per exam
(a gold standard imported with the readings, or the adjudicated consensus chosen
as the reference), ``(E, K)`` int8 1 / 0 / -1 unknown, counted by
:func:`~annotator.agreement.count_chunk` next to the readings.

Scores, per reader and class, over the exams the reader read whose reference for
the class is known (TP, FP, TN, FN against the reference):

* ``precision`` TP/(TP+FP), ``recall`` (sensitivity) TP/(TP+FN), ``specificity``
  TN/(TN+FP), ``npv`` TN/(TN+FN), ``f1`` 2TP/(2TP+FP+FN): scikit-learn's
  ``precision_score``, ``recall_score`` and ``f1_score`` on those exams;
* micro: the same formulas on the tables summed over classes; macro: their mean
  over the classes where defined (:func:`~annotator.agreement.formulas.macro_mean`).

McNemar's test (McNemar 1947, Psychometrika 12:153), per reader pair and class,
on the exams both read whose reference is known: ``b`` exams where the first
reader is wrong and the second right, ``c`` the reverse;
``statistic = (b - c)^2 / (b + c)`` without continuity correction, ``p_value``
its chi-square (1 df) upper tail, and ``exact_p_value`` the two-sided binomial
test ``min(1, 2 P(X <= min(b, c)))``, ``X ~ Bin(b + c, 1/2)``: statsmodels'
``mcnemar(table, exact=False, correction=False)`` and ``mcnemar(table,
exact=True)``. With ``b + c = 0`` the statistic and its p-value are undefined and
the exact p-value is 1.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from annotator.agreement.formulas import REASONS, _undefined

__all__ = ["REFERENCE_STATISTICS", "mcnemar", "scores"]

REFERENCE_STATISTICS = ("precision", "recall", "specificity", "npv", "f1")

_NONE = REASONS.index(
    "no exam read by this reader has a reference label for this class"
)
_NO_POSITIVE, _NO_NEGATIVE, _NO_YES, _NO_NO, _NO_F1, _SAME = range(_NONE + 1, _NONE + 7)


def scores(fields: dict[str, NDArray]) -> dict[str, tuple[NDArray, NDArray]]:
    """The scores per reader and class, (values, reasons) of shape (..., J, K).

    ``fields`` holds ``GN``, ``G1``, ``GC`` and ``GTP`` of a :class:`Counts`
    (point, or boot with the replicate axis first, or summed over classes).
    """
    n, said, true, tp = fields["GN"], fields["G1"], fields["GC"], fields["GTP"]
    fn = true - tp
    tn = n - said - fn
    none = n == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "precision": _undefined(
                tp / said, np.select([none, said == 0], [_NONE, _NO_YES])
            ),
            "recall": _undefined(
                tp / true, np.select([none, true == 0], [_NONE, _NO_POSITIVE])
            ),
            "specificity": _undefined(
                tn / (n - true), np.select([none, n - true == 0], [_NONE, _NO_NEGATIVE])
            ),
            "npv": _undefined(
                tn / (n - said), np.select([none, n - said == 0], [_NONE, _NO_NO])
            ),
            "f1": _undefined(
                2 * tp / (said + true),
                np.select([none, said + true == 0], [_NONE, _NO_F1]),
            ),
        }


def mcnemar(b: NDArray, c: NDArray) -> dict[str, tuple[NDArray, NDArray]]:
    """McNemar's statistic, p-value and exact p-value from the discordant counts
    (any shape): name -> (values, reasons)."""
    b, c = np.asarray(b, dtype=np.float64), np.asarray(c, dtype=np.float64)
    total = b + c
    same = np.where(total == 0, _SAME, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = (b - c) ** 2 / total
    exact = np.minimum(1.0, 2 * stats.binom.cdf(np.minimum(b, c), total, 0.5))
    return {
        "statistic": _undefined(statistic, same),
        "p_value": _undefined(stats.chi2.sf(statistic, 1), same),
        "exact_p_value": (np.where(total == 0, 1.0, exact), np.zeros(b.shape, int)),
    }
