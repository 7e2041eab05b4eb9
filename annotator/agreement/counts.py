"""Additive counts of a chunk of exams: Counts, count_chunk and merge.

Part of :mod:`annotator.agreement`, whose module docstring defines the readings
tensor and the sums (``T``, ``X``, ``Q``, pair and reader tables) counted here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from annotator.agreement.features import (
    Groups,
    _combined,
    _distinct,
    _Group,
    _groups,
    _prepare,
)
from annotator.agreement.weights import poisson_weights

__all__ = ["Counts", "count_chunk", "merge"]

_POINT_BLOCK = 1 << 16  # exams per block when counting (bounds temporaries)
_BOOT_BLOCK = 1 << 14  # exams per block when bootstrapping
_F32_EXACT = 1 << 24  # float32 sums of non-negative integers are exact below this


def _shapes(
    n_readers: int, n_classes: int, groups: Groups = (), reference: bool = False
) -> dict[str, tuple[int, ...]]:
    j, k = n_readers, n_classes
    p = j * (j - 1) // 2
    fields = {
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
        # Against the majority of the other readers of the exam (leave one
        # out): exams the reader read where the others have a strict majority.
        "LN": (j, k),
        "L1": (j, k),  # ... that the reader read as yes
        "LC": (j, k),  # ... where the others' majority is yes
        "LTP": (j, k),  # ... both
    }
    if reference:
        fields |= {
            # Against a reference standard (exams the reader read whose reference for
            # the class is known), and each pair's errors for McNemar's test.
            "GN": (j, k),  # exams the reader read with a reference
            "G1": (j, k),  # ... that the reader read as yes
            "GC": (j, k),  # ... whose reference is yes
            "GTP": (j, k),  # ... both
            "MB": (p, k),  # exams both read with a reference: first wrong, second right
            "MC": (p, k),  # ... first right, second wrong
            "GE": (k,),  # exams with a reference
        }
    # Per exclusive group g of C classes, C + 1 categories (the last "none"):
    # n_c = readers of the exam in category c.
    for g, members in enumerate(groups):
        c = len(members) + 1
        fields[f"G{g}X"] = (j + 1, c)  # sum of n_c over exams read by n readers
        fields[f"G{g}Q"] = (j + 1,)  # sum of sum_c n_c^2
        fields[f"G{g}PC"] = (p, c * c)  # pair's (first, second) category table
    return fields


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
    has_reference: bool = False
    groups: Groups = ()  # class indices of each exclusive group counted

    def __add__(self, other: Counts) -> Counts:
        return merge(self, other)

    def __iadd__(self, other: Counts) -> Counts:
        """Add ``other``'s counts to these, in place (no third set of arrays)."""
        _check_compatible(self, other)
        for name, value in self.point.items():
            value += other.point[name]
        if self.boot is not None and other.boot is not None:
            for name, value in self.boot.items():
                value += other.boot[name]
        return self


def _empty(
    n_readers: int,
    n_classes: int,
    groups: Groups = (),
    lead: tuple[int, ...] = (),
    reference: bool = False,
) -> dict:
    shapes = _shapes(n_readers, n_classes, groups, reference)
    if not lead:
        return {name: np.zeros(shape) for name, shape in shapes.items()}
    # Replicate fields are (B, first, ...) views of (first, B, ...) arrays, so
    # the slice a pair or a reader adds its sums to, [:, p], is contiguous: B
    # strided rows cost most of a many-reader bootstrap (780 pairs at 40).
    return {
        name: np.moveaxis(np.zeros((shape[0], *lead, *shape[1:])), 0, len(lead))
        if shape
        else np.zeros(lead)
        for name, shape in shapes.items()
    }


def _check_compatible(a: Counts, b: Counts) -> None:
    for attr in (
        "n_readers",
        "n_classes",
        "has_consensus",
        "has_reference",
        "groups",
        "n_bootstrap",
        "seed",
    ):
        if getattr(a, attr) != getattr(b, attr):
            raise ValueError(f"cannot merge counts with different {attr}")


def merge(a: Counts, b: Counts) -> Counts:
    """Counts of the union of two disjoint sets of exams (element-wise sums).

    Raises ValueError when the chunks disagree on readers, classes, whether a
    consensus was given, or the bootstrap (replicates and seed).
    """
    _check_compatible(a, b)
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
        a.has_reference,
        a.groups,
    )


# --- Counting -------------------------------------------------------------------------


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
    reference: NDArray[np.int8] | None = None,
    groups: Sequence[Sequence[int]] = (),
    machines: Sequence[int] = (),
    into: Counts | None = None,
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
    reference: optional (E, K) int8 reference standard, 1 / 0 / -1 unknown; adds
        the per-reader tables against it and each pair's errors (McNemar).
    groups: exclusive groups, each the class indices of one multi-category
        choice (disjoint); a reader who chose none of a group's classes is in its
        category "none", one who chose two is refused (ValueError).
    machines: indices of readers that are models: left out of the others'
        majority each reader is scored against (leave one out), counted
        everywhere else.
    into: counts of other exams to add these to, in place, and return
        (``into + count_chunk(...)`` without a second set of arrays: with many
        readers and a bootstrap the pair fields are hundreds of MB); it must
        have been counted with the same readers, classes, consensus, reference,
        groups, bootstrap and seed (ValueError otherwise).

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
    consensus = _labels("consensus", consensus, n_exams, n_classes)
    reference = _labels("reference", reference, n_exams, n_classes)
    group_indices = _check_groups(groups, n_classes)
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
    people = np.ones(n_readers, dtype=bool)
    for j in machines:
        if not 0 <= j < n_readers:
            raise ValueError("machines must be reader indices")
        people[j] = False

    def blocks(size: int) -> Iterator[tuple[slice, Iterator[_Group]]]:
        for start in range(0, n_exams, size):
            sl = slice(start, start + size)
            read, yes = _prepare(readings[sl], n_readers, n_classes)
            cons = None if consensus is None else consensus[sl]
            ref = None if reference is None else reference[sl]
            yield (
                sl,
                _combined(_groups(read, yes, cons, pairs, ref, group_indices, people)),
            )

    has_reference = reference is not None
    shape = Counts(
        n_readers,
        n_classes,
        consensus is not None,
        bootstrap,
        seed,
        {},
        None,
        has_reference,
        group_indices,
    )
    if into is not None:
        _check_compatible(into, shape)
    point = (
        into.point
        if into is not None
        else _empty(n_readers, n_classes, group_indices, (), has_reference)
    )
    if weights is None:
        for _, groups in blocks(_POINT_BLOCK):
            for group in groups:
                _add_exact(point, group)
    else:
        point1 = _empty(n_readers, n_classes, group_indices, (1,), has_reference)
        for sl, groups in blocks(_POINT_BLOCK):
            for group in groups:
                _add_weighted(point1, group, weights[None, sl], exact32=False)
        for name, value in point1.items():
            point[name] += value[0]
    boot = None
    if bootstrap:
        boot = (
            into.boot
            if into is not None
            else _empty(
                n_readers, n_classes, group_indices, (bootstrap,), has_reference
            )
        )
        for start in range(0, n_exams, _BOOT_BLOCK):
            sl = slice(start, start + _BOOT_BLOCK)
            w = poisson_weights(exam_keys[sl], seed, bootstrap)
            block = readings[sl]
            cons = None if consensus is None else consensus[sl]
            ref = None if reference is None else reference[sl]
            if weights is None:
                block, cons, w, ref = _distinct(block, cons, w, ref)
            else:
                # Real-valued weights: summing them first would change the
                # rounding, so every exam keeps its row.
                w = w * weights[None, sl]
            read, yes = _prepare(block, n_readers, n_classes)
            features = _groups(read, yes, cons, pairs, ref, group_indices, people)
            for group in _combined(features):
                _add_weighted(boot, group, w, exact32=weights is None)
    if into is not None:
        return into
    shape.point, shape.boot = point, boot
    return shape


def _labels(
    name: str, labels: NDArray | None, n_exams: int, n_classes: int
) -> NDArray[np.int8] | None:
    """A consensus or reference array (E, K) of 1 / 0 / -1, validated."""
    if labels is None:
        return None
    labels = np.asarray(labels)
    if labels.shape != (n_exams, n_classes):
        raise ValueError(f"{name} must have shape (exams, classes)")
    if labels.size and (labels.min() < -1 or labels.max() > 1):
        raise ValueError(f"{name} must be -1 (unknown), 0 or 1")
    return labels.astype(np.int8, copy=False)


def _check_groups(groups: Sequence[Sequence[int]], n_classes: int) -> Groups:
    out, seen = [], set()
    for members in groups:
        members = tuple(int(k) for k in members)
        if not members or len(set(members)) != len(members):
            raise ValueError("each group is a non-empty list of distinct classes")
        if min(members) < 0 or max(members) >= n_classes:
            raise ValueError("group classes must be indices of the classes axis")
        if seen & set(members):
            raise ValueError("groups must not share classes")
        seen |= set(members)
        out.append(members)
    return tuple(out)
