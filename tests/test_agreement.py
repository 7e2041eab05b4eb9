"""Agreement engine: equal to the reference libraries, exact when chunked, safe JSON."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from itertools import combinations, pairwise
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from annotator import agreement
from annotator.agreement import count_chunk, merge, poisson_weights, report

REPO = Path(__file__).resolve().parent.parent
TOL = 1e-9
STATS = agreement.CLASS_STATISTICS


# --- Data and reference implementations -----------------------------------------------


@st.composite
def readings(
    draw, *, complete: bool = False, min_readers: int = 2, max_exams: int = 30
):
    """(E, J, K) readings: edge prevalences (0, 1) and missing-reader rates."""
    n_exams = draw(st.integers(1, max_exams))
    n_readers = draw(st.integers(min_readers, 5))
    n_classes = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    prevalence = draw(
        st.lists(
            st.sampled_from([0.0, 0.03, 0.2, 0.5, 0.9, 1.0]),
            min_size=n_classes,
            max_size=n_classes,
        )
    )
    values = (rng.random((n_exams, n_readers, n_classes)) < prevalence).astype(np.int8)
    if not complete:
        missing = draw(st.sampled_from([0.0, 0.3, 0.6]))
        unread = rng.random((n_exams, n_readers)) < missing
        values[unread] = -1
    return values


def names(n_readers: int) -> list[str]:
    return [f"r{j}" for j in range(n_readers)]


def codes(n_classes: int) -> list[str]:
    return [f"C{k}" for k in range(n_classes)]


def chunked_report(
    values,
    consensus=None,
    *,
    class_codes,
    reader_names,
    chunk_size=None,
    bootstrap=0,
    seed=0,
    exam_keys=None,
) -> dict:
    """What the agreement job does: count chunks of ``chunk_size`` exams, merge
    the counts, report. Exam keys default to the row numbers."""
    if bootstrap and exam_keys is None:
        exam_keys = np.arange(len(values), dtype=np.int64)
    size = chunk_size or max(len(values), 1)
    total = None
    for start in range(0, max(len(values), 1), size):
        rows = slice(start, start + size)
        counts = count_chunk(
            values[rows],
            None if consensus is None else consensus[rows],
            exam_keys=None if exam_keys is None else exam_keys[rows],
            bootstrap=bootstrap,
            seed=seed,
        )
        total = counts if total is None else merge(total, counts)
    return report(total, class_codes=class_codes, reader_names=reader_names)


def full_report(values, consensus=None, **kwargs) -> dict:
    return chunked_report(
        values,
        consensus,
        class_codes=codes(values.shape[2]),
        reader_names=names(values.shape[1]),
        **kwargs,
    )


def same(ours, reference) -> bool:
    """None matches an undefined reference (NaN or None); numbers match to 1e-9."""
    if ours is None or reference is None or math.isnan(reference):
        return ours is None and (reference is None or math.isnan(reference))
    return abs(ours - reference) <= TOL


def ref_cohen(y1, y2):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cohen_kappa_score(y1, y2, labels=[0, 1], replace_undefined_by=np.nan)


def ref_fleiss(table):
    with np.errstate(divide="ignore", invalid="ignore"):
        return fleiss_kappa(aggregate_raters(table, n_cat=2)[0])


def ref_alpha(table):
    data = np.where(table >= 0, table, np.nan).T.astype(float)
    try:
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            return krippendorff.alpha(
                reliability_data=data, level_of_measurement="nominal"
            )
    except ValueError:
        return None


def naive_pairwise(table):
    """Pool every unordered reader pair of every exam into one 2x2 table."""
    a = bc = d = 0
    for row in table:
        read = [v for v in row if v >= 0]
        for u, v in combinations(read, 2):
            a += u == v == 1
            d += u == v == 0
            bc += u != v
    pairs = a + bc + d
    if not pairs:
        return {}
    p_o = (a + d) / pairs
    pi = (2 * a + bc) / (2 * pairs)
    p_e = 2 * pi * (1 - pi)
    return {
        "observed_agreement": p_o,
        "pabak": 2 * p_o - 1,
        "ac1": (p_o - p_e) / (1 - p_e),
        "positive_agreement": 2 * a / (2 * a + bc) if 2 * a + bc else None,
        "negative_agreement": 2 * d / (2 * d + bc) if 2 * d + bc else None,
    }


def naive_fleiss_cuzick(table):
    """Fleiss & Cuzick (1979): 1 - sum x(n-x)/n / (N (nbar-1) pbar qbar), n >= 2."""
    rows = [[v for v in row if v >= 0] for row in table]
    rows = [r for r in rows if len(r) >= 2]
    if not rows:
        return None
    n = np.array([len(r) for r in rows], float)
    x = np.array([sum(r) for r in rows], float)
    p = x.sum() / n.sum()
    if p in (0.0, 1.0):
        return None
    return 1 - (x * (n - x) / n).sum() / (len(rows) * (n.mean() - 1) * p * (1 - p))


def gwet_ac1_multirater(table):
    """Gwet (2008) AC1 for r raters on every subject: p_a and pi as subject means."""
    n = table.shape[1]
    x = table.sum(axis=1).astype(float)
    p_a = ((x * (x - 1) + (n - x) * (n - x - 1)) / (n * (n - 1))).mean()
    pi = (x / n).mean()
    p_e = 2 * pi * (1 - pi)
    return (p_a - p_e) / (1 - p_e)


# --- Equal to the reference libraries -------------------------------------------------


@settings(max_examples=120)
@given(readings(complete=True))
def test_fleiss_kappa_equals_statsmodels_on_complete_designs(values):
    rep = full_report(values)
    for k, code in enumerate(codes(values.shape[2])):
        assert same(rep["classes"][code]["fleiss_kappa"], ref_fleiss(values[:, :, k]))


@settings(max_examples=120)
@given(readings())
def test_krippendorff_alpha_equals_the_krippendorff_package(values):
    rep = full_report(values)
    for k, code in enumerate(codes(values.shape[2])):
        assert same(
            rep["classes"][code]["krippendorff_alpha"], ref_alpha(values[:, :, k])
        )


@settings(max_examples=120)
@given(readings())
def test_cohen_kappa_per_pair_equals_sklearn_on_shared_exams(values):
    rep = full_report(values)
    reader = names(values.shape[1])
    for a, b in combinations(range(values.shape[1]), 2):
        shared = (values[:, a, 0] >= 0) & (values[:, b, 0] >= 0)
        for k, code in enumerate(codes(values.shape[2])):
            by_pair = rep["classes"][code]["cohen_kappa"]
            key = f"{reader[a]}|{reader[b]}"
            if not shared.any():
                assert key not in by_pair
                continue
            y1, y2 = values[shared, a, k], values[shared, b, k]
            assert same(by_pair[key], ref_cohen(y1, y2))


@settings(max_examples=120)
@given(readings())
def test_pairwise_statistics_equal_the_pooled_pair_definition(values):
    rep = full_report(values)
    for k, code in enumerate(codes(values.shape[2])):
        expected = naive_pairwise(values[:, :, k])
        got = rep["classes"][code]
        for name in ("observed_agreement", "pabak", "ac1", "positive_agreement"):
            assert same(got[name], expected.get(name))
        assert same(got["negative_agreement"], expected.get("negative_agreement"))


@settings(max_examples=120)
@given(readings())
def test_fleiss_kappa_with_unequal_readers_is_fleiss_cuzick(values):
    rep = full_report(values)
    for k, code in enumerate(codes(values.shape[2])):
        expected = naive_fleiss_cuzick(values[:, :, k])
        assert same(rep["classes"][code]["fleiss_kappa"], expected)


@settings(max_examples=60)
@given(readings(complete=True))
def test_ac1_equals_gwets_multirater_formula_when_every_exam_has_all_readers(values):
    rep = full_report(values)
    for k, code in enumerate(codes(values.shape[2])):
        assert same(rep["classes"][code]["ac1"], gwet_ac1_multirater(values[:, :, k]))


@settings(max_examples=60)
@given(readings(), st.integers(0, 2**32 - 1))
def test_reader_statistics_equal_sklearn_against_the_consensus(values, seed):
    rng = np.random.default_rng(seed)
    consensus = rng.integers(-1, 2, size=(values.shape[0], values.shape[2]))
    rep = full_report(values, consensus.astype(np.int8))
    for j, name in enumerate(names(values.shape[1])):
        for k, code in enumerate(codes(values.shape[2])):
            rows = (values[:, j, k] >= 0) & (consensus[:, k] >= 0)
            truth, pred = consensus[rows, k], values[rows, j, k]
            got = rep["reader_stats"][name][code]
            expected = dict.fromkeys(agreement.READER_STATISTICS)
            if rows.any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    kw = {"zero_division": np.nan, "labels": [0, 1]}
                    expected = {
                        "sensitivity": recall_score(truth, pred, **kw),
                        "specificity": recall_score(1 - truth, 1 - pred, **kw),
                        "ppv": precision_score(truth, pred, **kw),
                        "f1": f1_score(truth, pred, **kw),
                    }
            for stat, value in expected.items():
                assert same(got[stat], value), (stat, got, expected)


def test_many_exams_across_counting_blocks_equal_the_references():
    rng = np.random.default_rng(9)
    values = (rng.random((70_000, 3, 2)) < [0.004, 0.3]).astype(np.int8)
    values[rng.random((70_000, 3)) < 0.1] = -1
    rep = full_report(values)
    for k, code in enumerate(codes(2)):
        got = rep["classes"][code]
        assert same(got["krippendorff_alpha"], ref_alpha(values[:, :, k]))
        shared = (values[:, 0, k] >= 0) & (values[:, 1, k] >= 0)
        assert same(
            got["cohen_kappa"]["r0|r1"],
            ref_cohen(values[shared, 0, k], values[shared, 1, k]),
        )
        assert got["n_positive_reads"] == int((values[:, :, k] == 1).sum())


def test_many_readers_on_one_exam():
    rng = np.random.default_rng(10)
    values = (rng.random((40, 20, 2)) < 0.4).astype(np.int8)
    got = full_report(values)["classes"]
    for k, code in enumerate(codes(2)):
        assert same(got[code]["fleiss_kappa"], ref_fleiss(values[:, :, k]))
    values[rng.random((40, 20)) < 0.3] = -1
    got = full_report(values)["classes"]
    for k, code in enumerate(codes(2)):
        assert same(got[code]["krippendorff_alpha"], ref_alpha(values[:, :, k]))
        assert same(got[code]["fleiss_kappa"], naive_fleiss_cuzick(values[:, :, k]))


def test_micro_average_pools_classes_as_units():
    rng = np.random.default_rng(5)
    values = (rng.random((200, 3, 4)) < [0.05, 0.2, 0.4, 0.1]).astype(np.int8)
    rep = full_report(values)
    stacked = values.transpose(2, 0, 1).reshape(-1, 3)  # (class, exam) units
    assert same(rep["micro"]["fleiss_kappa"], ref_fleiss(stacked))
    assert same(rep["micro"]["krippendorff_alpha"], ref_alpha(stacked))
    assert same(
        rep["micro"]["cohen_kappa"]["r0|r2"], ref_cohen(stacked[:, 0], stacked[:, 2])
    )
    assert same(rep["micro"]["prevalence"], values.mean())


def test_macro_average_is_the_mean_over_defined_classes():
    rng = np.random.default_rng(6)
    values = (rng.random((300, 3, 3)) < [0.1, 0.3, 0.0]).astype(np.int8)
    rep = full_report(values)
    defined = [rep["classes"][c]["fleiss_kappa"] for c in codes(3)][:2]
    assert rep["classes"]["C2"]["fleiss_kappa"] is None
    assert same(rep["macro"]["fleiss_kappa"], sum(defined) / 2)
    assert rep["macro"]["n_classes"]["fleiss_kappa"] == 2
    assert rep["macro"]["n_classes"]["pabak"] == 3


# --- Hand-checked tables --------------------------------------------------------------


def two_reader_table(a: int, b: int, c: int, d: int) -> np.ndarray:
    """Readers 0 and 1: a both yes, b only reader 0, c only reader 1, d both no."""
    rows = [[1, 1]] * a + [[1, 0]] * b + [[0, 1]] * c + [[0, 0]] * d
    return np.array(rows, dtype=np.int8)[:, :, None]


def test_two_readers_hand_checked():
    # a=40, b=10, c=5, d=45, N=100.
    got = full_report(two_reader_table(40, 10, 5, 45))["classes"]["C0"]
    assert got["observed_agreement"] == pytest.approx(0.85, abs=TOL)  # (40+45)/100
    assert got["pabak"] == pytest.approx(0.70, abs=TOL)  # 2*0.85 - 1
    assert got["positive_agreement"] == pytest.approx(80 / 95, abs=TOL)  # 2a/(2a+b+c)
    assert got["negative_agreement"] == pytest.approx(90 / 105, abs=TOL)  # 2d/(2d+b+c)
    # pi = (2a+b+c)/2N = 95/200 = 0.475; p_e = 2*0.475*0.525 = 0.49875
    assert got["ac1"] == pytest.approx((0.85 - 0.49875) / (1 - 0.49875), abs=TOL)
    # p_A1 = 0.50, p_B1 = 0.45: p_e = 0.5*0.45 + 0.5*0.55 = 0.5; kappa = 0.35/0.5
    assert got["cohen_kappa"]["r0|r1"] == pytest.approx(0.70, abs=TOL)
    assert got["prevalence"] == pytest.approx(95 / 200, abs=TOL)
    assert got["n_positive_reads"] == 95


def test_three_readers_hand_checked():
    # Four exams read by three readers with s = 3, 2, 1, 0 yes votes; 12 pairs.
    values = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=np.int8)[
        :, :, None
    ]
    got = full_report(values)["classes"]["C0"]
    # both-yes pairs a = 3+1 = 4, both-no d = 1+3 = 4, discordant b+c = 2+2 = 4.
    assert got["observed_agreement"] == pytest.approx(8 / 12, abs=TOL)
    assert got["pabak"] == pytest.approx(1 / 3, abs=TOL)
    assert got["positive_agreement"] == pytest.approx(8 / 12, abs=TOL)  # 2a/(2a+b+c)
    assert got["negative_agreement"] == pytest.approx(8 / 12, abs=TOL)
    assert got["ac1"] == pytest.approx((2 / 3 - 0.5) / 0.5, abs=TOL)  # pi = 0.5
    # Fleiss: P_i = 1, 1/3, 1/3, 1 -> 2/3; p = 0.5 -> P_e = 0.5; kappa = 1/3.
    assert got["fleiss_kappa"] == pytest.approx(1 / 3, abs=TOL)
    # alpha: n.. = 12, n1 = n0 = 6, o01 = (0 + 2 + 2 + 0)/2 = 2 -> 1 - 11*2/36.
    assert got["krippendorff_alpha"] == pytest.approx(1 - 22 / 36, abs=TOL)


def test_unequal_readers_hand_checked():
    # (n, s) = (2, 1), (3, 3), (2, 0), (3, 1); reader 2 misses exams 1 and 3.
    values = np.array([[1, 0, -1], [1, 1, 1], [0, 0, -1], [0, 1, 0]], dtype=np.int8)[
        :, :, None
    ]
    got = full_report(values)["classes"]["C0"]
    # Fleiss-Cuzick: sum s(n-s)/n = 1/2 + 2/3 = 7/6; N=4, nbar=2.5, p=q=0.5:
    # 1 - (7/6) / (4 * 1.5 * 0.25) = 2/9.
    assert got["fleiss_kappa"] == pytest.approx(2 / 9, abs=TOL)
    # alpha: o01 = 1/1 + 2/2 = 2; n.. = 10, n1 = n0 = 5: 1 - 9*2/25 = 7/25.
    assert got["krippendorff_alpha"] == pytest.approx(7 / 25, abs=TOL)
    assert same(got["krippendorff_alpha"], ref_alpha(values[:, :, 0]))
    # Pairs: a = 3, d = 1 + 1 = 2, discordant = 1 + 2 = 3, P = 8.
    assert got["observed_agreement"] == pytest.approx(5 / 8, abs=TOL)
    assert got["positive_agreement"] == pytest.approx(6 / 9, abs=TOL)
    assert got["negative_agreement"] == pytest.approx(4 / 7, abs=TOL)


def test_prevalence_paradox_reports_low_kappa_next_to_high_pabak_and_ac1():
    # 1,000 exams; each reader says yes 5 times, 2 of them on the same exams.
    got = full_report(two_reader_table(2, 3, 3, 992))["classes"]["C0"]
    assert got["observed_agreement"] == pytest.approx(0.994, abs=TOL)
    # p_e = (5*5 + 995*995)/1e6 = 0.99005; kappa = 0.00395/0.00995.
    assert got["cohen_kappa"]["r0|r1"] == pytest.approx(0.00395 / 0.00995, abs=TOL)
    assert got["cohen_kappa"]["r0|r1"] < 0.4
    assert got["pabak"] == pytest.approx(0.988, abs=TOL)
    # pi = 10/2000 = 0.005; p_e = 0.00995; AC1 = 0.98405/0.99005.
    assert got["ac1"] == pytest.approx(0.98405 / 0.99005, abs=TOL)
    assert got["ac1"] > 0.99
    assert got["positive_agreement"] == pytest.approx(0.4, abs=TOL)
    assert got["negative_agreement"] == pytest.approx(1984 / 1990, abs=TOL)


# --- Edge cases -----------------------------------------------------------------------


def test_a_class_nobody_chose_is_undefined_with_a_reason_not_zero():
    values = np.zeros((50, 3, 2), dtype=np.int8)
    values[:10, 0, 1] = 1
    rep = full_report(values, bootstrap=20)
    got = rep["classes"]["C0"]
    assert got["n_positive_reads"] == 0
    assert got["prevalence"] == 0
    for name in ("fleiss_kappa", "krippendorff_alpha", "positive_agreement"):
        assert got[name] is None
        assert got["undefined"][name] == "no positive reads"
        assert got["ci95"][name] is None
    assert set(got["cohen_kappa"].values()) == {None}
    assert got["undefined"]["cohen_kappa"]["r0|r1"] == "no positive reads"
    # Agreement on "no" is real agreement: these are defined and equal to 1.
    for name in ("observed_agreement", "pabak", "ac1", "negative_agreement"):
        assert got[name] == 1
    json.dumps(rep, allow_nan=False)


def test_expected_agreement_of_one_is_undefined():
    values = np.ones((20, 2, 1), dtype=np.int8)
    got = full_report(values)["classes"]["C0"]
    assert got["fleiss_kappa"] is None and got["krippendorff_alpha"] is None
    assert got["undefined"]["fleiss_kappa"].startswith("expected agreement is 1")
    assert got["undefined"]["cohen_kappa"]["r0|r1"].startswith(
        "expected agreement is 1"
    )
    assert got["negative_agreement"] is None
    assert got["pabak"] == 1 and got["ac1"] == 1 and got["positive_agreement"] == 1


def test_single_reader_exams_count_for_prevalence_but_not_for_agreement():
    rng = np.random.default_rng(2)
    paired = (rng.random((100, 2, 2)) < 0.3).astype(np.int8)
    single = np.array([[[1, 1], [-1, -1]]] * 7, dtype=np.int8)
    both = full_report(np.concatenate([paired, single]))
    alone = full_report(paired)
    for code in ("C0", "C1"):
        a, b = both["classes"][code], alone["classes"][code]
        assert a["n_positive_reads"] == b["n_positive_reads"] + 7
        for name in STATS[1:]:
            assert a[name] == b[name]
        assert a["cohen_kappa"] == b["cohen_kappa"]
    assert both["n_exams"] == 107


def test_only_single_reader_exams_leave_agreement_undefined():
    values = np.array([[[1], [-1]], [[-1], [0]]], dtype=np.int8)
    got = full_report(values)["classes"]["C0"]
    assert got["prevalence"] == 0.5
    for name in STATS[1:]:
        assert got[name] is None
        assert got["undefined"][name] == "fewer than 2 readers on any exam"
    assert got["cohen_kappa"] == {}


def test_readers_with_different_numbers_of_reads_use_shared_exams_for_cohen():
    rng = np.random.default_rng(3)
    values = (rng.random((400, 3, 1)) < 0.3).astype(np.int8)
    values[:150, 2] = -1  # reader 2 read 250 exams, the others 400
    values[300:, 0] = -1  # reader 0 read 300
    got = full_report(values)["classes"]["C0"]["cohen_kappa"]
    shared = slice(150, 300)
    assert same(got["r0|r2"], ref_cohen(values[shared, 0, 0], values[shared, 2, 0]))
    assert same(got["r0|r1"], ref_cohen(values[:300, 0, 0], values[:300, 1, 0]))


def test_readers_who_never_share_an_exam_have_no_pair():
    values = np.full((4, 3, 1), -1, dtype=np.int8)
    values[:2, :2] = [[[1], [1]], [[0], [1]]]
    values[2:, 2] = [[1], [0]]
    rep = full_report(values)
    assert list(rep["classes"]["C0"]["cohen_kappa"]) == ["r0|r1"]


def test_malformed_readings_are_rejected():
    partial = np.zeros((2, 2, 3), dtype=np.int8)
    partial[0, 1, 2] = -1
    with pytest.raises(ValueError, match="partial reading"):
        count_chunk(partial)
    with pytest.raises(ValueError, match="-1"):
        count_chunk(np.full((2, 2, 3), 2, dtype=np.int8))
    with pytest.raises(ValueError, match="-1"):
        count_chunk(np.full((2, 2, 3), 257, dtype=np.int16))  # not wrapped to 1
    with pytest.raises(ValueError, match="exam_keys"):
        count_chunk(np.zeros((2, 2, 3), dtype=np.int8), bootstrap=5)
    with pytest.raises(ValueError, match="unique"):
        count_chunk(np.zeros((2, 2, 3), np.int8), exam_keys=[4, 4], bootstrap=5)
    with pytest.raises(ValueError, match="'\\|'"):
        report(
            count_chunk(partial[1:]), class_codes=codes(3), reader_names=["a|b", "c"]
        )


def test_no_exams_gives_an_all_undefined_report():
    rep = full_report(np.zeros((0, 2, 2), dtype=np.int8), bootstrap=10)
    assert rep["n_exams"] == 0
    assert rep["classes"]["C0"]["prevalence"] is None
    assert rep["macro"]["fleiss_kappa"] is None
    json.dumps(rep, allow_nan=False)


@settings(max_examples=80)
@given(readings(min_readers=1), st.booleans())
def test_report_is_strict_json_and_has_the_contract_shape(values, bootstrap):
    consensus = values.max(axis=1)  # any reader's yes; -1 where nobody read
    rep = full_report(values, consensus, bootstrap=20 if bootstrap else 0, seed=1)
    json.dumps(rep, allow_nan=False)
    assert list(rep) == [
        "n_exams",
        "readers",
        "machines",
        "classes",
        "reader_stats",
        "macro",
        "micro",
        "reader_stats_leave_one_out",
        "reference",
        "groups",
    ]
    assert rep["reference"] is None and rep["groups"] == {}
    for got in rep["classes"].values():
        assert list(got) == [
            "n_positive_reads",
            *STATS,
            "cohen_kappa",
            "ci95",
            "undefined",
        ]
        assert all(a < b for a, b in (key.split("|") for key in got["cohen_kappa"]))
        for name in STATS:
            assert (got[name] is None) == (name in got["undefined"])
            if bootstrap:
                interval = got["ci95"][name]
                assert interval is None or interval[0] <= interval[1]
    assert set(rep["reader_stats"]) == set(rep["readers"])
    for per_class in rep["reader_stats"].values():
        for got in per_class.values():
            assert set(agreement.READER_STATISTICS) <= set(got)


# --- Merging, invariance, bootstrap ---------------------------------------------------


def assert_same_counts(a, b):
    for name in a.point:
        assert np.array_equal(a.point[name], b.point[name]), name
    assert (a.boot is None) == (b.boot is None)
    if a.boot is not None:
        for name in a.boot:
            assert np.array_equal(a.boot[name], b.boot[name]), name


@settings(max_examples=40)
@given(readings(max_exams=60), st.lists(st.integers(0, 60), max_size=4))
def test_chunked_counts_and_report_equal_unchunked_exactly(values, cuts):
    consensus = values.max(axis=1)
    keys = np.arange(1000, 1000 + len(values))
    whole = count_chunk(values, consensus, exam_keys=keys, bootstrap=30, seed=9)
    bounds = [0, *sorted(c for c in cuts if c < len(values)), len(values)]
    parts = [
        count_chunk(
            values[lo:hi], consensus[lo:hi], exam_keys=keys[lo:hi], bootstrap=30, seed=9
        )
        for lo, hi in pairwise(bounds)
    ]
    merged = parts[0]
    for part in parts[1:]:
        merged = merge(merged, part)
    assert_same_counts(whole, merged)
    kw = {"class_codes": codes(values.shape[2]), "reader_names": names(values.shape[1])}
    assert report(whole, **kw) == report(merged, **kw)


@settings(max_examples=40)
@given(readings(max_exams=60), st.lists(st.integers(0, 60), max_size=4))
def test_counting_into_the_counts_so_far_equals_merging(values, cuts):
    consensus, reference = values.max(axis=1), values.min(axis=1)
    keys = np.arange(1000, 1000 + len(values))
    kw = {"bootstrap": 20, "seed": 9, "reference": None}
    whole = count_chunk(values, consensus, exam_keys=keys, **kw)
    bounds = [0, *sorted(c for c in cuts if c < len(values)), len(values)]
    into = added = None
    for lo, hi in pairwise(bounds):
        part = (values[lo:hi], consensus[lo:hi])
        into = count_chunk(*part, exam_keys=keys[lo:hi], into=into, **kw)
        counted = count_chunk(*part, exam_keys=keys[lo:hi], **kw)
        if added is None:
            added = counted
        else:
            added += counted
    assert_same_counts(whole, into)
    assert_same_counts(whole, added)
    # Counts of another design are refused, and left as they were.
    before = {name: value.copy() for name, value in into.point.items()}
    with pytest.raises(ValueError, match="different"):
        count_chunk(values, consensus, exam_keys=keys, into=into, bootstrap=20, seed=8)
    with pytest.raises(ValueError, match="different"):
        count_chunk(values, None, exam_keys=keys, into=into, bootstrap=20, seed=9)
    with pytest.raises(ValueError, match="different"):
        added += count_chunk(values, consensus, reference=reference)
    assert all(np.array_equal(before[n], into.point[n]) for n in before)


def test_chunk_size_does_not_change_the_report():
    rng = np.random.default_rng(4)
    values = (rng.random((5000, 3, 4)) < [0.01, 0.05, 0.2, 0.5]).astype(np.int8)
    values[rng.random((5000, 3)) < 0.2] = -1
    consensus = values.max(axis=1)
    kw = {"class_codes": codes(4), "reader_names": names(3), "bootstrap": 50}
    assert chunked_report(values, consensus, **kw) == chunked_report(
        values, consensus, chunk_size=777, **kw
    )


@settings(max_examples=40)
@given(readings(), st.integers(0, 2**32 - 1))
def test_permuting_exams_or_readers_changes_nothing(values, seed):
    rng = np.random.default_rng(seed)
    consensus = values.max(axis=1)
    keys = rng.permutation(10_000)[: len(values)]
    reader = names(values.shape[1])
    kw = {"class_codes": codes(values.shape[2]), "bootstrap": 25, "seed": 3}
    base = chunked_report(values, consensus, reader_names=reader, exam_keys=keys, **kw)
    order = rng.permutation(len(values))
    shuffled = chunked_report(
        values[order],
        consensus[order],
        reader_names=reader,
        exam_keys=keys[order],
        **kw,
    )
    assert shuffled == base
    perm = rng.permutation(values.shape[1])
    swapped = chunked_report(
        values[:, perm],
        consensus,
        reader_names=[reader[j] for j in perm],
        exam_keys=keys,
        **kw,
    )
    assert swapped.pop("readers") == [reader[j] for j in perm]
    base.pop("readers")
    assert swapped == base


@settings(max_examples=40)
@given(readings(), st.integers(0, 2**32 - 1))
def test_integer_weights_equal_repeating_exams(values, seed):
    weights = np.random.default_rng(seed).integers(0, 4, size=len(values))
    consensus = values.max(axis=1)
    assert_same_counts(
        count_chunk(values, consensus, weights=weights),
        count_chunk(
            np.repeat(values, weights, axis=0), np.repeat(consensus, weights, 0)
        ),
    )


def test_each_bootstrap_replicate_is_the_counts_under_its_poisson_weights():
    rng = np.random.default_rng(7)
    values = (rng.random((300, 3, 3)) < 0.2).astype(np.int8)
    values[rng.random((300, 3)) < 0.3] = -1
    consensus = values.max(axis=1)
    keys = rng.permutation(10**6)[:300]
    counts = count_chunk(values, consensus, exam_keys=keys, bootstrap=12, seed=5)
    weights = poisson_weights(keys, 5, 12)
    for b in (0, 7, 11):
        replicate = count_chunk(values, consensus, weights=weights[b])
        for name in counts.point:
            assert np.array_equal(counts.boot[name][b], replicate.point[name]), name


def test_bootstrap_interval_equals_percentiles_of_sklearn_on_the_replicates():
    rng = np.random.default_rng(8)
    values = (rng.random((400, 2, 1)) < 0.25).astype(np.int8)
    keys = np.arange(400)
    rep = full_report(values, bootstrap=200, seed=11, exam_keys=keys)
    weights = poisson_weights(keys, 11, 200)
    kappas = [
        cohen_kappa_score(values[:, 0, 0], values[:, 1, 0], sample_weight=w)
        for w in weights
    ]
    low, high = np.percentile(kappas, [2.5, 97.5])
    got = rep["classes"]["C0"]["ci95"]["cohen_kappa"]["r0|r1"]
    assert got == pytest.approx([low, high], abs=TOL)


def test_interval_is_null_when_most_replicates_are_undefined():
    # Kappa needs both exams; each is dropped (weight 0) with probability e^-1, so
    # about 60% of replicates leave it undefined.
    values = np.array([[[1], [1]], [[0], [0]]], dtype=np.int8)
    keys = np.array([10, 20])
    rep = full_report(values, bootstrap=400, seed=2, exam_keys=keys)
    got = rep["classes"]["C0"]
    weights = poisson_weights(keys, 2, 400)
    undefined = int(((weights == 0).any(axis=1)).sum())
    assert undefined > 200
    assert got["fleiss_kappa"] == 1
    assert got["ci95"]["fleiss_kappa"] is None
    assert got["undefined"]["ci95"]["fleiss_kappa"] == (
        f"undefined in more than half of the bootstrap replicates ({undefined} of 400)"
    )
    assert got["ci95"]["observed_agreement"] == [1.0, 1.0]


def test_poisson_weights_are_poisson_one_and_chunk_independent():
    keys = np.arange(200_000)
    weights = poisson_weights(keys, 42, 5)
    assert weights.mean() == pytest.approx(1.0, abs=0.005)
    assert weights.var() == pytest.approx(1.0, abs=0.01)
    assert (weights == 0).mean() == pytest.approx(math.exp(-1), abs=0.003)
    assert np.array_equal(
        poisson_weights(keys[5000:6000], 42, 5), weights[:, 5000:6000]
    )
    assert np.array_equal(poisson_weights(keys, 42, 3), weights[:3])
    assert not np.array_equal(poisson_weights(keys, 43, 5), weights)


# --- Purity ---------------------------------------------------------------------------


def test_the_math_modules_do_not_import_django():
    # An empty stand-in for the annotator package, so that only the math
    # modules' own imports run; they may import each other and nothing else.
    code = (
        "import sys, types\n"
        "package = types.ModuleType('annotator')\n"
        "package.__path__ = [sys.argv[1] + '/annotator']\n"
        "sys.modules['annotator'] = package\n"
        "import annotator.agreement, annotator.consensus\n"
        "ours = ('annotator.consensus', 'annotator.agreement')\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('django', 'celery') or (m.startswith('annotator.') and "
        "not m.startswith(ours)))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
