"""Synthetic 12-lead ECGs: determinism, physiology measured from the signal, labels.

The measurements here are deliberately simple and independent of the generator:
R peaks by amplitude on lead II, the QRS complex from the slope envelope of all
twelve leads, averaged over beats.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator.synthetic import (
    CONDUCTIONS,
    RHYTHMS,
    SyntheticECG,
    synthesize,
    synthetic_batch,
)
from annotator.waveforms import STANDARD_LEADS

REPO = Path(__file__).resolve().parent.parent
KINDS = [
    (rhythm, conduction)
    for rhythm in RHYTHMS
    for conduction in CONDUCTIONS
    if not (rhythm == "af" and conduction == "avb1")
]
SEEDS = range(8)


# --- measurement helpers ---------------------------------------------------


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    return np.convolve(x, np.ones(width) / width, mode="same")


def pick_peaks(x: np.ndarray, fs: float, fraction: float) -> np.ndarray:
    """Maxima of the runs where x exceeds fraction * max(x), at least 250 ms apart."""
    above = x > fraction * x.max()
    edges = np.diff(np.r_[0, above.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    peaks: list[int] = []
    for start, end in zip(starts, ends, strict=True):
        peak = start + int(np.argmax(x[start:end]))
        if peaks and peak - peaks[-1] < 0.25 * fs:
            if x[peak] > x[peaks[-1]]:
                peaks[-1] = peak
        else:
            peaks.append(peak)
    return np.array(peaks)


def lead(ecg: SyntheticECG, name: str) -> np.ndarray:
    return ecg.signal_uv[STANDARD_LEADS.index(name)].astype(np.float64)


def r_peaks_lead_ii(ecg: SyntheticECG) -> np.ndarray:
    ii = lead(ecg, "II")
    ii -= moving_average(ii, round(0.6 * ecg.fs))  # remove baseline wander
    return pick_peaks(ii, ecg.fs, 0.65)


def measured_rate(ecg: SyntheticECG) -> float:
    return 60.0 * ecg.fs / np.diff(r_peaks_lead_ii(ecg)).mean()


def rr_variation(ecg: SyntheticECG) -> float:
    rr = np.diff(r_peaks_lead_ii(ecg))
    return float(rr.std() / rr.mean())


@dataclasses.dataclass
class AverageBeat:
    leads: dict[str, np.ndarray]  # µV, averaged over beats, aligned on the QRS
    qrs_start: int
    qrs_end: int
    fs: float

    def at(self, offset_s: float) -> int:
        return self.qrs_start + round(offset_s * self.fs)

    def qrs(self, name: str) -> np.ndarray:
        return self.leads[name][self.qrs_start : self.qrs_end + 1]

    def baseline(self, name: str) -> float:
        """Level just before the QRS (the PR segment)."""
        return float(np.median(self.leads[name][self.at(-0.03) : self.at(-0.01)]))

    @property
    def qrs_ms(self) -> float:
        return (self.qrs_end - self.qrs_start + 1) / self.fs * 1000


def average_beat(ecg: SyntheticECG, fraction: float = 0.05) -> AverageBeat:
    """Average all complete beats and find the QRS on the slope envelope.

    The envelope is the sum over leads of |d signal / dt|. The QRS is the run
    around its peak above ``fraction`` of the peak height (over the median),
    bridging dips shorter than 20 ms: the envelope dips wherever every lead
    peaks at once, e.g. between R and R'.
    """
    fs = ecg.fs
    signal = ecg.signal_uv.astype(np.float64)
    envelope = moving_average(np.abs(np.gradient(signal, axis=1)).sum(axis=0), 3)
    # Align on the QRS as a whole: smooth over 100 ms so that notched
    # complexes (two humps of slope) give one stable peak.
    peaks = pick_peaks(moving_average(envelope, round(0.1 * fs)), fs, 0.4)
    before, after = round(0.45 * fs), round(0.6 * fs)
    peaks = peaks[(peaks > before) & (peaks < signal.shape[1] - after)]
    windows = [slice(p - before, p + after) for p in peaks]
    beat_envelope = np.mean([envelope[w] for w in windows], axis=0)
    beat = np.mean([signal[:, w] for w in windows], axis=0)

    base = np.median(beat_envelope)
    above = beat_envelope - base > fraction * (beat_envelope.max() - base)
    gap = round(0.02 * fs)
    start = end = int(np.argmax(beat_envelope))
    while start > 0 and above[max(0, start - gap) : start].any():
        start -= 1
    while end < above.size - 1 and above[end + 1 : end + 1 + gap].any():
        end += 1
    return AverageBeat(dict(zip(STANDARD_LEADS, beat, strict=True)), start, end, fs)


def t_wave_level(beat: AverageBeat, ecg: SyntheticECG, name: str) -> float:
    """Mean of the lead over the second half of the ST-T, relative to baseline."""
    t_end = beat.at(ecg.qt_ms / 1000)
    t_mid = (beat.qrs_end + t_end) // 2
    return float(beat.leads[name][t_mid:t_end].mean()) - beat.baseline(name)


# --- shape, type, determinism ----------------------------------------------


def test_signal_is_read_only_int16_microvolts_in_standard_lead_order():
    ecg = synthesize(seed=1)
    assert ecg.signal_uv.dtype == np.int16
    assert ecg.signal_uv.shape == (12, 5000)
    assert ecg.lead_names == STANDARD_LEADS
    assert ecg.fs == 500.0
    assert not ecg.signal_uv.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        ecg.rhythm = "af"  # type: ignore[misc]


def test_length_follows_sampling_rate_and_duration():
    ecg = synthesize(seed=2, fs=400.0, duration_s=10.24)
    assert ecg.signal_uv.shape == (12, 4096)
    assert abs(measured_rate(ecg) - ecg.heart_rate) <= 5


@pytest.mark.parametrize(("rhythm", "conduction"), KINDS)
def test_same_seed_gives_identical_bytes(rhythm, conduction):
    first = synthesize(seed=42, rhythm=rhythm, conduction=conduction)
    second = synthesize(seed=42, rhythm=rhythm, conduction=conduction)
    assert first.signal_uv.tobytes() == second.signal_uv.tobytes()
    assert dataclasses.astuple(first)[1:] == dataclasses.astuple(second)[1:]


def test_different_seeds_give_different_signals():
    assert (
        synthesize(seed=1).signal_uv.tobytes() != synthesize(seed=2).signal_uv.tobytes()
    )


def test_batch_is_reproducible_and_its_items_differ():
    first = [ecg.signal_uv.tobytes() for ecg in synthetic_batch(6, seed=3)]
    again = [ecg.signal_uv.tobytes() for ecg in synthetic_batch(6, seed=3)]
    other = [ecg.signal_uv.tobytes() for ecg in synthetic_batch(6, seed=4)]
    assert first == again
    assert len(set(first)) == 6
    assert not set(first) & set(other)


def test_batch_is_mostly_normal_with_every_rhythm_and_conduction():
    batch = list(synthetic_batch(44, seed=0, duration_s=2.0))
    kinds = [(ecg.rhythm, ecg.conduction) for ecg in batch]
    assert {rhythm for rhythm, _ in kinds} == set(RHYTHMS)
    assert {conduction for _, conduction in kinds} == set(CONDUCTIONS)
    assert ("af", "rbbb") in kinds
    assert kinds.count(("sinus", "none")) >= 0.5 * len(kinds)
    assert all(ecg.signal_uv.shape == (12, 1000) for ecg in batch)


def test_two_hundred_exams_take_well_under_two_seconds():
    started = time.perf_counter()
    batch = list(synthetic_batch(200, seed=0))
    elapsed = time.perf_counter() - started
    assert len(batch) == 200
    assert elapsed < 2.0, f"200 synthetic exams took {elapsed:.2f} s"


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="rhythm"):
        synthesize(seed=0, rhythm="vt")
    with pytest.raises(ValueError, match="conduction"):
        synthesize(seed=0, conduction="wpw")
    with pytest.raises(ValueError, match="P waves"):
        synthesize(seed=0, rhythm="af", conduction="avb1")
    with pytest.raises(ValueError, match="positive"):
        synthesize(seed=0, fs=0)


# --- limb-lead consistency -------------------------------------------------


@settings(max_examples=25)
@given(st.integers(0, 2**32 - 1), st.sampled_from(KINDS))
def test_limb_leads_satisfy_einthoven_and_goldberger_within_rounding(seed, kind):
    rhythm, conduction = kind
    ecg = synthesize(seed=seed, rhythm=rhythm, conduction=conduction, duration_s=2)
    i, ii, iii, avr, avl, avf = ecg.signal_uv[:6].astype(np.int32)
    assert np.abs(ii - i - iii).max() <= 2
    assert np.abs(avr + avl + avf).max() <= 2
    assert np.abs(2 * avr + i + ii).max() <= 2


# --- rhythm and rate -------------------------------------------------------


@pytest.mark.parametrize(("rhythm", "conduction"), KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_rate_measured_on_lead_ii_matches_reported_heart_rate(seed, rhythm, conduction):
    ecg = synthesize(seed=seed, rhythm=rhythm, conduction=conduction)
    assert abs(measured_rate(ecg) - ecg.heart_rate) <= 5


@pytest.mark.parametrize(
    ("rhythm", "low", "high"),
    [("sinus", 50, 100), ("brady", 30, 50), ("tachy", 100, 150), ("af", 50, 150)],
)
def test_rate_ranges_follow_the_rhythm(rhythm, low, high):
    for seed in SEEDS:
        ecg = synthesize(seed=seed, rhythm=rhythm)
        assert low < ecg.heart_rate < high
        assert low < measured_rate(ecg) < high


def test_af_rr_intervals_are_far_more_irregular_than_sinus():
    sinus = [rr_variation(synthesize(seed=s)) for s in SEEDS]
    af = [rr_variation(synthesize(seed=s, rhythm="af")) for s in SEEDS]
    assert max(sinus) < 0.05
    assert min(af) > 0.08
    assert min(af) > 2 * max(sinus)


def test_pr_interval_is_normal_in_sinus_long_in_avb1_and_absent_in_af():
    for seed in SEEDS:
        assert 120 <= synthesize(seed=seed).pr_ms <= 200
        assert 120 <= synthesize(seed=seed, rhythm="tachy").pr_ms <= 200
        assert synthesize(seed=seed, conduction="avb1").pr_ms > 200
        assert synthesize(seed=seed, rhythm="brady", conduction="avb1").pr_ms > 200
        assert synthesize(seed=seed, rhythm="af").pr_ms is None


def bump_before_qrs(beat: AverageBeat, name: str) -> float:
    """Largest departure of the 200 ms before the QRS from a straight line.

    A P wave is a bump; the tail of the previous T wave (at fast rates) is not.
    """
    x = beat.leads[name][beat.at(-0.22) : beat.at(-0.02)]
    return float(np.abs(x - np.linspace(x[0], x[-1], x.size)).max())


def tq_segments(ecg: SyntheticECG, name: str) -> list[np.ndarray]:
    """The lead between the end of T and the next QRS, each segment detrended."""
    peaks = r_peaks_lead_ii(ecg)
    after_t = round((ecg.qt_ms / 1000 + 0.1) * ecg.fs)
    before_qrs = round(0.1 * ecg.fs)
    x = lead(ecg, name)
    segments = []
    for this, following in itertools.pairwise(peaks):
        start, end = this + after_t, following - before_qrs
        if end - start >= round(0.1 * ecg.fs):
            t = np.arange(end - start)
            segment = x[start:end]
            segments.append(segment - np.polyval(np.polyfit(t, segment, 1), t))
    return segments


def test_af_has_no_p_waves_but_fibrillatory_waves_in_v1():
    segments = []
    for seed in SEEDS:
        assert (
            bump_before_qrs(average_beat(synthesize(seed=seed, noise_uv=0)), "II") > 100
        )
        af_ecg = synthesize(seed=seed, rhythm="af", noise_uv=0)
        # Atrial activity unrelated to the QRS averages out over the beats...
        assert bump_before_qrs(average_beat(af_ecg), "II") < 80
        segments += tq_segments(af_ecg, "V1")
    # ...but is there beat by beat: f-waves of tens of µV at 4-9 Hz in V1.
    assert len(segments) >= 10
    residual = np.concatenate(segments)
    assert 10 < np.sqrt(np.mean(residual**2)) < 50
    crossings = sum(np.count_nonzero(np.diff(np.sign(s)) != 0) for s in segments)
    frequency = crossings / 2 / (residual.size / af_ecg.fs)
    assert 3.5 < frequency < 10


# --- QRS width and morphology ----------------------------------------------


@pytest.mark.parametrize(
    ("rhythm", "conduction"),
    [(r, c) for r, c in KINDS if c in ("rbbb", "lbbb")],
)
@pytest.mark.parametrize("seed", SEEDS)
def test_bundle_branch_block_qrs_measures_at_least_120_ms(seed, rhythm, conduction):
    ecg = synthesize(seed=seed, rhythm=rhythm, conduction=conduction)
    beat = average_beat(ecg)
    assert ecg.qrs_ms >= 120
    assert beat.qrs_ms >= 120
    assert abs(beat.qrs_ms - ecg.qrs_ms) <= 20


@pytest.mark.parametrize(
    ("rhythm", "conduction"),
    [(r, c) for r, c in KINDS if c in ("none", "avb1")],
)
@pytest.mark.parametrize("seed", SEEDS)
def test_normal_conduction_qrs_measures_under_110_ms(seed, rhythm, conduction):
    ecg = synthesize(seed=seed, rhythm=rhythm, conduction=conduction)
    beat = average_beat(ecg)
    assert 80 <= ecg.qrs_ms <= 100
    assert 60 <= beat.qrs_ms < 110
    assert abs(beat.qrs_ms - ecg.qrs_ms) <= 20


@pytest.mark.parametrize("seed", SEEDS)
def test_normal_ecg_has_plausible_amplitudes_and_polarities(seed):
    ecg = synthesize(seed=seed, noise_uv=0)
    beat = average_beat(ecg)
    r = {name: beat.qrs(name).max() - beat.baseline(name) for name in STANDARD_LEADS}
    s = {name: beat.qrs(name).min() - beat.baseline(name) for name in STANDARD_LEADS}
    # R 0.5-1.5 mV in the tallest limb lead, at most about 2 mV precordially.
    assert 500 <= max(r[name] for name in STANDARD_LEADS[:6]) <= 1600
    assert max(r[name] for name in STANDARD_LEADS[6:]) <= 2200
    assert max(-s[name] for name in STANDARD_LEADS[6:]) <= 2200
    # aVR is mostly negative; V1 is rS; R grows from V1 towards V5.
    assert -s["aVR"] > 2 * r["aVR"]
    assert -s["V1"] > 2 * r["V1"]
    assert r["V1"] < r["V3"] < r["V5"]
    # Upright T in I, II and V4-V6, inverted in aVR.
    for name in ("I", "II", "V4", "V5", "V6"):
        assert t_wave_level(beat, ecg, name) > 30, name
    assert t_wave_level(beat, ecg, "aVR") < -30


@pytest.mark.parametrize("seed", SEEDS)
def test_rbbb_has_terminal_r_prime_in_v1_and_wide_s_in_i_and_v6(seed):
    ecg = synthesize(seed=seed, conduction="rbbb", noise_uv=0)
    beat = average_beat(ecg)
    late = slice(beat.at(0.6 * ecg.qrs_ms / 1000), beat.qrs_end + 1)
    early = slice(beat.qrs_start, beat.at(0.4 * ecg.qrs_ms / 1000))
    v1 = beat.leads["V1"] - beat.baseline("V1")
    assert v1[late].max() > 300  # R'
    assert v1[late].max() > v1[early].max()  # R' taller than r
    assert v1[early].min() < -200  # S between them
    for name in ("I", "V6"):
        terminal = beat.leads[name][late] - beat.baseline(name)
        assert terminal.min() < -150, name  # wide terminal S
    assert t_wave_level(beat, ecg, "V1") < 0  # secondary T inversion


@pytest.mark.parametrize("seed", SEEDS)
def test_lbbb_has_qs_in_v1_broad_r_in_i_and_v6_and_discordant_t(seed):
    ecg = synthesize(seed=seed, conduction="lbbb", noise_uv=0)
    beat = average_beat(ecg)
    v1 = beat.qrs("V1") - beat.baseline("V1")
    assert v1.min() < -1000
    assert v1.max() < 0.2 * -v1.min()  # QS or tiny r
    for name in ("I", "V6"):
        qrs = beat.qrs(name) - beat.baseline(name)
        assert qrs.max() > 300, name
        assert qrs[: round(0.03 * ecg.fs)].min() > -60, name  # no septal q
        # Broad: above half its height for at least 40 ms.
        assert (qrs > qrs.max() / 2).sum() / ecg.fs >= 0.04, name
        assert t_wave_level(beat, ecg, name) < 0, name
    assert t_wave_level(beat, ecg, "V1") > 0


# --- labels ----------------------------------------------------------------


def taxonomy_codes() -> set[str]:
    path = REPO / "annotator" / "taxonomy" / "default.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["code"] for row in csv.DictReader(handle)}


@pytest.mark.parametrize(
    ("rhythm", "conduction", "labels"),
    [
        ("sinus", "none", ("SR", "NORM")),
        ("brady", "none", ("SB",)),
        ("tachy", "none", ("ST",)),
        ("af", "none", ("AF",)),
        ("sinus", "rbbb", ("SR", "RBBB")),
        ("sinus", "lbbb", ("SR", "LBBB")),
        ("sinus", "avb1", ("SR", "1dAVb")),
        ("af", "rbbb", ("AF", "RBBB")),
        ("brady", "avb1", ("SB", "1dAVb")),
    ],
)
def test_labels_state_the_truth_in_default_taxonomy_codes(rhythm, conduction, labels):
    ecg = synthesize(seed=5, rhythm=rhythm, conduction=conduction)
    assert ecg.labels == labels
    assert ecg.rhythm == rhythm
    assert ecg.conduction == conduction
    assert set(ecg.labels) <= taxonomy_codes()


# --- framework independence ------------------------------------------------

# annotator/__init__.py loads the Celery app, which imports Django; the check
# therefore stands in an empty package so that only the modules' own imports run.
IMPORT_WITHOUT_PACKAGE_INIT = """
import sys, types
package = types.ModuleType("annotator")
package.__path__ = ["annotator"]
sys.modules["annotator"] = package
import annotator.waveforms, annotator.synthetic
annotator.synthetic.synthesize(seed=0, duration_s=1)
leaked = [name for name in sys.modules if name.split(".")[0] in ("django", "celery")]
assert not leaked, leaked
"""


def test_synthetic_and_waveforms_import_without_django():
    subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_PACKAGE_INIT],
        cwd=REPO,
        check=True,
        timeout=60,
    )
