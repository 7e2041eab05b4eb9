"""Consensus labels per exam, the adjudication worklist, and Dawid-Skene estimates.

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
    "DawidSkeneResult",
    "Method",
    "Settlement",
    "consensus_labels",
    "dawid_skene",
    "dawid_skene_multilabel",
    "disagreeing_classes",
    "needs_adjudication",
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


def needs_adjudication(
    readings: NDArray[np.int8],
    *,
    adjudicated: NDArray[np.int8] | None = None,
    majority: bool = False,
    classes: Sequence[int] | None = None,
) -> NDArray[np.bool_]:
    """Exams for the adjudication queue, (E,) bool.

    An exam is queued when it is not adjudicated, two or more readers read it, and
    a class of the policy (``classes``; None = any) is left unresolved by
    :func:`consensus_labels` with the same ``majority`` setting.
    """
    labels, method = consensus_labels(
        readings, adjudicated=adjudicated, majority=majority
    )
    open_classes = labels == -1
    if classes is not None:
        open_classes = open_classes[:, list(classes)]
    return (method == Method.UNRESOLVED) & open_classes.any(axis=1)


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


# --- Dawid-Skene ----------------------------------------------------------------------

_EPS = 1e-9  # probabilities are clipped to [eps, 1-eps] inside the E-step logs


@dataclass(frozen=True)
class DawidSkeneResult:
    """Binary Dawid-Skene estimates for one class.

    posterior: (E,) P(class present | readings); exams nobody read get the prevalence.
    prevalence: estimated P(class present) over exams read at least once.
    sensitivity, specificity: (J,) per reader; NaN where undefined (a reader with no
        exams, no estimated positive exams for sensitivity, no negative ones for
        specificity).
    n_iter: EM iterations run; converged: the largest parameter change fell below
        ``tol`` within ``max_iter``.
    """

    posterior: NDArray[np.float64]
    prevalence: float
    sensitivity: NDArray[np.float64]
    specificity: NDArray[np.float64]
    n_iter: int
    converged: bool


def _m_step(
    post: NDArray, yes: NDArray, read: NDArray
) -> tuple[NDArray, NDArray, NDArray]:
    """Prevalence (K,), sensitivity and specificity (J, K) from posteriors (E, K)."""
    prevalence = post.mean(axis=0)
    neg = 1.0 - post
    pos_mass, neg_mass = read.T @ post, read.T @ neg
    with np.errstate(divide="ignore", invalid="ignore"):
        sens = np.einsum("ek,ejk->jk", post, yes) / pos_mass
        spec = (neg_mass - np.einsum("ek,ejk->jk", neg, yes)) / neg_mass
    return prevalence, sens, spec


def _e_step(
    params: tuple[NDArray, NDArray, NDArray], yes: NDArray, read: NDArray
) -> NDArray:
    """Posterior (E, K): prior log-odds plus each read's log-likelihood ratio."""
    prevalence, sens, spec = (
        np.clip(np.nan_to_num(p, nan=0.5), _EPS, 1 - _EPS) for p in params
    )
    yes_lr = np.log(sens) - np.log1p(-spec)  # log P(yes|+)/P(yes|-)
    no_lr = np.log1p(-sens) - np.log(spec)  # log P(no|+)/P(no|-)
    logit = np.log(prevalence) - np.log1p(-prevalence) + read @ no_lr
    logit += np.einsum("ejk,jk->ek", yes, yes_lr - no_lr)
    return 0.5 * (1.0 + np.tanh(0.5 * logit))


def _dawid_skene_batch(
    yes: NDArray[np.float64], read: NDArray[np.float64], max_iter: int, tol: float
) -> list[DawidSkeneResult]:
    """EM for several classes at once; each class stops when it converges."""
    n_exams, _, n_classes = yes.shape
    n = read.sum(axis=1)
    seen = n > 0
    yes, read = yes[seen], read[seen]
    s = yes.sum(axis=1)
    post = s / n[seen][:, None]  # soft majority vote
    total = s.sum(axis=0)
    degenerate = (total == 0) | (total == read.sum())  # all no, or all yes
    params = _m_step(post, yes, read)
    active = ~degenerate
    n_iter = np.zeros(n_classes, dtype=int)
    converged = degenerate.copy()
    for _ in range(max_iter):
        if not active.any():
            break
        post_new = _e_step(params, yes, read)
        new = _m_step(post_new, yes, read)
        change = np.zeros(n_classes)
        for old_p, new_p in zip(params, new, strict=True):
            diff = np.abs(np.nan_to_num(new_p, nan=0.0) - np.nan_to_num(old_p, nan=0.0))
            change = np.maximum(change, diff.reshape(-1, n_classes).max(axis=0))
        params = tuple(
            np.where(active, new_p, old_p)
            for old_p, new_p in zip(params, new, strict=True)
        )
        n_iter += active
        done = active & (change < tol)
        converged |= done
        active &= ~done
    post = np.where(degenerate, post, _e_step(params, yes, read))
    prevalence, sens, spec = params
    results = []
    for k in range(n_classes):
        full = np.full(n_exams, prevalence[k])
        full[seen] = post[:, k]
        results.append(
            DawidSkeneResult(
                posterior=full,
                prevalence=float(prevalence[k]),
                sensitivity=sens[:, k].copy(),
                specificity=spec[:, k].copy(),
                n_iter=int(n_iter[k]),
                converged=bool(converged[k]),
            )
        )
    return results


def dawid_skene(
    readings_for_one_class: NDArray[np.int8],
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> DawidSkeneResult:
    """Binary Dawid-Skene (1979, Appl Stat 28:20) EM for one class.

    readings_for_one_class: (E, J) int8, 1 yes / 0 no / -1 not read.

    Model: exam e is positive with probability pi; reader j says yes with
    probability sens_j if positive and 1 - spec_j if negative, independently given
    the truth. EM starts from the soft majority vote (posterior = share of yes among
    the exam's readers) and alternates

    * M-step: ``pi = mean_e T_e``, ``sens_j = sum T_e y_ej / sum T_e`` and
      ``spec_j = sum (1-T_e)(1-y_ej) / sum (1-T_e)`` over the exams j read;
    * E-step: ``logit T_e = logit pi + sum_j [y log(sens/(1-spec)) +
      (1-y) log((1-sens)/spec)]`` over the readers of e (probabilities clipped to
      [1e-9, 1-1e-9] inside the logs),

    until no parameter moves by ``tol`` or more. With fewer than three readers per
    exam the model is not identifiable; the estimates then only restate the data.
    A class with no yes (no no) at all returns posterior 0 (1), prevalence 0 (1),
    sensitivity NaN (1) and specificity 1 (NaN) without iterating.
    """
    readings = np.asarray(readings_for_one_class)
    if readings.ndim != 2:
        raise ValueError("readings_for_one_class must have shape (exams, readers)")
    return dawid_skene_multilabel(readings[:, :, None], max_iter=max_iter, tol=tol)[0]


def dawid_skene_multilabel(
    readings: NDArray[np.int8],
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    batch_classes: int | None = None,
) -> list[DawidSkeneResult]:
    """Dawid-Skene per class (binary relevance), one result per class.

    readings: (E, J, K) int8. Each class is an independent binary model (see
    :func:`dawid_skene`); classes are run together, vectorised, in batches of
    ``batch_classes`` (default: as many as keep the float arrays near 100 MB).
    """
    readings = np.asarray(readings)
    _read_and_counts(readings)  # validates
    n_exams, n_readers, n_classes = readings.shape
    read = (readings[:, :, 0] >= 0).astype(np.float64)
    if batch_classes is None:
        batch_classes = max(1, int(12_500_000 // max(n_exams * n_readers, 1)))
    results: list[DawidSkeneResult] = []
    for start in range(0, n_classes, batch_classes):
        yes = (readings[:, :, start : start + batch_classes] == 1).astype(np.float64)
        results += _dawid_skene_batch(yes, read, max_iter, tol)
    return results
