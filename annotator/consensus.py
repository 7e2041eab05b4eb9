"""Consensus labels per exam and the classes its readers disagree on.

Pure numpy and the standard library (no Django). Readings are the tensor of
agreement.py: ``(exams, readers, classes)`` int8, 1 yes / 0 no / -1 not read (a
reader who read an exam gives 0 or 1 for every class). Labels are ``(exams,
classes)`` int8, 1 / 0 / -1 unresolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Method",
    "Settlement",
    "consensus_labels",
    "disagreeing_classes",
    "settle_reads",
]


class Method(IntEnum):
    """How an exam's consensus was reached (``Method(code).name.lower()``)."""

    UNREAD = 0  # nobody read it: labels all -1
    UNRESOLVED = 1  # readers disagree on some class that no rule settles
    SINGLE = 2  # one reader: the labels are that reader's, not an agreement
    UNANIMOUS = 3  # two or more readers, identical on every class
    MAJORITY = 4  # three or more readers, every class settled, some by majority
    ADJUDICATED = 5  # an adjudicator's labels


def _read_and_counts(
    readings: NDArray,
) -> tuple[NDArray[np.intp], NDArray[np.int16]]:
    """Validate; return readers per exam n (E,) and yes-votes per class s (E, K)."""
    readings = np.asarray(readings)
    if readings.ndim != 3 or not np.issubdtype(readings.dtype, np.integer):
        raise ValueError("readings must be an integer array (exams, readers, classes)")
    if readings.shape[2] == 0:
        raise ValueError("readings need at least one class")
    if readings.size == 0:
        return np.zeros(readings.shape[0], np.intp), np.zeros(
            (readings.shape[0], readings.shape[2]), np.int16
        )
    low, high = readings.min(axis=2), readings.max(axis=2)
    if low.min() < -1 or high.max() > 1:
        raise ValueError("readings must be -1 (not read), 0 (no) or 1 (yes)")
    if ((low == -1) & (high >= 0)).any():
        raise ValueError("a reader who read an exam gives 0 or 1 for every class")
    n = (low >= 0).sum(axis=1)
    s = (readings == 1).sum(axis=1, dtype=np.int16)
    return n, s


def consensus_labels(
    readings: NDArray[np.int8],
    *,
    adjudicated: NDArray[np.int8] | None = None,
    majority: bool = False,
) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """Consensus labels (E, K) int8 and the :class:`Method` code per exam (E,) int8.

    Per exam, first rule that applies:

    1. adjudicated (``adjudicated[e]`` has a value other than -1): the adjudicator's
       labels (a class the adjudication leaves at -1 falls back to the rules below);
    2. no reader: UNREAD, all -1;
    3. one reader: SINGLE, that reader's labels. One read is not agreement: it is
       labelled apart so that a caller waiting for the campaign's overlap (or
       exporting only agreed labels) can leave it out;
    4. two or more readers identical on every class: UNANIMOUS;
    5. ``majority`` and three or more readers, every class either unanimous or with
       a strict majority (more than half): MAJORITY; a tie (possible with an even
       number of readers) settles nothing;
    6. otherwise UNRESOLVED.

    An UNRESOLVED exam keeps, per class, the value its readers agree on (or the
    strict majority when ``majority`` and three or more readers) and -1 on the
    disputed classes, so that per-class statistics can use the settled classes; use
    ``labels[method == Method.UNRESOLVED] = -1`` to drop them.
    """
    n, s = _read_and_counts(readings)
    n_exams, n_classes = s.shape
    nk = n[:, None]
    agree = (s == 0) | (s == nk)
    settled = agree
    if majority:
        settled = agree | ((nk >= 3) & (2 * s != nk))
    labels = np.where(settled, (2 * s > nk).astype(np.int8), np.int8(-1))
    labels[n == 0] = -1
    method = np.full(n_exams, Method.UNRESOLVED, dtype=np.int8)
    all_settled = settled.all(axis=1)
    method[(n >= 2) & all_settled] = Method.MAJORITY
    method[(n >= 2) & agree.all(axis=1)] = Method.UNANIMOUS
    method[n == 1] = Method.SINGLE
    method[n == 0] = Method.UNREAD
    if adjudicated is not None:
        adjudicated = np.asarray(adjudicated)
        if adjudicated.shape != (n_exams, n_classes):
            raise ValueError("adjudicated must have shape (exams, classes)")
        if adjudicated.size and (adjudicated.min() < -1 or adjudicated.max() > 1):
            raise ValueError("adjudicated labels must be -1, 0 or 1")
        adjudicated = adjudicated.astype(np.int8, copy=False)
        given = adjudicated >= 0
        labels = np.where(given, adjudicated, labels)
        method[given.any(axis=1)] = Method.ADJUDICATED
    return labels.astype(np.int8, copy=False), method


def disagreeing_classes(
    readings: NDArray[np.int8], *, classes: Sequence[int] | None = None
) -> NDArray[np.bool_]:
    """Classes on which an exam's readers disagree, (E, K) bool.

    True where two or more readers read the exam and some said yes and some no
    (``0 < s < n``). ``classes`` is the campaign's adjudication policy: None means any
    class; a sequence of class indices restricts the result to those columns (False
    elsewhere).
    """
    n, s = _read_and_counts(readings)
    disagree = (s > 0) & (s < n[:, None])
    if classes is not None:
        policy = np.zeros(s.shape[1], dtype=bool)
        policy[list(classes)] = True
        disagree &= policy
    return disagree


@dataclass(frozen=True)
class Settlement:
    """One exam's outcome: a method name, its labels (None while unresolved) and
    the classes an adjudicator must settle."""

    method: str  # single, unanimous, majority, policy or needs_adjudication
    labels: list[str] | None
    disagreeing: list[str]


def settle_reads(
    reads: Sequence[Sequence[str]],
    codes: Sequence[str],
    *,
    majority: bool = False,
    adjudicate_only: Sequence[str] | None = None,
) -> Settlement:
    """The rule of :func:`consensus_labels` for one exam's complete reads, by code.

    ``reads`` holds each reader's chosen codes, ``codes`` the taxonomy in order.
    One reader → "single"; all agree → "unanimous"; with ``majority`` and three
    or more readers, every class settled by a strict majority → "majority".
    Otherwise the disputed classes go to adjudication, except under a policy
    (``adjudicate_only``: the classes that need it) whose classes are not in
    dispute: then the disputed classes are settled by strict majority (with two
    readers, positive only if both chose it) and the method is "policy" (or
    "majority" with majority voting). Labels come in taxonomy order.
    """
    index = {code: k for k, code in enumerate(codes)}
    readings = np.zeros((1, len(reads), len(codes)), dtype=np.int8)
    for j, chosen in enumerate(reads):
        readings[0, j, [index[code] for code in chosen]] = 1
    labels, method = consensus_labels(readings, majority=majority)
    row = labels[0]

    def names(mask: NDArray[np.bool_]) -> list[str]:
        return [codes[k] for k in np.flatnonzero(mask)]

    kind = Method(int(method[0]))
    if kind in (Method.SINGLE, Method.UNANIMOUS, Method.MAJORITY):
        return Settlement(kind.name.lower(), names(row == 1), [])
    if kind == Method.UNREAD:
        raise ValueError("settle_reads needs at least one read")
    disputed = names(row == -1)
    if adjudicate_only is not None:
        wanted = set(adjudicate_only)
        disputed = [code for code in disputed if code in wanted]
        if not disputed:
            yes = readings[0].sum(axis=0)
            settled = np.where(row == -1, 2 * yes > len(reads), row == 1)
            name = "majority" if majority and len(reads) >= 3 else "policy"
            return Settlement(name, names(settled), [])
    return Settlement("needs_adjudication", None, disputed)
