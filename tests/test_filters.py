"""Display filters: what they remove from a real ECG, what they keep, and the endpoint.

The records are real (PTB s0010_re, 12 leads at 1000 Hz; MIT-BIH 100 with its
beat annotations); the noise added to them is what readers meet: mains hum at
60 Hz and baseline wander at 0.1 Hz.
"""

from __future__ import annotations

import numpy as np
import pytest
import wfdb

from annotator.filters import DisplayFilters, FilterError
from annotator.ingest.importer import import_exams
from annotator.models import Exam
from annotator.storage import load_signal
from tests import factories
from tests.test_signal import client_for, decode, expected_body, store_exam, url

HUM_UV, DRIFT_UV = 200.0, 1000.0


@pytest.fixture
def ptb(wfdb_dir) -> tuple[np.ndarray, float]:
    """s0010_re's 12 standard leads in µV and its sampling rate."""
    record = wfdb.rdrecord(str(wfdb_dir / "s0010_re"))
    return record.p_signal[:, :12].T * 1000.0, float(record.fs)


def amplitude(x: np.ndarray, f: float, fs: float) -> np.ndarray:
    """Amplitude of the f Hz component of each row (over whole cycles)."""
    n = int(round(x.shape[-1] * f / fs) * fs / f) if f >= 1 else x.shape[-1]
    t = np.arange(n) / fs
    return 2 * np.abs((x[..., :n] * np.exp(-2j * np.pi * f * t)).mean(axis=-1))


def noise(n: int, fs: float) -> np.ndarray:
    t = np.arange(n) / fs
    return HUM_UV * np.sin(2 * np.pi * 60 * t) + DRIFT_UV * np.sin(2 * np.pi * 0.1 * t)


# --- The maths --------------------------------------------------------------------


def test_hum_and_wander_added_to_a_real_ecg_are_removed(ptb):
    clean, fs = ptb
    filters = DisplayFilters(highpass=0.5, notch=60)
    left = filters.apply(clean + noise(clean.shape[1], fs), fs) - filters.apply(
        clean, fs
    )
    # What the filters let through of the added noise, away from the record's
    # ends (odd reflection there is not the missing signal).
    inner = left[:, 2000:-2000]
    hum = amplitude(left, 60, fs).max()
    assert hum < HUM_UV / 100  # better than -40 dB (measured: 0.3 µV of 200)
    assert np.abs(inner).max() < 0.01 * DRIFT_UV  # measured: 1.6 µV of 1000


def test_a_cutoff_is_minus_6_db_and_the_passband_passes(ptb):
    _, fs = ptb
    t = np.arange(int(60 * fs)) / fs
    for filters, f, expected in [
        (DisplayFilters(highpass=0.5), 0.5, 0.5),  # |H|^2 of a Butterworth at fc
        (DisplayFilters(lowpass=40), 40, 0.5),
        (DisplayFilters(highpass=0.5, lowpass=40), 10, 1.0),
        (DisplayFilters(notch=50), 50, 0.0),
    ]:
        wave = np.sin(2 * np.pi * f * t)[None, :]
        kept = amplitude(
            filters.apply(wave, fs)[:, int(10 * fs) : -int(10 * fs)], f, fs
        )
        assert kept[0] == pytest.approx(expected, abs=0.01), (filters, f)


def test_zero_phase_keeps_every_beat_where_it_was(wfdb_dir):
    """MIT-BIH 100's annotated R peaks: the largest sample near each stays on
    the same sample after 0.5-40 Hz and a 60 Hz notch (a one-pass filter
    would move them by several samples)."""
    record = wfdb.rdrecord(str(wfdb_dir / "100"), sampto=360 * 120)
    beats = wfdb.rdann(str(wfdb_dir / "100"), "atr", sampto=360 * 120)
    fs = float(record.fs)
    raw = record.p_signal[:, 0] * 1000.0
    filtered = DisplayFilters(highpass=0.5, lowpass=40, notch=60).apply(raw[None], fs)[
        0
    ]
    normal = [
        s for s, sym in zip(beats.sample, beats.symbol, strict=True) if sym == "N"
    ]
    moved = []
    for s in normal[2:-2]:
        lo, hi = s - 18, s + 18
        moved.append(abs(int(np.argmax(filtered[lo:hi])) - int(np.argmax(raw[lo:hi]))))
    assert len(moved) > 100
    assert np.median(moved) == 0 and max(moved) <= 1


def test_labels_print_as_on_a_tracing():
    assert (
        DisplayFilters(highpass=0.5, lowpass=40, notch=60).label() == "0.5-40 Hz 60 Hz"
    )
    assert DisplayFilters(highpass=0.05).label() == "0.05 Hz-"
    assert DisplayFilters(lowpass=150).label() == "0-150 Hz"
    assert DisplayFilters().label() == "" and not DisplayFilters()


@pytest.mark.parametrize(
    ("values", "parameter", "words"),
    [
        ({"highpass": "0.01"}, "highpass", "from 0.05 to 1"),
        ({"highpass": "abc"}, "highpass", "a number of Hz"),
        ({"highpass": "nan"}, "highpass", "a number of Hz"),
        ({"lowpass": "10"}, "lowpass", "from 20 to 150"),
        ({"lowpass": "1e9"}, "lowpass", "from 20 to 150"),
        ({"notch": "55"}, "notch", "50 or 60"),
        ({"notch": True}, "notch", "50 or 60"),
        ({"bandpass": "1"}, "bandpass", "unknown filter"),
    ],
)
def test_bad_settings_name_the_parameter(values, parameter, words):
    with pytest.raises(FilterError) as caught:
        DisplayFilters.from_values(values)
    assert caught.value.parameter == parameter and words in str(caught.value)


def test_a_lowpass_or_notch_must_be_below_half_the_sampling_rate():
    with pytest.raises(FilterError, match="below half the sampling rate: 125 Hz"):
        DisplayFilters(lowpass=150).check(250.0)
    with pytest.raises(FilterError, match="notch"):
        DisplayFilters(notch=60).check(100.0)
    DisplayFilters(lowpass=100, notch=60).check(250.0)


# --- The endpoint -----------------------------------------------------------------


@pytest.fixture
def manager(cast):
    return client_for(cast.manager)


@pytest.fixture
def ptb_exam(cast, wfdb_dir) -> Exam:
    import_exams([wfdb_dir / "s0010_re.hea"], dataset="ptb")
    return Exam.objects.get(dataset="ptb")


def test_no_filter_parameter_is_the_signal_exactly_as_recorded(manager, ptb_exam):
    plain = manager.get(url(ptb_exam, width=1500))
    assert plain.status_code == 200 and "Display-Filters" not in plain
    header, _ = decode(plain.content)
    assert "filters" not in header
    stored = load_signal(ptb_exam.signal_key)
    assert plain.content == expected_body(ptb_exam, stored, width=1500)


def test_a_filtered_window_is_the_whole_record_filtered_then_cut(manager, ptb_exam):
    """Filtered with its context, before decimation: a 4 s window in the middle
    holds the samples of the whole filtered record, within rounding."""
    filters = DisplayFilters(highpass=0.05, lowpass=40, notch=50)
    response = manager.get(
        url(ptb_exam, width=8000, start=12, end=16, highpass=0.05, lowpass=40, notch=50)
    )
    assert response.status_code == 200, response.content
    header, leads = decode(response.content)
    assert header["method"] == "raw"
    assert header["filters"] == {
        "highpass": 0.05,
        "lowpass": 40.0,
        "notch": 50,
        "label": "0.05-40 Hz 50 Hz",
    }
    assert response["Display-Filters"] == "0.05-40 Hz 50 Hz"
    whole = filters.apply(
        load_signal(ptb_exam.signal_key) * ptb_exam.signal_gain,
        ptb_exam.sampling_rate,
    )
    expected = np.rint(whole[:, 12000:16000])
    got = np.array([lead["y"] for lead in leads], dtype=np.float64)
    assert np.abs(got - expected).max() <= 1


def test_decimation_keeps_the_extremes_of_the_filtered_signal(manager, ptb_exam):
    response = manager.get(url(ptb_exam, width=400, highpass=0.5, lowpass=40))
    header, _ = decode(response.content)
    assert header["method"] == "m4"
    filtered = DisplayFilters(highpass=0.5, lowpass=40).apply(
        load_signal(ptb_exam.signal_key) * ptb_exam.signal_gain, ptb_exam.sampling_rate
    )
    expected = expected_body(
        ptb_exam, filtered, width=400, gain_uv=1.0, filters=header["filters"]
    )
    assert response.content == expected


def test_the_etag_names_the_filters(manager, ptb_exam):
    plain = manager.get(url(ptb_exam, width=1500))
    notched = manager.get(url(ptb_exam, width=1500, notch=50))
    other = manager.get(url(ptb_exam, width=1500, notch=60))
    tags = {plain["ETag"], notched["ETag"], other["ETag"]}
    assert len(tags) == 3
    again = manager.get(
        url(ptb_exam, width=1500, notch=50), HTTP_IF_NONE_MATCH=notched["ETag"]
    )
    assert again.status_code == 304
    stale = manager.get(
        url(ptb_exam, width=1500, notch=60), HTTP_IF_NONE_MATCH=notched["ETag"]
    )
    assert stale.status_code == 200


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("highpass=0.01", "highpass must be a number of Hz from 0.05 to 1"),
        ("highpass=x", "highpass must be a number of Hz"),
        ("lowpass=10", "lowpass must be a number of Hz from 20 to 150"),
        ("lowpass=", None),  # empty means off
        ("notch=55", "notch must be 50 or 60"),
        ("lowpass=150", "lowpass must be below half the sampling rate: 125 Hz"),
    ],
)
def test_bad_filter_values_get_400_naming_the_parameter(cast, query, words):
    exam = store_exam(factories.sine_signal(2, 2500), fs=250.0, exam_id="F250")
    response = client_for(cast.manager).get(f"/api/exams/{exam.pk}/signal/?{query}")
    if words is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert words in response.json()["detail"]
