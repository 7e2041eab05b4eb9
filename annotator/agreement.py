"""Inter-rater agreement of multi-label readings, from counts that merge across chunks.

Pure numpy and the standard library (no Django), so the same code runs in a Celery
task, a notebook or a Spark/Dask job.

Data
----
A campaign's readings are a tensor ``R`` of shape ``(exams, readers, classes)``, int8:
1 = the reader chose the class, 0 = did not, -1 = the reader did not read the exam
(then the whole ``R[e, j, :]`` is -1; a partly read row is rejected). Every statistic
is per class (binary yes/no), computed from sums over exams (:class:`Counts`), so
``count_chunk(A) + count_chunk(B) == count_chunk(concat(A, B))`` exactly: counts are
integers held in float64, exact below 2**53.

Notation for one class: exam ``e`` was read by ``n_e`` readers, ``s_e`` of whom said
yes. Only exams with ``n_e >= 2`` carry information about agreement; exams read once
count towards ``n_positive_reads`` and ``prevalence`` and nowhere else.

Formulas (sums over exams with ``n_e >= 2`` unless said otherwise)
------------------------------------------------------------------
* ``prevalence`` = positive reads / reads, over every read exam.
* Reader pairs within an exam, pooled over exams (the pairwise generalisation of the
  2x2 table; each of the ``n_e(n_e-1)/2`` unordered pairs of readers of an exam is one
  observation): ``a = sum s(s-1)/2`` both-yes pairs, ``d = sum (n-s)(n-s-1)/2``
  both-no pairs, ``b+c = sum s(n-s)`` discordant pairs, ``P = a+b+c+d``.
  - ``observed_agreement`` ``p_o = (a+d)/P``.
  - ``pabak = 2 p_o - 1`` (Byrt, Bishop & Carlin 1993, J Clin Epidemiol 46:423).
  - ``ac1 = (p_o - p_e)/(1 - p_e)`` with ``p_e = 2 pi (1-pi)`` and
    ``pi = (2a+b+c)/(2P) = sum s(n-1) / sum n(n-1)`` (Gwet 2008, Br J Math Stat
    Psychol 61:29). With the same number of readers on every exam this is Gwet's
    multi-rater AC1; with two readers, the classic 2x2 formula.
  - ``positive_agreement = 2a/(2a+b+c) = sum s(s-1) / sum s(n-1)`` and
    ``negative_agreement = 2d/(2d+b+c)`` (Cicchetti & Feinstein 1990, J Clin
    Epidemiol 43:551; the multi-rater form is Uebersax's, "Raw agreement indices",
    john-uebersax.com/stat/raw.htm).
* ``fleiss_kappa``: Fleiss & Cuzick (1979, Appl Psychol Meas 3:537), the binary
  Fleiss kappa for unequal numbers of readers per exam:
  ``1 - sum[s(n-s)/n] / (N (nbar-1) pbar qbar)``, N = exams with ``n >= 2``,
  ``nbar = sum n / N``, ``pbar = sum s / sum n``, ``qbar = 1 - pbar``. When every
  exam has the same number of readers it *is* Fleiss (1971) and equals statsmodels'
  ``fleiss_kappa(aggregate_raters(...))`` (which refuses unequal numbers).
* ``krippendorff_alpha``, nominal, binary, incomplete designs (Krippendorff 2011,
  "Computing Krippendorff's alpha-reliability"): pairable values only (``n >= 2``),
  coincidence ``o_01 = sum s(n-s)/(n-1)``, ``n.. = sum n``, ``n_1 = sum s``,
  ``n_0 = n.. - n_1``; ``alpha = 1 - (n..-1) o_01 / (n_0 n_1)``. Equals
  ``krippendorff.alpha(..., level_of_measurement="nominal")``.
* ``cohen_kappa`` per reader pair, on the exams both read (Cohen 1960):
  ``(p_o - p_e)/(1 - p_e)``, ``p_e = p_A1 p_B1 + p_A0 p_B0``; equals scikit-learn's
  ``cohen_kappa_score``.
* Per reader against a consensus (exams the reader read whose consensus for the class
  is resolved): sensitivity TP/(TP+FN), specificity TN/(TN+FP), PPV TP/(TP+FP),
  F1 2TP/(2TP+FP+FN). The reader's own read is part of most consensus rules, which
  flatters these numbers; say so when reporting them.

The per-exam weights 1/n and 1/(n-1) are applied after summing, per number of readers
``n``, so the counts stay integers: ``T[n]`` exams read by n readers, ``X[n] = sum s``,
``Q[n] = sum s^2`` over those exams.

Undefined values
----------------
A statistic whose denominator is zero is undefined: ``None`` in the report (never NaN,
never a silent 0) with a reason in the class's ``undefined`` dict; internally NaN. A
class with no positive reads has undefined kappa, alpha and positive agreement; its
observed agreement, PABAK, AC1 and negative agreement are well defined (all 1) and
reported as such, next to ``n_positive_reads = 0``.

Bootstrap
---------
95% intervals by the Poisson bootstrap over exams (Hanley & MacGibbon 2006, Comput
Methods Programs Biomed 83:57; Chamandy et al. 2012): replicate ``b`` gives exam ``e``
the weight ``w_eb ~ Poisson(1)``, a pure function of ``(seed, exam key, b)``
(:func:`poisson_weights`), so chunking does not change it and replicate counts merge
by addition like the point counts. The interval is the 2.5th and 97.5th percentile
(linear interpolation) of the replicate statistics; replicates where the statistic is
undefined are dropped, and the interval is ``None`` when more than half are.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, localcontext
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CLASS_STATISTICS",
    "READER_STATISTICS",
    "Counts",
    "count_chunk",
    "merge",
    "poisson_weights",
    "report",
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
_REASONS = (
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
)

_POINT_BLOCK = 1 << 16  # exams per block when counting (bounds temporaries)
_BOOT_BLOCK = 1 << 14  # exams per block when bootstrapping
_F32_EXACT = 1 << 24  # float32 sums of non-negative integers are exact below this


# --- Counts ---------------------------------------------------------------------------


def _shapes(n_readers: int, n_classes: int) -> dict[str, tuple[int, ...]]:
    j, k = n_readers, n_classes
    p = j * (j - 1) // 2
    return {
        "T": (j + 1,),  # exams read by n readers, n = 0..J
        "X": (j + 1, k),  # sum of s over those exams
        "Q": (j + 1, k),  # sum of s^2
        "PN": (p,),  # exams both readers of the pair read
        "PA": (p, k),  # first reader's yes on those
        "PB": (p, k),  # second reader's yes
        "P11": (p, k),  # both yes
        "RN": (j, k),  # exams the reader read with a resolved consensus
        "R1": (j, k),  # ... that the reader read as yes
        "C1": (j, k),  # ... whose consensus is yes
        "TP": (j, k),  # ... both
    }


@dataclass(eq=False)
class Counts:
    """Additive sufficient statistics of a chunk of exams.

    ``point`` maps a field name to a float64 array of integer-valued sums (shapes in
    the comments of ``_shapes``: ``T`` (J+1,), ``X``/``Q`` (J+1, K), pair fields
    (J(J-1)/2, ...) in ``itertools.combinations(range(J), 2)`` order, reader fields
    (J, K)). ``boot`` holds the same fields with a leading replicate axis (B, ...),
    or is None without a bootstrap. ``a + b`` is :func:`merge`.
    """

    n_readers: int
    n_classes: int
    has_consensus: bool
    n_bootstrap: int
    seed: int
    point: dict[str, NDArray[np.float64]]
    boot: dict[str, NDArray[np.float64]] | None = None

    def __add__(self, other: Counts) -> Counts:
        return merge(self, other)


def _empty(n_readers: int, n_classes: int, lead: tuple[int, ...] = ()) -> dict:
    return {
        name: np.zeros(lead + shape)
        for name, shape in _shapes(n_readers, n_classes).items()
    }


def merge(a: Counts, b: Counts) -> Counts:
    """Counts of the union of two disjoint sets of exams (element-wise sums).

    Raises ValueError when the chunks disagree on readers, classes, whether a
    consensus was given, or the bootstrap (replicates and seed).
    """
    for attr in ("n_readers", "n_classes", "has_consensus", "n_bootstrap", "seed"):
        if getattr(a, attr) != getattr(b, attr):
            raise ValueError(f"cannot merge counts with different {attr}")
    boot = None
    if a.boot is not None and b.boot is not None:
        boot = {name: a.boot[name] + b.boot[name] for name in a.boot}
    return Counts(
        a.n_readers,
        a.n_classes,
        a.has_consensus,
        a.n_bootstrap,
        a.seed,
        {name: a.point[name] + b.point[name] for name in a.point},
        boot,
    )


# --- Poisson weights ------------------------------------------------------------------

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64's finaliser (Steele, Lea & Flood 2014), a bijection of uint64."""
    z = z ^ (z >> np.uint64(30))
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


@functools.cache
def _poisson_tables() -> tuple[
    NDArray[np.uint64], NDArray[np.uint8], NDArray[np.bool_]
]:
    """Thresholds floor(F(k) 2^64) of the Poisson(1) CDF, and a 16-bit lookup table."""
    thresholds = []
    with localcontext() as ctx:
        ctx.prec = 80
        term = Decimal(-1).exp()
        cdf, scale = Decimal(0), Decimal(2) ** 64
        for k in range(64):
            cdf += term
            t = int((cdf * scale).to_integral_value(rounding=ROUND_FLOOR))
            if t >= 2**64:
                break
            thresholds.append(t)
            term /= k + 1
    table = np.array(thresholds, dtype=np.uint64)
    lo = np.arange(1 << 16, dtype=np.uint64) << np.uint64(48)
    hi = lo | np.uint64((1 << 48) - 1)
    w_lo = np.searchsorted(table, lo, side="right")
    w_hi = np.searchsorted(table, hi, side="right")
    return table, w_lo.astype(np.uint8), w_lo != w_hi


def poisson_weights(
    exam_keys: NDArray[np.integer], seed: int, n_replicates: int
) -> NDArray[np.uint8]:
    """Bootstrap weights ``w[b, e] ~ Poisson(1)``, shape (n_replicates, exams), uint8.

    Deterministic and chunk-independent: ``w[b, e]`` depends only on ``seed``, the
    exam's integer key (use the database id; keys must be unique) and ``b``.
    ``h = mix(mix(key + mix(seed + g)) + (b+1) g)`` with splitmix64's ``mix`` and
    ``g = 0x9E3779B97F4A7C15``; ``w = #{k : floor(F(k) 2^64) <= h}`` inverts the
    Poisson(1) CDF ``F`` at the uniform ``h / 2^64`` (exact to 2^-64; weights reach
    at most 20). Replicate ``b`` does not depend on ``n_replicates``.
    """
    keys = np.asarray(exam_keys)
    if keys.ndim != 1 or not np.issubdtype(keys.dtype, np.integer):
        raise ValueError("exam_keys must be a 1-D array of integers")
    k64 = keys.astype(np.uint64) if keys.dtype.kind == "u" else keys.astype(np.int64)
    k64 = k64.view(np.uint64)
    s0 = _mix(np.array([seed % 2**64], dtype=np.uint64) + _GOLDEN)
    base = _mix(k64 + s0)
    steps = np.arange(1, n_replicates + 1, dtype=np.uint64) * _GOLDEN
    h = _mix(base[None, :] + steps[:, None])
    table, lut, ambiguous = _poisson_tables()
    top = h >> np.uint64(48)
    w = lut[top]
    edge = ambiguous[top]
    if edge.any():
        w[edge] = np.searchsorted(table, h[edge], side="right")
    return w


# --- Counting -------------------------------------------------------------------------


def _prepare(
    readings: NDArray, n_readers: int, n_classes: int
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Validate a block of readings; return (read mask (E, J), yes (E, J, K))."""
    if readings.shape[0] == 0:
        return (
            np.zeros((0, n_readers), bool),
            np.zeros((0, n_readers, n_classes), bool),
        )
    low, high = readings.min(axis=2), readings.max(axis=2)
    if low.min() < -1 or high.max() > 1:
        raise ValueError("readings must be -1 (not read), 0 (no) or 1 (yes)")
    partial = (low == -1) & (high >= 0)
    if partial.any():
        e, j = np.argwhere(partial)[0]
        raise ValueError(
            f"reader {j} has a partial reading of exam {e}: a reader who read an "
            "exam gives 0 or 1 for every class"
        )
    return low >= 0, readings == 1


@dataclass
class _Column:
    """One per-exam feature, summed into one or more count fields."""

    key: tuple | None  # equal keys over the same exams hold equal values
    values: NDArray | None  # (rows,) or (rows, K); None: a column of ones
    targets: list[tuple[str, tuple[int, ...]]]  # (field, index) to add the sum to


@dataclass
class _Group:
    """Features of one subset of a block's exams."""

    rows: NDArray[np.intp] | None  # None: every exam of the block
    n_rows: int
    vmax: int  # largest feature value (bounds the sums for exact float32)
    columns: list[_Column]


def _groups(
    read: NDArray[np.bool_],
    yes: NDArray[np.bool_],
    consensus: NDArray[np.int8] | None,
    pairs: Sequence[tuple[int, int]],
) -> Iterator[_Group]:
    """Features of a block: by number of readers, per reader pair, per reader."""
    n_exams, n_readers, _ = yes.shape
    n = read.sum(axis=1)
    yes8 = yes.view(np.uint8)
    s = yes8.sum(axis=1, dtype=np.uint8 if n_readers < 256 else np.uint16)
    values = np.unique(n)
    for v in values.tolist():
        rows = None if len(values) == 1 else np.flatnonzero(n == v)
        sv = s if rows is None else s[rows]
        sq = sv if v <= 15 else sv.astype(np.uint16 if v <= 255 else np.uint32)
        columns = [
            _Column(("ones",), None, [("T", (v,))]),
            _Column(("s", v), sv, [("X", (v,))]),
            _Column(("s2", v), sq * sq, [("Q", (v,))]),
        ]
        yield _Group(rows, len(sv), max(v * v, 1), columns)
    for p, (a, b) in enumerate(pairs):
        both = read[:, a] & read[:, b]
        count = int(np.count_nonzero(both))
        if count == 0:
            continue
        if count == n_exams:
            rows, ya, yb = None, yes[:, a], yes[:, b]
        else:
            rows = np.flatnonzero(both)
            ya, yb = yes[rows, a], yes[rows, b]
        columns = [
            _Column(("ones",), None, [("PN", (p,))]),
            _Column(("yes", a), ya, [("PA", (p,))]),
            _Column(("yes", b), yb, [("PB", (p,))]),
            _Column(("both", a, b), ya & yb, [("P11", (p,))]),
        ]
        yield _Group(rows, count, 1, columns)
    if consensus is None:
        return
    resolved_all, positive_all = consensus >= 0, consensus == 1
    for j in range(n_readers):
        count = int(np.count_nonzero(read[:, j]))
        if count == 0:
            continue
        if count == n_exams:
            rows, resolved, positive, yj = None, resolved_all, positive_all, yes[:, j]
        else:
            rows = np.flatnonzero(read[:, j])
            resolved, positive = resolved_all[rows], positive_all[rows]
            yj = yes[rows, j]
        columns = [
            _Column(("resolved",), resolved, [("RN", (j,))]),
            _Column(("yes&resolved", j), yj & resolved, [("R1", (j,))]),
            _Column(("positive",), positive, [("C1", (j,))]),
            _Column(("yes&positive", j), yj & positive, [("TP", (j,))]),
        ]
        yield _Group(rows, count, 1, columns)


def _combined(groups: Iterator[_Group]) -> list[_Group]:
    """Fold the groups that cover every exam of the block into one, dropping
    duplicate columns (in a complete design a reader's yes column serves all of
    the reader's pairs), so each distinct feature is summed once."""
    whole: dict[tuple, _Column] = {}
    out, n_rows, vmax = [], 0, 1
    for group in groups:
        if group.rows is not None:
            out.append(group)
            continue
        n_rows, vmax = group.n_rows, max(vmax, group.vmax)
        for column in group.columns:
            key = column.key if column.key is not None else (id(column),)
            if key in whole:
                whole[key].targets.extend(column.targets)
            else:
                whole[key] = _Column(key, column.values, list(column.targets))
    if whole:
        out.append(_Group(None, n_rows, vmax, list(whole.values())))
    return out


def _colsum(values: NDArray, vmax: int) -> NDArray[np.int64]:
    """Exact column sums of a small non-negative integer array (rows, K) or (rows,)."""
    if values.dtype == np.bool_:
        values = values.view(np.uint8)
    if values.ndim == 1 or values.dtype != np.uint8:
        return values.sum(axis=0, dtype=np.int64)
    # Sum groups of rows in uint8 (cannot overflow), then the group sums in int64.
    per = max(1, 255 // vmax)
    whole = values.shape[0] // per * per
    total = np.add.reduce(
        values[:whole].reshape(-1, per, values.shape[1]), axis=1, dtype=np.uint8
    ).sum(axis=0, dtype=np.int64)
    if whole < values.shape[0]:
        total += values[whole:].sum(axis=0, dtype=np.int64)
    return total


def _add_exact(out: dict, group: _Group) -> None:
    for column in group.columns:
        if column.values is None:
            total = group.n_rows
        else:
            total = _colsum(column.values, group.vmax)
        for name, index in column.targets:
            out[name][index] += total


def _distinct(
    readings: NDArray[np.int8],
    consensus: NDArray[np.int8] | None,
    weights: NDArray,
) -> tuple[NDArray[np.int8], NDArray[np.int8] | None, NDArray[np.float64]]:
    """Exams with equal readings (and consensus) as one row weighing their sum.

    Every count is a sum over exams of weight x feature, and an exam's features
    are a function of its readings and consensus, so exams that share both can
    share a row: the replicate weights are summed per distinct row (exact: they
    are integers) and the bootstrap's GEMM runs over the distinct rows only. A
    campaign's exams repeat a few thousand patterns (most reads agree), about
    1 row in 6 on a realistic 3-reader campaign. Returns (readings, consensus,
    weights (B, distinct rows)) in no particular row order.
    """
    n_exams = readings.shape[0]
    if n_exams == 0:
        return readings, consensus, weights.astype(np.float64)
    # Two bits per value (read, yes) identify -1 / 0 / 1 exactly.
    flat = readings.reshape(n_exams, -1)
    bits = [flat >= 0, flat == 1]
    if consensus is not None:
        bits += [consensus >= 0, consensus == 1]
    # Fortran-ordered readings give Fortran-ordered bits and packed bytes; the
    # void view needs each row's bytes contiguous.
    packed = np.ascontiguousarray(np.packbits(np.concatenate(bits, axis=1), axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    summed = np.stack(
        [np.bincount(inverse, weights=row, minlength=len(first)) for row in weights]
    )
    return (
        readings[first],
        None if consensus is None else consensus[first],
        summed,
    )


def _add_weighted(out: dict, group: _Group, weights: NDArray, exact32: bool) -> None:
    """out[field][:, index] += weights (B, rows) @ features (rows, M), one GEMM."""
    w = weights if group.rows is None else weights[:, group.rows]
    # float32 is exact (and several times faster here) while every sum stays
    # below 2^24: products and partial sums are then integers float32 holds,
    # and none exceeds a replicate's total weight times the largest feature.
    total = float(w.sum(axis=1).max()) if w.size else 0.0
    use32 = exact32 and total * group.vmax < _F32_EXACT
    dtype = np.float32 if use32 else np.float64
    blocks = [
        np.ones((group.n_rows, 1), dtype)
        if column.values is None
        else column.values.reshape(group.n_rows, -1)
        for column in group.columns
    ]
    features = np.concatenate(blocks, axis=1, dtype=dtype)
    sums = (w.astype(dtype, copy=False) @ features).astype(np.float64)
    col = 0
    for column, block in zip(group.columns, blocks, strict=True):
        width = block.shape[1]
        for name, index in column.targets:
            target = out[name][(slice(None), *index)]
            target += sums[:, col : col + width].reshape(target.shape)
        col += width


def count_chunk(
    readings: NDArray[np.int8],
    consensus: NDArray[np.int8] | None = None,
    *,
    weights: NDArray | None = None,
    exam_keys: NDArray[np.integer] | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> Counts:
    """Sufficient statistics of a chunk of exams (see the module docstring).

    readings: (E, J, K) int8, 1 yes / 0 no / -1 not read (whole row of a reader).
    consensus: optional (E, K) int8, 1 / 0 / -1 unresolved (see consensus.py); adds
        the per-reader tables against it.
    weights: optional (E,) non-negative frequency weights; weight w counts an exam
        as w copies (integer weights keep the counts exact).
    exam_keys: (E,) unique integer keys (database ids), required for a bootstrap;
        replicate weights are a function of the key (:func:`poisson_weights`).
    bootstrap: number of Poisson-bootstrap replicates B (0: none).

    Raises ValueError on malformed input; never on degenerate data.
    """
    readings = np.asarray(readings)
    if readings.ndim != 3 or not np.issubdtype(readings.dtype, np.integer):
        raise ValueError("readings must be an integer array (exams, readers, classes)")
    n_exams, n_readers, n_classes = readings.shape
    if n_readers < 1 or n_classes < 1:
        raise ValueError("readings need at least one reader and one class")
    wide = readings.dtype != np.int8 and readings.size
    if wide and (readings.min() < -1 or readings.max() > 1):  # before int8 wraps
        raise ValueError("readings must be -1 (not read), 0 (no) or 1 (yes)")
    readings = readings.astype(np.int8, copy=False)
    if consensus is not None:
        consensus = np.asarray(consensus)
        if consensus.shape != (n_exams, n_classes):
            raise ValueError("consensus must have shape (exams, classes)")
        if consensus.size and (consensus.min() < -1 or consensus.max() > 1):
            raise ValueError("consensus must be -1 (unresolved), 0 or 1")
        consensus = consensus.astype(np.int8, copy=False)
    if bootstrap < 0:
        raise ValueError("bootstrap must be a number of replicates >= 0")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (n_exams,) or (weights < 0).any():
            raise ValueError("weights must be (exams,) and non-negative")
    if bootstrap:
        if exam_keys is None:
            raise ValueError("a bootstrap needs exam_keys (stable integer exam ids)")
        exam_keys = np.asarray(exam_keys)
        if exam_keys.shape != (n_exams,):
            raise ValueError("exam_keys must have shape (exams,)")
        if len(np.unique(exam_keys)) != n_exams:
            raise ValueError("exam_keys must be unique (equal keys get equal weights)")
    pairs = list(combinations(range(n_readers), 2))

    def blocks(size: int) -> Iterator[tuple[slice, Iterator[_Group]]]:
        for start in range(0, n_exams, size):
            sl = slice(start, start + size)
            read, yes = _prepare(readings[sl], n_readers, n_classes)
            cons = None if consensus is None else consensus[sl]
            yield sl, _combined(_groups(read, yes, cons, pairs))

    point = _empty(n_readers, n_classes)
    if weights is None:
        for _, groups in blocks(_POINT_BLOCK):
            for group in groups:
                _add_exact(point, group)
    else:
        point1 = _empty(n_readers, n_classes, (1,))
        for sl, groups in blocks(_POINT_BLOCK):
            for group in groups:
                _add_weighted(point1, group, weights[None, sl], exact32=False)
        point = {name: value[0] for name, value in point1.items()}
    boot = None
    if bootstrap:
        boot = _empty(n_readers, n_classes, (bootstrap,))
        for start in range(0, n_exams, _BOOT_BLOCK):
            sl = slice(start, start + _BOOT_BLOCK)
            w = poisson_weights(exam_keys[sl], seed, bootstrap)
            block = readings[sl]
            cons = None if consensus is None else consensus[sl]
            if weights is None:
                block, cons, w = _distinct(block, cons, w)
            else:
                # Real-valued weights: summing them first would change the
                # rounding, so every exam keeps its row.
                w = w * weights[None, sl]
            read, yes = _prepare(block, n_readers, n_classes)
            for group in _combined(_groups(read, yes, cons, pairs)):
                _add_weighted(boot, group, w, exact32=weights is None)
    return Counts(
        n_readers, n_classes, consensus is not None, bootstrap, seed, point, boot
    )


# --- Statistics from counts -----------------------------------------------------------


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
    reasons = np.where((reasons == 0) & ~np.isfinite(value), len(_REASONS), reasons)
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


def _statistics(counts: dict, n_classes: int, consensus: bool) -> dict:
    """All statistics per class and pooled (micro): name -> (per-class, micro)."""
    table = _table(counts, n_classes)
    per_class = _class_stats(table)
    micro = _class_stats(_pooled(table))
    if consensus:
        per_class.update(_reader_stats(table))
        micro.update(_reader_stats(_pooled(table)))
    return {name: (per_class[name], micro[name]) for name in per_class}


def _macro(values: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    """Mean over the class axis (kept, length 1) of the defined values.

    Returns (mean with NaN where no class is defined, reason codes, classes used).
    """
    defined = ~np.isnan(values)
    n = defined.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(defined, values, 0.0).sum(axis=-1, keepdims=True) / n
    return np.where(n > 0, mean, np.nan), np.where(n > 0, 0, 16), n


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
                _REASONS[reason] if reason < len(_REASONS) else ("zero denominator")
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
    point = _statistics(counts.point, k, counts.has_consensus)
    boot = None
    if counts.boot is not None:
        boot = _statistics(counts.boot, k, counts.has_consensus)
    levels: dict[str, dict[str, _Stat]] = {"class": {}, "micro": {}, "macro": {}}
    for name, (per_class, micro) in point.items():
        boot_class = boot_micro = boot_macro = None
        if boot is not None:
            (boot_class, _), (boot_micro, _) = boot[name]
            boot_macro = _macro(boot_class)[0]
        levels["class"][name] = _stat(per_class, boot_class, b)
        levels["micro"][name] = _stat(micro, boot_micro, b)
        mean, reason, n = _macro(per_class[0])
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


def report(
    counts: Counts, *, class_codes: Sequence[str], reader_names: Sequence[str]
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
    return {
        "n_exams": _number(counts.point["T"][1:].sum()),
        "readers": reader_names,
        "classes": classes,
        "reader_stats": reader_stats,
        "macro": summary["macro"],
        "micro": summary["micro"],
    }
