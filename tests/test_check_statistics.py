"""The reader-check statistics (annotator.agreement.checks) against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score

from annotator.agreement import checks, poisson_weights

CODES = ["A", "B", "C"]


def _design(seed: int, n: int, n_readers: int, agree: float):
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, len(CODES))) < rng.uniform(0.05, 0.6)).astype(np.int8)
    labels = np.where(rng.random(truth.shape) < agree, truth, 1 - truth).astype(np.int8)
    readers = rng.integers(0, n_readers, n)
    periods = rng.integers(0, 3, n)
    keys = rng.choice(10**6, size=n, replace=False).astype(np.int64) + 1
    return truth, labels, readers, periods, keys


def _same(got, expected):
    if expected is None or math.isnan(expected):
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.floats(0.3, 1.0))
def test_calibration_scores_equal_sklearn_per_reader_class_and_period(seed, n, agree):
    truth, labels, readers, periods, keys = _design(seed, n, 3, agree)
    # Some reference cells unknown: they drop out of that class's table.
    truth[np.random.default_rng(seed).random(truth.shape) < 0.1] = -1
    result = checks.calibration(
        labels,
        truth,
        readers,
        periods,
        keys,
        class_codes=CODES,
        reader_names=["r0", "r1", "r2"],
        period_names=["W1", "W2", "W3"],
    )
    assert result["n_reads"] == n
    for j, name in enumerate(["r0", "r1", "r2"]):
        mine = readers == j
        if not mine.any():
            assert name not in result["readers"]
            continue
        entry = result["readers"][name]
        assert entry["n_reads"] == int(mine.sum())
        for k, code in enumerate(CODES):
            known = mine & (truth[:, k] >= 0)
            t, p = truth[known, k], labels[known, k]
            cell = entry["classes"][code]
            with np.errstate(all="ignore"):
                _same(
                    cell["recall"],
                    recall_score(t, p, zero_division=np.nan) if t.size else None,
                )
                _same(
                    cell["precision"],
                    precision_score(t, p, zero_division=np.nan) if t.size else None,
                )
                _same(
                    cell["f1"], f1_score(t, p, zero_division=np.nan) if t.size else None
                )
                _same(
                    cell["specificity"],
                    recall_score(1 - t, 1 - p, zero_division=np.nan)
                    if t.size
                    else None,
                )
        for p_index, period in enumerate(["W1", "W2", "W3"]):
            rows = mine & (periods == p_index)
            if not rows.any():
                assert period not in entry["periods"]
                continue
            known = truth[rows] >= 0
            t, p = truth[rows][known], labels[rows][known]
            cell = entry["periods"][period]
            assert cell["n_reads"] == int(rows.sum())
            _same(
                cell["recall"],
                recall_score(t, p, zero_division=np.nan) if t.size else None,
            )


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 120), st.floats(0.3, 1.0))
def test_retest_kappa_equals_sklearn_cohen_kappa(seed, n, agree):
    first, again, readers, _periods, keys = _design(seed, n, 2, agree)
    result = checks.retest(
        again, first, readers, keys, class_codes=CODES, reader_names=["r0", "r1"]
    )
    assert result["n_rereads"] == n
    for j, name in enumerate(["r0", "r1"]):
        mine = readers == j
        if not mine.any():
            continue
        entry = result["readers"][name]
        assert entry["n_exams"] == int(mine.sum())
        kappas = []
        for k, code in enumerate(CODES):
            a, b = first[mine, k], again[mine, k]
            with np.errstate(all="ignore"):
                expected = cohen_kappa_score(a, b) if len(set(a) | set(b)) > 1 else None
            _same(entry["classes"][code]["kappa"], expected)
            assert entry["classes"][code]["observed_agreement"] == pytest.approx(
                float((a == b).mean())
            )
            if expected is not None and not math.isnan(expected):
                kappas.append(expected)
        _same(entry["macro"]["kappa"], float(np.mean(kappas)) if kappas else None)


def test_retest_intervals_are_percentiles_of_exam_weighted_kappas():
    first, again, readers, _p, keys = _design(5, 150, 1, 0.85)
    result = checks.retest(
        again,
        first,
        readers,
        keys,
        class_codes=CODES,
        reader_names=["r"],
        bootstrap=80,
        seed=2,
    )
    weights = poisson_weights(keys, 2, 80)
    replicates = [
        cohen_kappa_score(first[:, 1], again[:, 1], sample_weight=w) for w in weights
    ]
    expected = np.percentile(replicates, [2.5, 97.5])
    got = result["readers"]["r"]["classes"]["B"]["ci95"]["kappa"]
    assert got == pytest.approx(list(expected))


def test_the_reads_of_one_exam_share_its_bootstrap_weight():
    # Two readers on the same exams: their replicates resample the same exams,
    # so identical reads give identical intervals.
    truth, labels, _r, periods, keys = _design(8, 60, 1, 0.8)
    both = checks.calibration(
        np.concatenate([labels, labels]),
        np.concatenate([truth, truth]),
        np.repeat([0, 1], 60),
        np.concatenate([periods, periods]),
        np.concatenate([keys, keys]),
        class_codes=CODES,
        reader_names=["a", "b"],
        period_names=["1", "2", "3"],
        bootstrap=40,
        seed=1,
    )
    a, b = both["readers"]["a"], both["readers"]["b"]
    assert a["classes"] == b["classes"] and a["micro"] == b["micro"]
    assert both["n_exams"] == 60 and both["n_reads"] == 120


@pytest.mark.parametrize(
    ("labels", "truth", "message"),
    [
        (np.zeros((2, 3)), np.zeros((3, 3)), "one unit per read"),
        (np.full((2, 3), 2), np.zeros((2, 3)), "0 or 1"),
    ],
)
def test_bad_tables_are_refused(labels, truth, message):
    with pytest.raises(ValueError, match=message):
        checks.calibration(
            labels,
            truth,
            np.zeros(2, int),
            np.zeros(2, int),
            np.arange(2),
            class_codes=CODES,
            reader_names=["r"],
            period_names=["W"],
        )
