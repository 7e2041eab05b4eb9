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


Groups = tuple[tuple[int, ...], ...]


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
