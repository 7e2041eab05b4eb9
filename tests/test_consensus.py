"""Consensus rules per exam, the adjudication worklist, and Dawid-Skene."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.consensus import (
    Method,
    consensus_labels,
    dawid_skene,
    dawid_skene_multilabel,
    disagreeing_classes,
    needs_adjudication,
)

X = -1  # not read


def exams(*rows) -> np.ndarray:
    """Readings from rows of per-reader label lists; X for a reader who did not read."""
    width = max(len(r) for row in rows for r in row if r != X)
    return np.array(
        [[[X] * width if r == X else r for r in row] for row in rows], dtype=np.int8
    )


# --- Consensus rules ------------------------------------------------------------------


def test_unanimous_readers_give_their_labels():
    labels, method = consensus_labels(exams([[1, 0, 1], [1, 0, 1]]))
    assert labels.tolist() == [[1, 0, 1]]
    assert method.tolist() == [Method.UNANIMOUS]


def test_disagreement_is_unresolved_on_the_disputed_classes_only():
    labels, method = consensus_labels(exams([[1, 0, 1], [1, 1, 1]]))
    assert labels.tolist() == [[1, -1, 1]]
    assert method.tolist() == [Method.UNRESOLVED]


def test_majority_needs_the_option_and_three_readers():
    three = exams([[1, 0], [1, 0], [0, 0]])
    assert consensus_labels(three)[1].tolist() == [Method.UNRESOLVED]
    labels, method = consensus_labels(three, majority=True)
    assert labels.tolist() == [[1, 0]]
    assert method.tolist() == [Method.MAJORITY]
    two = exams([[1, 0], [0, 0]])
    assert consensus_labels(two, majority=True)[1].tolist() == [Method.UNRESOLVED]


def test_a_majority_tie_is_unresolved():
    four = exams([[1, 1], [1, 0], [0, 0], [0, 0]])  # class 0: 2 vs 2; class 1: 1 vs 3
    labels, method = consensus_labels(four, majority=True)
    assert labels.tolist() == [[-1, 0]]
    assert method.tolist() == [Method.UNRESOLVED]


def test_majority_counts_only_readers_who_read():
    rows = exams([[1], [1], [0], X, X])
    labels, method = consensus_labels(rows, majority=True)
    assert (labels.tolist(), method.tolist()) == ([[1]], [Method.MAJORITY])


def test_one_reader_is_single_not_unanimous():
    labels, method = consensus_labels(exams([X, [0, 1], X]))
    assert labels.tolist() == [[0, 1]]
    assert method.tolist() == [Method.SINGLE]


def test_an_unread_exam_has_no_labels():
    labels, method = consensus_labels(exams([X, X], [[1], [1]]))
    assert labels.tolist() == [[-1], [1]]
    assert method.tolist() == [Method.UNREAD, Method.UNANIMOUS]


def test_adjudication_overrides_every_other_rule():
    readings = exams([[1, 0], [0, 0]], [[1, 1], [1, 1]], [[0, 0], X])
    adjudicated = np.array([[0, 1], [-1, -1], [1, -1]], dtype=np.int8)
    labels, method = consensus_labels(readings, adjudicated=adjudicated)
    assert labels.tolist() == [[0, 1], [1, 1], [1, 0]]
    assert method.tolist() == [Method.ADJUDICATED, Method.UNANIMOUS, Method.ADJUDICATED]


def test_consensus_rejects_partial_readings():
    bad = np.array([[[1, -1], [0, 0]]], dtype=np.int8)
    with pytest.raises(ValueError, match="every class"):
        consensus_labels(bad)


# --- Adjudication worklist ------------------------------------------------------------


def test_disagreeing_classes_honour_the_policy():
    readings = exams([[1, 0, 1], [0, 0, 0]], [[1, 1, 0], [1, 0, 0]], [[1, 1, 1], X])
    assert disagreeing_classes(readings).tolist() == [
        [True, False, True],
        [False, True, False],
        [False, False, False],  # one reader cannot disagree
    ]
    assert disagreeing_classes(readings, classes=[1]).tolist() == [
        [False, False, False],
        [False, True, False],
        [False, False, False],
    ]


def test_needs_adjudication_skips_settled_adjudicated_and_out_of_policy_exams():
    readings = exams(
        [[1, 0], [0, 0], [0, 0]],  # class 0 disputed; majority would settle it
        [[1, 1], [1, 0], X],  # class 1 disputed
        [[1, 1], [1, 1], X],  # unanimous
        [[0, 1], [1, 1], X],  # disputed, already adjudicated
    )
    adjudicated = np.full((4, 2), -1, dtype=np.int8)
    adjudicated[3] = [1, 1]
    queue = needs_adjudication(readings, adjudicated=adjudicated)
    assert queue.tolist() == [True, True, False, False]
    queue = needs_adjudication(readings, adjudicated=adjudicated, majority=True)
    assert queue.tolist() == [False, True, False, False]
    queue = needs_adjudication(readings, adjudicated=adjudicated, classes=[0])
    assert queue.tolist() == [True, False, False, False]


# --- Dawid-Skene ----------------------------------------------------------------------

SENSITIVITY = np.array([0.95, 0.85, 0.75, 0.90, 0.80])
SPECIFICITY = np.array([0.98, 0.95, 0.90, 0.97, 0.93])


def simulate(n_exams: int, prevalence: float, seed: int, readers_per_exam: int = 5):
    rng = np.random.default_rng(seed)
    truth = rng.random(n_exams) < prevalence
    p_yes = np.where(truth[:, None], SENSITIVITY, 1 - SPECIFICITY)
    values = (rng.random((n_exams, 5)) < p_yes).astype(np.int8)
    if readers_per_exam < 5:
        order = np.argsort(rng.random((n_exams, 5)), axis=1)
        values[np.arange(n_exams)[:, None], order[:, readers_per_exam:]] = -1
    return values, truth


@pytest.mark.parametrize(
    ("prevalence", "readers_per_exam", "seed"), [(0.1, 5, 1), (0.2, 4, 2), (0.3, 3, 3)]
)
def test_dawid_skene_recovers_reader_sensitivity_and_specificity(
    prevalence, readers_per_exam, seed
):
    values, truth = simulate(20_000, prevalence, seed, readers_per_exam)
    result = dawid_skene(values)
    assert result.converged
    assert np.abs(result.sensitivity - SENSITIVITY).max() <= 0.03
    assert np.abs(result.specificity - SPECIFICITY).max() <= 0.03
    assert result.prevalence == pytest.approx(truth.mean(), abs=0.01)
    assert ((result.posterior > 0.5) == truth).mean() > 0.95


def test_dawid_skene_handles_classes_without_positives_or_negatives():
    none = np.zeros((50, 3), dtype=np.int8)
    none[:5, 2] = -1
    result = dawid_skene(none)
    assert result.converged and result.n_iter == 0
    assert result.prevalence == 0 and (result.posterior == 0).all()
    assert np.isnan(result.sensitivity).all()
    assert (result.specificity == 1).all()
    every = dawid_skene(np.ones((50, 3), dtype=np.int8))
    assert every.prevalence == 1 and (every.sensitivity == 1).all()
    assert np.isnan(every.specificity).all()


def test_dawid_skene_gives_unread_exams_the_prevalence_and_unused_readers_nan():
    values, _ = simulate(3000, 0.2, 4)
    values[:10] = -1
    values[:, 4] = -1
    result = dawid_skene(values)
    assert np.allclose(result.posterior[:10], result.prevalence)
    assert np.isnan(result.sensitivity[4]) and np.isnan(result.specificity[4])
    assert np.isfinite(result.sensitivity[:4]).all()


def test_multilabel_dawid_skene_equals_one_class_at_a_time():
    columns = [simulate(2000, p, seed)[0] for p, seed in ((0.1, 5), (0.25, 6))]
    degenerate = np.zeros((2000, 5), dtype=np.int8)
    values = np.stack([*columns, degenerate], axis=2)
    values[:100] = -1
    values[100:300, 0] = -1
    results = dawid_skene_multilabel(values, batch_classes=2)
    for k, got in enumerate(results):
        alone = dawid_skene(values[:, :, k])
        assert got.n_iter == alone.n_iter and got.converged == alone.converged
        np.testing.assert_allclose(got.posterior, alone.posterior, atol=1e-9)
        np.testing.assert_allclose(got.sensitivity, alone.sensitivity, atol=1e-9)
        np.testing.assert_allclose(got.specificity, alone.specificity, atol=1e-9)
