"""Per-exam features of a block of readings, from which the counts are summed.

Part of :mod:`annotator.agreement`: :mod:`~annotator.agreement.counts` validates a
block (``_prepare``), turns it into groups of feature columns (``_groups``, one per
number of readers, reader pair and reader, folded by ``_combined``), and, for the
bootstrap, folds exams with equal readings into one row (``_distinct``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Groups = tuple[tuple[int, ...], ...]


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


def _categories(
    read: NDArray[np.bool_], yes: NDArray[np.bool_], groups: Groups
) -> list[NDArray[np.intp]]:
    """Each exclusive group's category per exam and reader (E, J): the position of
    the chosen class in the group, the group's size for none, -1 where not read."""
    out = []
    for members in groups:
        chosen = yes[:, :, list(members)]
        many = chosen.sum(axis=2) > 1
        if many.any():
            e, j = np.argwhere(many)[0]
            raise ValueError(
                f"reader {j} chose two classes of one exclusive group on exam {e}"
            )
        category = np.where(chosen.any(axis=2), chosen.argmax(axis=2), len(members))
        out.append(np.where(read, category, -1))
    return out


def _category_counts(category: NDArray[np.intp], size: int) -> NDArray[np.uint8]:
    """Readers per category (E, size) from categories (E, J); -1 counts nowhere."""
    counts = np.zeros((category.shape[0], size), np.uint8)
    for c in range(size):
        counts[:, c] = (category == c).sum(axis=1)
    return counts


def _groups(
    read: NDArray[np.bool_],
    yes: NDArray[np.bool_],
    consensus: NDArray[np.int8] | None,
    pairs: Sequence[tuple[int, int]],
    reference: NDArray[np.int8] | None = None,
    groups: Groups = (),
    people: NDArray[np.bool_] | None = None,
) -> Iterator[_Group]:
    """Features of a block: by number of readers, per reader pair, per reader.

    ``people`` marks the readers that are not models: the others' majority a
    reader is scored against (leave one out) counts only them."""
    n_exams, n_readers, _ = yes.shape
    n = read.sum(axis=1)
    yes8 = yes.view(np.uint8)
    s = yes8.sum(axis=1, dtype=np.uint8 if n_readers < 256 else np.uint16)
    categories = _categories(read, yes, groups)
    sizes = [len(members) + 1 for members in groups]
    counted = [
        _category_counts(c, size) for c, size in zip(categories, sizes, strict=True)
    ]
    if people is None or people.all():
        n_people, s_people = n, s
    else:
        n_people = read[:, people].sum(axis=1)
        s_people = yes8[:, people].sum(axis=1, dtype=np.uint16)
    ref_resolved = None if reference is None else reference >= 0
    ref_positive = None if reference is None else reference == 1
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
        if ref_resolved is not None and v >= 1:
            rv = ref_resolved if rows is None else ref_resolved[rows]
            columns.append(_Column(("referenced", v), rv, [("GE", ())]))
        for g, per_category in enumerate(counted):
            nc = per_category if rows is None else per_category[rows]
            wide = nc.astype(np.uint16 if v <= 255 else np.uint32)
            columns += [
                _Column(("gx", g, v), nc, [(f"G{g}X", (v,))]),
                _Column(("gq", g, v), (wide * wide).sum(axis=1), [(f"G{g}Q", (v,))]),
            ]
        yield _Group(rows, len(sv), max(v * v, 1), columns)
    for p, (a, b) in enumerate(pairs):
        both = read[:, a] & read[:, b]
        count = int(np.count_nonzero(both))
        if count == 0:
            continue
        rows = None if count == n_exams else np.flatnonzero(both)
        pick = slice(None) if rows is None else rows
        ya, yb = yes[pick, a], yes[pick, b]
        columns = [
            _Column(("ones",), None, [("PN", (p,))]),
            _Column(("yes", a), ya, [("PA", (p,))]),
            _Column(("yes", b), yb, [("PB", (p,))]),
            _Column(("both", a, b), ya & yb, [("P11", (p,))]),
        ]
        if reference is not None:
            known, truth = ref_resolved[pick], ref_positive[pick]
            wrong_a, wrong_b = ya != truth, yb != truth
            columns += [
                _Column(("mb", a, b), wrong_a & ~wrong_b & known, [("MB", (p,))]),
                _Column(("mc", a, b), ~wrong_a & wrong_b & known, [("MC", (p,))]),
            ]
        for g, (category, size) in enumerate(zip(categories, sizes, strict=True)):
            cell = category[pick, a] * size + category[pick, b]
            table = cell[:, None] == np.arange(size * size)
            columns.append(_Column(("gpc", g, a, b), table, [(f"G{g}PC", (p,))]))
        yield _Group(rows, count, 1, columns)
    against = []
    if consensus is not None:
        against.append(("", consensus >= 0, consensus == 1, ("RN", "R1", "C1", "TP")))
    if reference is not None:
        against.append(("g", ref_resolved, ref_positive, ("GN", "G1", "GC", "GTP")))
    for j in range(n_readers):
        count = int(np.count_nonzero(read[:, j]))
        if count == 0:
            continue
        rows = None if count == n_exams else np.flatnonzero(read[:, j])
        pick = slice(None) if rows is None else rows
        yj = yes[pick, j]
        # The other people reading each exam, and how many of them said yes.
        own = int(people[j]) if people is not None else 1
        others = (n_people[pick].astype(np.int16) - own)[:, None]
        others_yes = 2 * (s_people[pick].astype(np.int16) - own * yj)
        resolved = (others > 0) & (others_yes != others)
        positive = others_yes > others
        columns = [
            _Column(("lresolved", j), resolved, [("LN", (j,))]),
            _Column(("lyes&resolved", j), yj & resolved, [("L1", (j,))]),
            _Column(("lpositive", j), positive, [("LC", (j,))]),
            _Column(("lyes&positive", j), yj & positive, [("LTP", (j,))]),
        ]
        for tag, resolved_all, positive_all, names in against:
            resolved, positive = resolved_all[pick], positive_all[pick]
            known, said, true, both = names
            columns += [
                _Column((tag + "resolved",), resolved, [(known, (j,))]),
                _Column((tag + "yes&resolved", j), yj & resolved, [(said, (j,))]),
                _Column((tag + "positive",), positive, [(true, (j,))]),
                _Column((tag + "yes&positive", j), yj & positive, [(both, (j,))]),
            ]
        if columns:
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


def _distinct(
    readings: NDArray[np.int8],
    consensus: NDArray[np.int8] | None,
    weights: NDArray,
    reference: NDArray[np.int8] | None = None,
) -> tuple[NDArray[np.int8], NDArray | None, NDArray[np.float64], NDArray | None]:
    """Exams with equal readings (and consensus, reference) as one row weighing
    their sum.

    Every count is a sum over exams of weight x feature, and an exam's features
    are a function of its readings and consensus, so exams that share both can
    share a row: the replicate weights are summed per distinct row (exact: they
    are integers) and the bootstrap's GEMM runs over the distinct rows only. A
    campaign's exams repeat a few thousand patterns (most reads agree), about
    1 row in 6 on a realistic 3-reader campaign. Returns (readings, consensus,
    weights (B, distinct rows), reference) in no particular row order.
    """
    n_exams = readings.shape[0]
    if n_exams == 0:
        return readings, consensus, weights.astype(np.float64), reference
    # Two bits per value (read, yes) identify -1 / 0 / 1 exactly.
    flat = readings.reshape(n_exams, -1)
    bits = [flat >= 0, flat == 1]
    for labels in (consensus, reference):
        if labels is not None:
            bits += [labels >= 0, labels == 1]
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
        None if reference is None else reference[first],
    )
