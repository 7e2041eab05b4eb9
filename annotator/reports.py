"""Views of a stored agreement report: without its per-pair data; one class's pairs.

Pure Python on the report's JSON (DESIGN §6), no Django, like agreement.py.
The per-pair parts (Cohen's kappa of every reader pair, their intervals and
reasons) grow with the square of the readers and are most of a large report;
the dashboard takes them one class at a time as a matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

PAIRS = "cohen_kappa"


def _without_pairs(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: value for key, value in entry.items() if key != PAIRS}
    for key in ("ci95", "undefined"):  # "undefined" holds a "ci95" of its own
        if isinstance(out.get(key), Mapping):
            out[key] = _without_pairs(out[key])
    return out


def without_pairs(report: Mapping[str, Any]) -> dict[str, Any]:
    """The report without ``cohen_kappa`` in any class, group, nor in
    ``macro``/``micro`` (with their ``ci95`` and ``undefined`` entries), and
    without the reference's McNemar tests by pair; the rest is shared, not copied.
    """
    out = dict(report)
    out["classes"] = {
        code: _without_pairs(entry) for code, entry in report["classes"].items()
    }
    for level in ("macro", "micro"):
        if isinstance(report.get(level), Mapping):
            out[level] = _without_pairs(report[level])
    if isinstance(report.get("groups"), Mapping):
        out["groups"] = {
            name: _without_pairs(entry) for name, entry in report["groups"].items()
        }
    if isinstance(report.get("reference"), Mapping):
        out["reference"] = {
            key: value for key, value in report["reference"].items() if key != "mcnemar"
        }
    return out


def pair_matrix(
    readers: Sequence[str], by_pair: Mapping[str, float | None]
) -> list[list[float | None]]:
    """A square matrix of a pairwise statistic in ``readers`` order.

    ``by_pair`` is keyed "a|b" with a < b, as in the report; the diagonal, and
    a pair with no shared exam (absent from the report), are None.
    """
    return [
        [None if a == b else by_pair.get("|".join(sorted((a, b)))) for b in readers]
        for a in readers
    ]
