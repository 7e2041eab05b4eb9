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
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import fleiss_kappa

from annotator.agreement import count_chunk, report
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


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(8, 200), st.floats(0.02, 0.98))
def test_reference_scores_and_mcnemar_equal_sklearn_and_statsmodels(
    seed, n_exams, prevalence
):
    rng = np.random.default_rng(seed)
    readings = (rng.random((n_exams, 3, 4)) < prevalence).astype(np.int8)
    readings[rng.random(n_exams) < 0.2, 2] = -1  # the third reader skips some exams
    reference = (rng.random((n_exams, 4)) < prevalence).astype(np.int8)
    reference[rng.random((n_exams, 4)) < 0.1] = -1  # some references unknown
    counts = count_chunk(readings, reference=reference).point
    got = scores(counts)
    mc = mcnemar(counts["MB"], counts["MC"])
    for j in range(3):
        read = readings[:, j, 0] >= 0
        for k in range(4):
            known = read & (reference[:, k] >= 0)
            truth, said = reference[known, k], readings[known, j, k]
            for name, score, positive in (
                ("precision", precision_score, 1),
                ("recall", recall_score, 1),
                ("f1", f1_score, 1),
                ("specificity", recall_score, 0),  # recall of the negatives
                ("npv", precision_score, 0),  # precision of the negatives
            ):
                value, reason = got[name][0][j, k], got[name][1][j, k]
                expected = (
                    score(truth, said, pos_label=positive, zero_division=np.nan)
                    if truth.size
                    else np.nan
                )
                if np.isnan(expected):
                    assert reason, (name, j, k)  # undefined, with a reason
                else:
                    assert value == pytest.approx(expected, abs=1e-12), (name, j, k)
    both = readings[:, 2, 0] >= 0  # pair (0, 2) is index 1
    for k in range(4):
        pick = both & (reference[:, k] >= 0)
        wrong_a = readings[pick, 0, k] != reference[pick, k]
        wrong_b = readings[pick, 2, k] != reference[pick, k]
        table = [
            [np.sum(~wrong_a & ~wrong_b), np.sum(~wrong_a & wrong_b)],
            [np.sum(wrong_a & ~wrong_b), np.sum(wrong_a & wrong_b)],
        ]
        if table[0][1] + table[1][0] == 0:  # no discordant exam
            assert mc["statistic"][1][1, k] and mc["p_value"][1][1, k]
            assert mc["exact_p_value"][0][1, k] == 1.0
            continue
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


def test_the_report_gives_the_published_tables_with_intervals(code_test):
    readings, gold = code_test
    counts = count_chunk(
        readings,
        reference=gold,
        groups=[(3, 5)],  # SB and ST: one rate choice, "none" otherwise
        exam_keys=np.arange(len(gold)),
        bootstrap=50,
        seed=7,
    )
    out = report(
        counts,
        class_codes=CLASSES,
        reader_names=READERS,
        group_names=["rate"],
        reference_source="imported",
    )
    reference = out["reference"]
    assert reference["source"] == "imported"
    assert reference["n_exams"] == len(gold)
    for name, table in PUBLISHED.items():
        for r, reader in enumerate(READERS):
            for k, code in enumerate(CLASSES):
                cell = reference["readers"][reader][code]
                assert round(cell[name], 3) == table[r][k], (name, reader, code)
                low, high = cell["ci95"][name]
                assert low <= cell[name] <= high
    pairs = [(a, b) for i, a in enumerate(READERS) for b in READERS[i + 1 :]]
    for (a, b), row in zip(pairs, PUBLISHED_MCNEMAR, strict=True):
        key = "|".join(sorted((a, b)))
        for k, code in enumerate(CLASSES):
            test = reference["mcnemar"][key][code]
            assert round(test["p_value"], 3) == row[k], (key, code)
            # b counts the first-named reader wrong and the second right.
            first, second = sorted((a, b))
            wrong = readings[:, READERS.index(first), k] != gold[:, k]
            right = readings[:, READERS.index(second), k] == gold[:, k]
            assert test["b"] == int((wrong & right).sum())
    macro = reference["macro"]["dnn"]
    assert macro["f1"] == pytest.approx(np.mean(PUBLISHED["f1"][0]), abs=1e-3)
    assert macro["n_classes"]["f1"] == 6
    group = out["groups"]["rate"]
    assert group["categories"] == ["SB", "ST", "none"]
    stats = group_stats(counts.point, 0, 3)
    assert group["fleiss_kappa"] == pytest.approx(float(stats["fleiss_kappa"][0][0]))
    assert set(group["cohen_kappa"]) == {"|".join(sorted(p)) for p in pairs}
    assert group["ci95"]["fleiss_kappa"][0] <= group["fleiss_kappa"]


def test_the_report_without_a_reference_or_groups_says_so():
    readings = np.array([[[1, 0], [1, 1]], [[0, 0], [0, 1]]], np.int8)
    out = report(count_chunk(readings), class_codes=["A", "B"], reader_names=["x", "y"])
    assert out["reference"] is None and out["groups"] == {}
    with pytest.raises(ValueError, match="group_names"):
        report(
            count_chunk(readings),
            class_codes=["A", "B"],
            reader_names=["x", "y"],
            group_names=["rhythm"],
        )


def test_fleiss_1971_own_example_gives_kappa_0_430():
    """30 patients, 6 psychiatrists, 5 diagnoses (Fleiss 1971, Table 1), as
    statsmodels' test suite holds them; R's irr::kappam.fleiss gives 0.4302445."""
    from statsmodels.stats.tests.test_inter_rater import diagnoses

    readings = np.zeros((30, 6, 5), np.int8)
    for c in range(5):
        readings[:, :, c] = diagnoses == c + 1
    got = group_stats(count_chunk(readings, groups=[(0, 1, 2, 3, 4)]).point, 0, 6)
    assert got["fleiss_kappa"][0][0] == pytest.approx(0.4302445, abs=1e-7)
    assert round(float(got["fleiss_kappa"][0][0]), 3) == 0.430


@st.composite
def _group_design(draw):
    """Categories (E, J) in 0..C (C = "none"), -1 where a reader skipped the exam."""
    n_exams = draw(st.integers(2, 40))
    n_readers = draw(st.integers(2, 5))
    size = draw(st.integers(2, 5))
    complete = draw(st.booleans())
    cells = st.integers(0 if complete else -1, size - 1)
    category = np.array(
        draw(
            st.lists(
                st.lists(cells, min_size=n_readers, max_size=n_readers),
                min_size=n_exams,
                max_size=n_exams,
            )
        )
    )
    return category, size, complete


def _one_hot(category: np.ndarray, size: int) -> np.ndarray:
    """Readings with the group's classes 0..size-2; -1 rows where not read."""
    readings = np.zeros((*category.shape, size - 1), np.int8)
    for c in range(size - 1):
        readings[:, :, c] = category == c
    readings[category < 0] = -1
    return readings


@settings(max_examples=150, deadline=None)
@given(_group_design())
def test_group_statistics_equal_the_reference_libraries(design):
    category, size, complete = design
    readings = _one_hot(category, size)
    counts = count_chunk(readings, groups=[tuple(range(size - 1))])
    got = group_stats(counts.point, 0, size)
    fleiss, fleiss_reason = (v[0] for v in got["fleiss_kappa"])
    alpha, alpha_reason = (v[0] for v in got["krippendorff_alpha"])
    pairable = np.where((category >= 0).sum(axis=1)[:, None] >= 2, category, -1)
    values = pairable[pairable >= 0]
    if values.size == 0 or np.unique(values).size < 2:
        assert fleiss_reason and alpha_reason  # undefined, with a reason
    else:
        data = np.where(pairable >= 0, pairable, np.nan).T
        expected = krippendorff.alpha(
            reliability_data=data, level_of_measurement="nominal"
        )
        assert alpha == pytest.approx(expected, abs=1e-9)
        if complete:
            table = np.stack([(category == c).sum(axis=1) for c in range(size)], 1)
            assert fleiss == pytest.approx(fleiss_kappa(table), abs=1e-9)
    n_readers = category.shape[1]
    pairs = [(a, b) for a in range(n_readers) for b in range(a + 1, n_readers)]
    kappa, reason = got["cohen_kappa"]
    for p, (a, b) in enumerate(pairs):
        both = (category[:, a] >= 0) & (category[:, b] >= 0)
        x, y = category[both, a], category[both, b]
        if both.sum() == 0 or reason[p, 0]:
            continue
        assert kappa[p, 0] == pytest.approx(
            cohen_kappa_score(x, y, labels=list(range(size))), abs=1e-9
        )


@settings(max_examples=60, deadline=None)
@given(_group_design(), st.integers(1, 39), st.integers(0, 2**16))
def test_group_counts_merge_exactly_across_any_split(design, cut, seed):
    category, size, _ = design
    readings = _one_hot(category, size)
    cut = min(cut, len(readings) - 1)
    keys = np.arange(len(readings)) * 7 + 3
    groups = [tuple(range(size - 1))]
    whole = count_chunk(readings, groups=groups, exam_keys=keys, bootstrap=5, seed=seed)
    merged = count_chunk(
        readings[:cut], groups=groups, exam_keys=keys[:cut], bootstrap=5, seed=seed
    ) + count_chunk(
        readings[cut:], groups=groups, exam_keys=keys[cut:], bootstrap=5, seed=seed
    )
    for name in whole.point:
        np.testing.assert_array_equal(whole.point[name], merged.point[name])
        np.testing.assert_array_equal(whole.boot[name], merged.boot[name])


@settings(max_examples=100, deadline=None)
@given(
    st.integers(2, 5),
    st.integers(3, 40),
    st.integers(0, 2**16),
)
def test_leave_one_out_scores_each_reader_against_the_others_majority(
    n_readers, n_exams, seed
):
    rng = np.random.default_rng(seed)
    readings = rng.integers(0, 2, (n_exams, n_readers, 3)).astype(np.int8)
    readings[rng.random((n_exams, n_readers)) < 0.2] = -1
    out = report(
        count_chunk(readings),
        class_codes=["A", "B", "C"],
        reader_names=[f"r{j}" for j in range(n_readers)],
    )["reader_stats_leave_one_out"]
    for j in range(n_readers):
        others = np.delete(readings, j, axis=1)
        n_others = (others[:, :, 0] >= 0).sum(axis=1)
        for k, code in enumerate("ABC"):
            yes = (others[:, :, k] == 1).sum(axis=1)
            keep = (readings[:, j, 0] >= 0) & (n_others > 0) & (2 * yes != n_others)
            truth = (2 * yes > n_others)[keep]
            said = readings[keep, j, k]
            cell = out["readers"][f"r{j}"][code]
            if truth.sum() == 0:
                assert cell["sensitivity"] is None
            else:
                expected = recall_score(truth, said)
                assert cell["sensitivity"] == pytest.approx(expected, abs=1e-12)
            if truth.sum() + said.sum() > 0:
                assert cell["f1"] == pytest.approx(f1_score(truth, said), abs=1e-12)
