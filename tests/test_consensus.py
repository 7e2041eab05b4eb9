"""Consensus rules per exam and the classes readers disagree on."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.consensus import Method, consensus_labels, disagreeing_classes

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


# --- Disagreeing classes --------------------------------------------------------------


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
