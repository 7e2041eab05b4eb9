"""Reference-standard scores, McNemar's test and exclusive-group agreement
(annotator.agreement.reference and .groups), against the reference libraries and
the published CODE-test tables (Ribeiro et al., Nat Commun 2020)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import fleiss_kappa

from annotator.agreement import count_chunk
from annotator.agreement.groups import group_stats
from annotator.agreement.reference import mcnemar, scores

CODE_TEST = Path(
    os.environ.get(
        "CODE_TEST_DATA",
        Path(__file__).resolve().parents[2] / "shared" / "data" / "code-test",
    )
)
READERS = ("dnn", "cardiology_residents", "emergency_residents", "medical_students")
CLASSES = ("1dAVb", "RBBB", "LBBB", "SB", "AF", "ST")
# The paper's Table 2 (outputs/tables/scores.csv), rows DNN, cardio., emerg., stud.
PUBLISHED = {
    "precision": [
        [0.867, 0.895, 1.000, 0.833, 1.000, 0.947],
        [0.905, 0.868, 1.000, 0.833, 0.769, 0.968],
        [0.639, 0.963, 0.963, 0.824, 0.800, 0.946],
        [0.605, 0.914, 0.931, 0.750, 0.571, 0.912],
    ],
    "recall": [
        [0.929, 1.000, 1.000, 0.938, 0.769, 0.973],
        [0.679, 0.971, 0.900, 0.938, 0.769, 0.811],
        [0.821, 0.765, 0.867, 0.875, 0.615, 0.946],
        [0.929, 0.941, 0.900, 0.750, 0.923, 0.838],
    ],
    "specificity": [
        [0.995, 0.995, 1.000, 0.996, 1.000, 0.997],
        [0.997, 0.994, 1.000, 0.996, 0.996, 0.999],
        [0.984, 0.999, 0.999, 0.996, 0.998, 0.997],
        [0.979, 0.996, 0.997, 0.995, 0.989, 0.996],
    ],
    "f1": [
        [0.897, 0.944, 1.000, 0.882, 0.870, 0.960],
        [0.776, 0.917, 0.947, 0.882, 0.769, 0.882],
        [0.719, 0.852, 0.912, 0.848, 0.696, 0.946],
        [0.732, 0.928, 0.915, 0.750, 0.706, 0.873],
    ],
}
# Supplementary Table 3 (outputs/tables/mcnemar.csv): p-values by pair.
PUBLISHED_MCNEMAR = [
    [0.225, 0.414, 0.083, 1.000, 0.180, 0.096],  # DNN vs cardio.
    [0.007, 0.166, 0.025, 0.705, 0.157, 0.655],  # DNN vs emerg.
    [0.009, 0.655, 0.025, 0.157, 0.052, 0.058],  # DNN vs stud.
    [0.108, 0.366, 0.317, 0.564, 0.763, 0.206],  # cardio. vs emerg.
    [0.102, 0.739, 0.414, 0.046, 0.206, 0.782],  # cardio. vs stud.
    [0.853, 0.248, 1.000, 0.083, 0.439, 0.059],  # emerg. vs stud.
]


def _table(name: str) -> np.ndarray:
    with open(CODE_TEST / f"{name}.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    start = 1 if header[0] == "" else 0  # dnn.csv has an index column
    assert header[start:] == list(CLASSES)
    return np.array([[int(v) for v in row[start:]] for row in body], np.int8)


@pytest.fixture(scope="module")
def code_test() -> tuple[np.ndarray, np.ndarray]:
    if not (CODE_TEST / "gold_standard.csv").exists():
        pytest.skip(f"CODE-test readings not found in {CODE_TEST}; set CODE_TEST_DATA")
    readings = np.stack([_table(name) for name in READERS], axis=1)
    return readings, _table("gold_standard")


def test_code_test_scores_match_the_published_table_cell_by_cell(code_test):
    readings, gold = code_test
    got = scores(count_chunk(readings, reference=gold).point)
    for name, table in PUBLISHED.items():
        values, reasons = got[name]
        assert not reasons.any()
        np.testing.assert_array_equal(np.round(values, 3), np.array(table))


def test_code_test_mcnemar_matches_the_published_table(code_test):
    readings, gold = code_test
    counts = count_chunk(readings, reference=gold).point
    p_values, _ = mcnemar(counts["MB"], counts["MC"])["p_value"]
    np.testing.assert_array_equal(np.round(p_values, 3), np.array(PUBLISHED_MCNEMAR))


@pytest.mark.parametrize("seed", range(8))
def test_reference_scores_and_mcnemar_equal_sklearn_and_statsmodels(seed):
    rng = np.random.default_rng(seed)
    readings = rng.integers(0, 2, (200, 3, 4)).astype(np.int8)
    readings[rng.random(200) < 0.2, 2] = -1  # the third reader skips some exams
    reference = rng.integers(0, 2, (200, 4)).astype(np.int8)
    counts = count_chunk(readings, reference=reference).point
    got = scores(counts)
    mc = mcnemar(counts["MB"], counts["MC"])
    for j in range(3):
        read = readings[:, j, 0] >= 0
        for k in range(4):
            truth, said = reference[read, k], readings[read, j, k]
            assert got["precision"][0][j, k] == pytest.approx(
                precision_score(truth, said), abs=1e-12
            )
            assert got["f1"][0][j, k] == pytest.approx(f1_score(truth, said), abs=1e-12)
    both = readings[:, 2, 0] >= 0  # pair (0, 2) is index 1
    for k in range(4):
        wrong_a = readings[both, 0, k] != reference[both, k]
        wrong_b = readings[both, 2, k] != reference[both, k]
        table = [
            [np.sum(~wrong_a & ~wrong_b), np.sum(~wrong_a & wrong_b)],
            [np.sum(wrong_a & ~wrong_b), np.sum(wrong_a & wrong_b)],
        ]
        chi = sm_mcnemar(table, exact=False, correction=False)
        exact = sm_mcnemar(table, exact=True)
        assert mc["statistic"][0][1, k] == pytest.approx(chi.statistic, abs=1e-9)
        assert mc["p_value"][0][1, k] == pytest.approx(chi.pvalue, abs=1e-9)
        assert mc["exact_p_value"][0][1, k] == pytest.approx(exact.pvalue, abs=1e-9)


def _group_readings(seed: int, n_exams: int = 240) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    category = rng.choice(4, size=(n_exams, 3), p=[0.5, 0.2, 0.2, 0.1])  # 3 = none
    readings = np.zeros((n_exams, 3, 5), np.int8)
    for c in range(3):
        readings[:, :, c] = category == c
    readings[:, :, 3:] = rng.integers(0, 2, (n_exams, 3, 2))
    return readings, category


@pytest.mark.parametrize("seed", range(8))
def test_group_agreement_equals_statsmodels_krippendorff_and_sklearn(seed):
    readings, category = _group_readings(seed)
    got = group_stats(count_chunk(readings, groups=[(0, 1, 2)]).point, 0, 4)
    table = np.stack([(category == c).sum(axis=1) for c in range(4)], axis=1)
    assert got["fleiss_kappa"][0][0] == pytest.approx(fleiss_kappa(table), abs=1e-9)
    alpha = krippendorff.alpha(
        reliability_data=category.T, level_of_measurement="nominal"
    )
    assert got["krippendorff_alpha"][0][0] == pytest.approx(alpha, abs=1e-9)
    for p, (a, b) in enumerate([(0, 1), (0, 2), (1, 2)]):
        kappa = cohen_kappa_score(category[:, a], category[:, b])
        assert got["cohen_kappa"][0][p, 0] == pytest.approx(kappa, abs=1e-9)


def test_group_counts_chunked_equal_unchunked_with_the_bootstrap():
    readings, _ = _group_readings(3)
    keys = np.arange(len(readings)) + 100
    whole = count_chunk(
        readings, groups=[(0, 1, 2)], exam_keys=keys, bootstrap=20, seed=5
    )
    parts = [
        count_chunk(
            readings[s], groups=[(0, 1, 2)], exam_keys=keys[s], bootstrap=20, seed=5
        )
        for s in (slice(0, 100), slice(100, None))
    ]
    merged = parts[0] + parts[1]
    for name in whole.point:
        np.testing.assert_array_equal(whole.point[name], merged.point[name])
        np.testing.assert_array_equal(whole.boot[name], merged.boot[name])


def test_two_classes_of_one_group_in_a_read_are_refused():
    readings, _ = _group_readings(1, 10)
    readings[4, 1, :3] = [1, 1, 0]
    with pytest.raises(ValueError, match="two classes of one exclusive group"):
        count_chunk(readings, groups=[(0, 1, 2)])
    with pytest.raises(ValueError, match="must not share classes"):
        count_chunk(readings, groups=[(0, 1), (1, 2)])
