"""Agreement on an exclusive group: one multi-category choice per read.

Part of :mod:`annotator.agreement`. A taxonomy's exclusive group (one dominant
rhythm, one axis, one AV-block degree) asks each reader one question with C + 1
answers: one of its C classes, or "none" (the read chose no class of the group).
:func:`~annotator.agreement.count_chunk` counts, per group and per number of
readers ``n``, ``X[n, c] = sum n_c`` (readers of an exam in category ``c``) and
``Q[n] = sum_c n_c^2`` summed over the exams read by ``n`` readers, and per reader
pair the table of (first, second) categories on their shared exams; like every
count they merge by addition and carry the Poisson-bootstrap replicates.

Formulas (sums over the exams with ``n >= 2`` readers; ``n..`` = pairable values
``sum n``, ``n_c`` = their number in category ``c``, ``D = sum (n^2 - sum_c n_c^2)``
per exam, twice its discordant pairs):

* ``observed_agreement`` = agreeing pairs / pairs = ``sum (sum_c n_c^2 - n) / sum
  n(n-1)``, pooled over exams as for one class.
* ``fleiss_kappa`` = ``1 - sum[(n^2 - sum_c n_c^2)/n] / ((n.. - N)(1 - sum_c
  p_c^2))``, ``p_c = n_c/n..``, N the exams: Fleiss (1971, Psychol Bull 76:378)
  with the same number of readers on every exam, where it equals statsmodels'
  ``fleiss_kappa``; with unequal numbers its Fleiss & Cuzick form, which with
  two categories is the binary kappa of the package docstring.
* ``krippendorff_alpha`` (nominal) = ``1 - (n.. - 1) sum[(n^2 - sum_c n_c^2)/(n - 1)]
  / (n..^2 - sum_c n_c^2)``: ``krippendorff.alpha(level_of_measurement="nominal")``.
* ``cohen_kappa`` per reader pair from its C+1 x C+1 table: scikit-learn's
  ``cohen_kappa_score``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from annotator.agreement.formulas import REASONS, _undefined

__all__ = ["GROUP_STATISTICS", "group_stats"]

GROUP_STATISTICS = ("observed_agreement", "fleiss_kappa", "krippendorff_alpha")

_FEW = REASONS.index("fewer than 2 readers on any exam")
_NO_PAIR = REASONS.index("the two readers share no exams")
_ONE = REASONS.index(
    "expected agreement is 1: every read on exams with 2 or more readers is in "
    "one category"
)
_ONE_PAIR = _ONE + 1


def group_stats(
    fields: dict[str, NDArray], g: int, size: int
) -> dict[str, tuple[NDArray, NDArray]]:
    """Group ``g``'s statistics (its ``size`` categories, "none" included) from
    count fields (point, or boot with the replicate axis first): name ->
    (values, reasons), shape (..., 1), and (..., P, 1) for ``cohen_kappa``."""
    t, x, q = fields["T"], fields[f"G{g}X"], fields[f"G{g}Q"]  # (..., J+1[, C])
    n = np.arange(t.shape[-1], dtype=np.float64)[2:]
    t2, x2, q2 = t[..., 2:], x[..., 2:, :], q[..., 2:]
    exams = t2.sum(axis=-1)
    values = (n * t2).sum(axis=-1)
    per_category = x2.sum(axis=-2)  # (..., C)
    spread = (per_category**2).sum(axis=-1)  # sum_c n_c^2 over pairable values
    discord = n * n * t2 - q2  # sum (n^2 - sum_c n_c^2) per number of readers
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = (q2 - n * t2).sum(axis=-1) / (n * (n - 1) * t2).sum(axis=-1)
        chance = 1 - spread / (values * values)
        fleiss = 1 - (discord / n).sum(axis=-1) / ((values - exams) * chance)
        alpha = 1 - (values - 1) * (discord / (n - 1)).sum(axis=-1) / (
            values * values - spread
        )
    few = exams == 0
    kappa = np.select([few, spread == values * values], [_FEW, _ONE], 0)
    out = {
        "observed_agreement": _undefined(p_o, np.where(few, _FEW, 0)),
        "fleiss_kappa": _undefined(fleiss, kappa),
        "krippendorff_alpha": _undefined(alpha, kappa),
    }
    out = {name: (v[..., None], r[..., None]) for name, (v, r) in out.items()}
    table = fields[f"G{g}PC"]
    table = table.reshape(*table.shape[:-1], size, size)  # (..., P, C, C)
    total = table.sum(axis=(-2, -1))
    agree = np.trace(table, axis1=-2, axis2=-1)
    chance = (table.sum(axis=-1) * table.sum(axis=-2)).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cohen = (total * agree - chance) / (total * total - chance)
    reasons = np.select([total == 0, chance == total * total], [_NO_PAIR, _ONE_PAIR])
    value, reason = _undefined(cohen, reasons)
    out["cohen_kappa"] = (value[..., None], reason[..., None])
    return out
