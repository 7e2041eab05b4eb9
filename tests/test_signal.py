"""The signal endpoint and M4 decimation: wire format, pixel exactness, rights."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from tsdownsample import M4Downsampler

from annotator import display, services
from annotator.ingest.importer import import_exams
from annotator.models import Exam
from annotator.storage import load_signal, save_signal, signal_key
from annotator.waveforms import STANDARD_LEADS, m4_indices, pixel_column_edges
from tests import factories

# --- Helpers ---------------------------------------------------------------------


def decode(body: bytes) -> tuple[dict, list[dict]]:
    """Read a binary answer as the browser does: DataView for the length,
    TextDecoder for the header, typed-array views (which must be aligned) on
    the one buffer for the data."""
    (length,) = struct.unpack_from("<I", body, 0)
    header = json.loads(body[4 : 4 + length].decode("utf-8"))
    data = 4 + length
    data += -data % 4
    assert data % 4 == 0
    assert body[4 + length : data] == b"\0" * (data - 4 - length)
    leads = []
    end = data
    for lead in header["leads"]:
        offset, size, kind = lead["y"]
        assert kind == "int16"
        assert (data + offset) % 2 == 0, "an Int16Array view needs 2-byte alignment"
        y = np.frombuffer(body, "<i2", size // 2, data + offset)
        end = max(end, data + offset + size)
        if lead["x"] is None:
            x = None
        else:
            offset, size, kind = lead["x"]
            assert kind == "int32"
            assert (data + offset) % 4 == 0, "an Int32Array view needs 4-byte alignment"
            x = np.frombuffer(body, "<i4", size // 4, data + offset)
            end = max(end, data + offset + size)
            assert len(x) == len(y)
        assert len(y) == lead["n"]
        leads.append({"name": lead["name"], "y": y, "x": x})
    assert end == len(body), "no stray bytes after the data blocks"
    return header, leads


def decode_json(body: bytes) -> tuple[dict, list[dict]]:
    import base64

    header = json.loads(body)
    leads = []
    for lead in header["leads"]:
        assert lead["y"]["dtype"] == "i2"
        y = np.frombuffer(base64.b64decode(lead["y"]["bdata"]), "<i2")
        x = None
        if lead["x"] is not None:
            assert lead["x"]["dtype"] == "i4"
            x = np.frombuffer(base64.b64decode(lead["x"]["bdata"]), "<i4")
        leads.append({"name": lead["name"], "y": y, "x": x})
    return header, leads


def assert_pixel_exact(raw: np.ndarray, x: np.ndarray, y: np.ndarray, width: int):
    """The points keep, for every pixel column, its first, last, lowest and
    highest sample, at most four points each; columns computed here from the
    drawing geometry (sample i at i * width / n pixels), not from the code."""
    n = len(raw)
    assert np.all(np.diff(x) > 0), "x strictly increasing, no repeated point"
    np.testing.assert_array_equal(y, raw[x])
    column = np.arange(n) * width // n
    starts = np.flatnonzero(np.r_[True, column[1:] != column[:-1]])
    assert len(starts) == width
    lasts = np.r_[starts[1:], n] - 1
    kept = set(x.tolist())
    assert set(starts.tolist()) <= kept, "every column keeps its first sample"
    assert set(lasts.tolist()) <= kept, "every column keeps its last sample"
    point_column = x * width // n
    assert np.bincount(point_column, minlength=width).max() <= 4
    low = np.full(width, np.iinfo(np.int64).max)
    high = np.full(width, np.iinfo(np.int64).min)
    np.minimum.at(low, point_column, y.astype(np.int64))
    np.maximum.at(high, point_column, y.astype(np.int64))
    np.testing.assert_array_equal(low, np.minimum.reduceat(raw, starts))
    np.testing.assert_array_equal(high, np.maximum.reduceat(raw, starts))


def spiky_signal(seed: int, n_leads: int, n: int, dtype=np.int16) -> np.ndarray:
    """Smooth waves plus noise plus one-sample spikes of either sign."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    period = rng.uniform(50, 2000)
    base = 800 * np.sin(2 * np.pi * t / period + rng.uniform(0, 6, (n_leads, 1)))
    noisy = base + rng.normal(0, 30, (n_leads, n))
    n_spikes = max(1, n // 500)
    rows = rng.integers(0, n_leads, n_spikes)
    cols = rng.integers(0, n, n_spikes)
    noisy[rows, cols] += rng.choice([-1, 1], n_spikes) * rng.uniform(3000, 20000)
    return np.rint(noisy).astype(dtype)


def store_exam(
    signal: np.ndarray,
    *,
    fs: float,
    gain: float = 1.0,
    exam_id: str = "S1",
    lead_names: list[str] | None = None,
) -> Exam:
    key = signal_key("signals", exam_id)
    digest = save_signal(key, signal)
    return factories.make_exam(
        exam_id,
        dataset="signals",
        sampling_rate=fs,
        n_samples=signal.shape[1],
        lead_names=lead_names or list(STANDARD_LEADS[: signal.shape[0]]),
        signal_key=key,
        signal_sha256=digest,
        signal_dtype=str(signal.dtype),
        signal_gain=gain,
    )


def expected_body(exam: Exam, stored: np.ndarray, *, width: int, **options) -> bytes:
    """What the endpoint must send for ``stored`` samples of ``exam``: the display
    encoding with the exam's numbers (``options`` override or add to them)."""
    values = {
        "exam": exam.pk,
        "sampling_rate": exam.sampling_rate,
        "n_samples": exam.n_samples,
        "gain_uv": exam.signal_gain,
        "x0": 0,
        "lead_names": exam.lead_names,
        **options,
    }
    return display.encode_signal(stored, width=width, **values)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.get_or_create(user=user)[0]
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def url(exam: Exam | int, **params) -> str:
    pk = exam if isinstance(exam, int) else exam.pk
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/exams/{pk}/signal/" + (f"?{query}" if query else "")


@pytest.fixture
def sine_exam(cast) -> Exam:
    """12 leads, 10 s at 500 Hz, 1 µV per unit."""
    return store_exam(factories.sine_signal(12, 5000), fs=500.0)


@pytest.fixture
def manager(cast) -> APIClient:
    return client_for(cast.manager)


@pytest.fixture
def mitbih(cast, wfdb_dir) -> Exam:
    summary = import_exams([wfdb_dir / "100.hea"], dataset="mitdb")
    assert summary.imported == 1
    return Exam.objects.get(dataset="mitdb", exam_id="100")


@pytest.fixture
def dicom_exam(cast) -> Exam:
    """pydicom's 12-lead sample: 12 x 10,000 samples at 1000 Hz, 1.25 µV per unit."""
    import_exams([get_testdata_file("waveform_ecg.dcm")], dataset="dicom")
    return Exam.objects.get(dataset="dicom")


def microvolts(exam: Exam, start: int | None = None, stop: int | None = None):
    stored = load_signal(exam.signal_key, start=start, stop=stop)
    return np.rint(stored * exam.signal_gain).astype(np.int64)


# --- m4_indices ------------------------------------------------------------------


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n_leads=st.integers(1, 3),
    n=st.integers(1, 6000),
    width_fraction=st.floats(0.0, 1.0),
    window=st.tuples(st.floats(0.0, 1.0), st.floats(0.0, 1.0)),
    dtype=st.sampled_from([np.int16, np.int32]),
    engine=st.sampled_from(["numpy", "tsdownsample"]),
)
def test_m4_keeps_first_last_min_and_max_of_every_pixel_column(
    seed, n_leads, n, width_fraction, window, dtype, engine
):
    signal = spiky_signal(seed, n_leads, n, dtype)
    a, b = sorted(round(f * n) for f in window)
    if b - a < 1:
        a, b = 0, n
    part = signal[:, a:b]
    width = max(1, round(width_fraction * part.shape[1]))
    indices = m4_indices(part, width, engine=engine)
    assert indices.shape == (n_leads, 4 * width)
    for lead in range(n_leads):
        x = np.unique(indices[lead])
        assert_pixel_exact(part[lead], x, part[lead][x], width)


@pytest.mark.parametrize("engine", ["numpy", "tsdownsample"])
def test_m4_rows_are_four_indices_per_column_in_order(engine):
    signal = np.array([[0, 5, -3, 1, 2, 2, 9, 2, 0, 0]], dtype=np.int16)
    # Columns of 10 samples on 2 pixels: [0, 5) and [5, 10).
    np.testing.assert_array_equal(pixel_column_edges(10, 2), [0, 5, 10])
    np.testing.assert_array_equal(
        m4_indices(signal, 2, engine=engine), [[0, 1, 2, 4, 5, 6, 8, 9]]
    )


def test_a_one_sample_spike_survives_decimation_in_every_lead():
    signal = np.zeros((12, 100_000), dtype=np.int16)
    spikes = np.random.default_rng(3).integers(0, 100_000, 12)
    signal[np.arange(12), spikes] = 5000
    indices = m4_indices(signal, 1500)
    for lead in range(12):
        assert spikes[lead] in indices[lead]


def test_engines_agree_index_for_index():
    signal = spiky_signal(7, 4, 50_000)
    signal[:, ::7] = signal[:, 3:4]  # plenty of ties: both keep the earliest
    width = 1234
    numpy_rows = m4_indices(signal, width, engine="numpy")
    np.testing.assert_array_equal(
        m4_indices(signal, width, engine="tsdownsample"), numpy_rows
    )
    edges = pixel_column_edges(signal.shape[1], width)
    values = np.take_along_axis(signal, numpy_rows, 1).reshape(4, width, 4)
    np.testing.assert_array_equal(
        values.min(axis=2), np.minimum.reduceat(signal, edges[:-1], axis=1)
    )
    np.testing.assert_array_equal(
        values.max(axis=2), np.maximum.reduceat(signal, edges[:-1], axis=1)
    )


def test_tsdownsample_alone_bins_across_pixel_columns():
    """Why m4_indices gives tsdownsample an x array: without one its bins are
    (n - 1) / width samples wide and straddle the pixel columns."""
    n, width = 1000, 112
    y = np.arange(n, dtype=np.float32)  # rising: each bin keeps its first sample
    column_starts = set(pixel_column_edges(n, width)[:-1].tolist())
    plain = set(M4Downsampler().downsample(y, n_out=4 * width).tolist())
    assert len(column_starts - plain) > 50
    aligned = m4_indices(y[None], width, engine="tsdownsample")[0]
    assert column_starts <= set(aligned.tolist())


def test_m4_refuses_nan_and_impossible_widths():
    with pytest.raises(ValueError, match="NaN"):
        m4_indices(np.array([[0.0, np.nan, 1.0, 2.0]]), 2)
    with pytest.raises(ValueError, match="width"):
        m4_indices(np.zeros((1, 10), np.int16), 11)
    with pytest.raises(ValueError, match="width"):
        m4_indices(np.zeros((1, 10), np.int16), 0)
    with pytest.raises(ValueError, match="shape"):
        m4_indices(np.zeros(10, np.int16), 2)


# --- Raw windows -----------------------------------------------------------------


def test_raw_window_round_trips_the_stored_microvolts(manager, sine_exam):
    response = manager.get(url(sine_exam))
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/octet-stream"
    header, leads = decode(response.content)
    assert header == {
        **header,
        "exam": sine_exam.pk,
        "sampling_rate": 500.0,
        "start": 0.0,
        "end": 10.0,
        "units": "uV",
        "method": "raw",
        "width": 2000,
        "x0": 0,
        "n_window": 5000,
        "clipped": False,
    }
    assert [lead["name"] for lead in leads] == list(STANDARD_LEADS)
    stored = load_signal(sine_exam.signal_key)
    for row, lead in enumerate(leads):
        assert lead["x"] is None
        np.testing.assert_array_equal(lead["y"], stored[row])


@pytest.mark.parametrize("gain", [1.25, 5.0, 0.5])
def test_raw_values_are_stored_units_times_gain_rounded_to_microvolts(
    cast, manager, gain
):
    signal = spiky_signal(1, 3, 4000) // 4  # within int16 µV at 5 µV per unit
    exam = store_exam(signal, fs=1000.0, gain=gain)
    header, leads = decode(manager.get(url(exam, start=1, end=2.5)).content)
    assert (header["x0"], header["n_window"], header["method"]) == (1000, 1500, "raw")
    expected = np.rint(signal[:, 1000:2500] * gain)
    for row, lead in enumerate(leads):
        np.testing.assert_array_equal(lead["y"], expected[row])
        assert np.abs(lead["y"] - signal[row, 1000:2500] * gain).max() <= 0.5


def test_window_times_snap_to_the_samples_they_contain(manager, cast):
    exam = store_exam(spiky_signal(2, 2, 10_000), fs=1000.0)
    # 0.3 * 1000 is 300.00000000000006 in floating point; it is still sample 300.
    header, _ = decode(manager.get(url(exam, start=0.3, end=0.5)).content)
    assert (header["x0"], header["n_window"]) == (300, 200)
    assert (header["start"], header["end"]) == (0.3, 0.5)
    # Between samples: the first sample at or after start, up to before end.
    header, _ = decode(manager.get(url(exam, start=0.3004, end=0.5004)).content)
    assert (header["x0"], header["n_window"]) == (301, 200)
    assert header["start"] == 0.301


def test_leads_are_sent_in_the_order_asked(manager, sine_exam):
    _, leads = decode(manager.get(url(sine_exam, leads="V1,I,aVF")).content)
    assert [lead["name"] for lead in leads] == ["V1", "I", "aVF"]
    stored = load_signal(sine_exam.signal_key)
    for lead in leads:
        row = STANDARD_LEADS.index(lead["name"])
        np.testing.assert_array_equal(lead["y"], stored[row])


def test_values_beyond_int16_microvolts_are_clipped_and_flagged(manager, cast):
    signal = np.zeros((1, 1000), dtype=np.int32)
    signal[0, 10] = 40_000
    signal[0, 20] = -40_000
    exam = store_exam(signal, fs=100.0)
    header, leads = decode(manager.get(url(exam)).content)
    assert header["clipped"] is True
    assert (leads[0]["y"][10], leads[0]["y"][20]) == (32767, -32768)
    header, _ = decode(manager.get(url(exam, start=1, end=2)).content)
    assert header["clipped"] is False


# --- M4 through the endpoint -----------------------------------------------------


def test_decimated_windows_are_pixel_exact_for_any_window_and_width(manager, cast):
    signal = spiky_signal(11, 3, 40_000)
    exam = store_exam(signal, fs=2000.0)
    seen = set()

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        width=st.integers(16, 2000),
        a=st.integers(0, 39_999),
        b=st.integers(1, 40_000),
    )
    def check(width, a, b):
        a, b = min(a, b - 1), max(a + 1, b)
        response = manager.get(url(exam, width=width, start=a / 2000, end=b / 2000))
        assert response.status_code == 200, response.content
        header, leads = decode(response.content)
        assert (header["x0"], header["n_window"]) == (a, b - a)
        seen.add(header["method"])
        for row, lead in enumerate(leads):
            raw = signal[row, a:b]
            if header["method"] == "raw":
                np.testing.assert_array_equal(lead["y"], raw)
            else:
                assert b - a > 4 * width
                assert_pixel_exact(raw, lead["x"], lead["y"], width)

    check()
    assert seen == {"raw", "m4"}


def test_mitbih_100_at_1500_px_keeps_every_columns_extremes(manager, mitbih):
    response = manager.get(url(mitbih, width=1500))
    header, leads = decode(response.content)
    assert header["method"] == "m4"
    assert (header["x0"], header["n_window"]) == (0, 650_000)
    uv = microvolts(mitbih)
    for row, lead in enumerate(leads):
        assert len(lead["y"]) <= 4 * 1500
        assert_pixel_exact(uv[row], lead["x"], lead["y"], 1500)


def test_mitbih_100_zoomed_to_10_s_is_sent_raw(manager, mitbih):
    header, leads = decode(
        manager.get(url(mitbih, width=1500, start=600, end=610)).content
    )
    assert (header["method"], header["x0"], header["n_window"]) == (
        "raw",
        216_000,
        3600,
    )
    uv = microvolts(mitbih, 216_000, 219_600)
    for row, lead in enumerate(leads):
        np.testing.assert_array_equal(lead["y"], uv[row])


# --- Payload size and compression ------------------------------------------------


@pytest.mark.parametrize("width", [16, 1200, 2000, 2500, 20000])
def test_a_12_lead_payload_is_at_most_1_1_times_its_raw_int16_size(
    manager, dicom_exam, width
):
    response = manager.get(url(dicom_exam, width=width))
    raw_size = 12 * 10_000 * 2
    assert len(response.content) <= 1.1 * raw_size
    header, leads = decode(response.content)
    uv = microvolts(dicom_exam)
    for row, lead in enumerate(leads):
        if header["method"] == "raw":
            np.testing.assert_array_equal(lead["y"], uv[row])
        else:
            assert_pixel_exact(uv[row], lead["x"], lead["y"], width)


def test_decimating_mitbih_100_sends_a_small_fraction_of_the_samples(manager, mitbih):
    body = manager.get(url(mitbih, width=1500)).content
    raw_size = 2 * 650_000 * 2
    assert len(body) < raw_size / 25


def test_gzip_shrinks_the_body_when_the_client_accepts_it(manager, mitbih):
    plain = manager.get(url(mitbih, width=1500, start=0, end=60))
    zipped = manager.get(
        url(mitbih, width=1500, start=0, end=60), HTTP_ACCEPT_ENCODING="gzip"
    )
    assert "Content-Encoding" not in plain
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert len(zipped.content) < 0.8 * len(plain.content)
    assert gzip.decompress(zipped.content) == plain.content


# --- JSON format -----------------------------------------------------------------


@pytest.mark.parametrize("params", [{}, {"width": 300}])
def test_json_format_carries_the_same_numbers_as_binary(manager, cast, params):
    exam = store_exam(spiky_signal(5, 3, 12_000), fs=1000.0, gain=1.25)
    binary_header, binary = decode(manager.get(url(exam, **params)).content)
    response = manager.get(url(exam, format="json", **params))
    assert response["Content-Type"] == "application/json"
    json_header, from_json = decode_json(response.content)
    assert {k: v for k, v in json_header.items() if k != "leads"} == {
        k: v for k, v in binary_header.items() if k != "leads"
    }
    assert binary_header["method"] == ("m4" if params else "raw")
    for a, b in zip(binary, from_json, strict=True):
        assert a["name"] == b["name"]
        np.testing.assert_array_equal(a["y"], b["y"])
        if a["x"] is None:
            assert b["x"] is None
        else:
            np.testing.assert_array_equal(a["x"], b["x"])


@pytest.mark.parametrize(
    "params",
    [{"width": 1200}, {"width": 300, "start": 2, "end": 8, "leads": "V5,II"}],
)
@pytest.mark.parametrize("fmt", ["binary", "json"])
def test_the_endpoint_sends_the_display_encoding_byte_for_byte(
    manager, dicom_exam, params, fmt
):
    response = manager.get(url(dicom_exam, format=fmt, **params))
    assert response.status_code == 200
    exam, names = dicom_exam, params.get("leads", ",".join(dicom_exam.lead_names))
    x0, stop = display.sample_window(
        params.get("start", 0.0),
        params.get("end", exam.n_samples / exam.sampling_rate),
        fs=exam.sampling_rate,
        n_samples=exam.n_samples,
    )
    rows = [exam.lead_names.index(name) for name in names.split(",")]
    stored = load_signal(exam.signal_key, start=x0, stop=stop)[rows]
    assert response.content == expected_body(
        exam,
        stored,
        x0=x0,
        width=params["width"],
        lead_names=names.split(","),
        fmt=fmt,
    )


# --- Bad parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("width=abc", "width must be a whole number of pixels from 16 to 20000"),
        ("width=1200.5", "width must be a whole number"),
        ("width=0", "(got '0')"),
        ("width=15", "from 16 to 20000"),
        ("width=20001", "(got '20001')"),
        ("width=" + "9" * 5000, "width must be a whole number"),
        ("start=5&end=2", "end must be greater than start (got start=5, end=2)"),
        ("start=3&end=3", "end must be greater than start"),
        ("end=10.002", "end must be at most the record's duration, 10 s"),
        ("start=-1", "start must be 0 s or later"),
        ("start=nan", "start must be a finite number of seconds (got 'nan')"),
        ("end=inf", "end must be a finite number of seconds (got 'inf')"),
        ("end=-inf", "end must be a finite number"),
        ("start=1e400", "start must be a finite number"),
        ("start=1_0", "start must be a finite number"),
        ("start=0.0001&end=0.0015", "holds no sample; samples are 0.002 s apart"),
        ("leads=I,V7", "unknown lead 'V7'; this exam has I, II, III"),
        ("leads=", "leads must name at least one lead"),
        ("leads=I,I", "lead 'I' is asked for twice"),
        ("format=xml", "format must be binary or json"),
    ],
)
def test_bad_parameters_get_400_saying_what_to_fix(manager, sine_exam, query, words):
    response = manager.get(f"/api/exams/{sine_exam.pk}/signal/?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert words in response.json()["detail"]


def test_errors_are_json_even_when_the_client_asks_for_binary(manager, sine_exam):
    response = manager.get(
        url(sine_exam, width=0), HTTP_ACCEPT="application/octet-stream"
    )
    assert response.status_code == 400
    assert "width" in response.json()["detail"]


# --- Rights ----------------------------------------------------------------------


def test_anonymous_gets_401_with_a_token_challenge(sine_exam):
    response = APIClient().get(url(sine_exam))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_reader_sees_the_signal_of_an_exam_they_hold_and_no_other(cast):
    exam = store_exam(factories.sine_signal(12, 5000), fs=500.0, exam_id="held")
    other = store_exam(factories.sine_signal(12, 5000, seed=1), fs=500.0, exam_id="x")
    campaign = factories.make_campaign(cast, [exam])
    assert services.claim_next(campaign=campaign, reader=cast.reader1).exam == exam
    assert client_for(cast.reader1).get(url(exam)).status_code == 200
    for user, target in [
        (cast.reader2, exam),  # same campaign, has not claimed it
        (cast.outsider, exam),
        (cast.adjudicator, exam),  # nothing to adjudicate yet
        (cast.reader1, other),  # in no campaign of theirs
    ]:
        response = client_for(user).get(url(target))
        assert response.status_code == 404
        assert response.json() == {"detail": "Not found."}


def test_an_unknown_exam_is_404_like_a_foreign_one(manager):
    response = manager.get(url(987654))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_browser_session_authenticates_too(cast, sine_exam):
    client = APIClient()
    client.login(username="manager", password=factories.PASSWORD)
    response = client.get(url(sine_exam, leads="II"))
    assert response.status_code == 200
    _, leads = decode(response.content)
    assert [lead["name"] for lead in leads] == ["II"]


def test_a_missing_signal_file_is_404_saying_so(manager, cast):
    exam = factories.make_exam("no-file")
    response = manager.get(url(exam))
    assert response.status_code == 404
    assert "not in storage" in response.json()["detail"]


# --- Caching ---------------------------------------------------------------------


def test_etag_and_if_none_match_give_304(manager, sine_exam):
    first = manager.get(url(sine_exam, width=800))
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first["Cache-Control"] == "private, max-age=86400"
    again = manager.get(url(sine_exam, width=800), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    assert again["Cache-Control"] == "private, max-age=86400"
    # The same samples asked with other spellings share the ETag.
    same = manager.get(url(sine_exam, width="0800", start="0.0", end="10"))
    assert same["ETag"] == etag
    for other in ({"width": 801}, {"leads": "I"}, {"end": 9}, {"format": "json"}):
        assert manager.get(url(sine_exam, **{"width": 800, **other}))["ETag"] != etag
    stale = manager.get(url(sine_exam, width=800), HTTP_IF_NONE_MATCH='"other"')
    assert stale.status_code == 200


def test_the_weak_etag_of_a_gzipped_answer_still_matches(manager, sine_exam):
    zipped = manager.get(url(sine_exam), HTTP_ACCEPT_ENCODING="gzip")
    assert zipped["Content-Encoding"] == "gzip"
    weak = zipped["ETag"]
    assert weak.startswith('W/"')
    again = manager.get(
        url(sine_exam), HTTP_ACCEPT_ENCODING="gzip", HTTP_IF_NONE_MATCH=weak
    )
    assert again.status_code == 304


def test_a_new_signal_changes_the_etag(manager, cast):
    exam = store_exam(factories.sine_signal(2, 1000), fs=500.0)
    before = manager.get(url(exam))["ETag"]
    exam.signal_sha256 = save_signal(exam.signal_key, factories.sine_signal(2, 1000, 9))
    exam.save()
    after = manager.get(url(exam), HTTP_IF_NONE_MATCH=before)
    assert after.status_code == 200
    assert after["ETag"] != before
