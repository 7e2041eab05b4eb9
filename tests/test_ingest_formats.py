"""Importing each format: real WFDB and DICOM records, generated HDF5 and npy files."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from io import StringIO
from pathlib import Path

import h5py
import numpy as np
import pytest
import wfdb
from django.core.management import call_command
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.waveforms.numpy_handler import multiplex_array

from annotator.ingest import detect_format, iter_sources
from annotator.ingest import importer as importer_module
from annotator.ingest.importer import CONFLICT, import_exams
from annotator.models import AGE_CAP, Exam, PatientLink
from annotator.storage import load_signal, signal_key
from annotator.synthetic import synthetic_batch
from annotator.waveforms import STANDARD_LEADS

pytestmark = pytest.mark.django_db

CODE15_CSV_COLUMNS = [
    "exam_id",
    "age",
    "is_male",
    "nn_predicted_age",
    "1dAVb",
    "RBBB",
    "LBBB",
    "SB",
    "AF",
    "ST",
    "patient_id",
    "normal_ecg",
    "death",
    "timey",
    "trace_file",
]


# --- Builders (also used by test_ingest_bad_input) ------------------------------


def code15_tracings(
    n: int, *, seed: int = 0, lengths: Sequence[int] = ()
) -> np.ndarray:
    """(n, 4096, 12) float32 mV; exam i is ``lengths[i]`` samples centred in zeros."""
    rng = np.random.default_rng(seed)
    tracings = np.zeros((n, 4096, 12), dtype=np.float32)
    for i in range(n):
        length = lengths[i] if i < len(lengths) else 4096
        start = (4096 - length) // 2
        values = rng.normal(0, 0.4, size=(length, 12)).astype(np.float32)
        values[0] = values[-1] = 0.5  # no lead is zero at the recording's edges
        tracings[i, start : start + length] = values
    return tracings


def write_code15(
    path: Path,
    tracings: np.ndarray,
    exam_ids: Sequence[int | str],
    *,
    csv_rows: Sequence[dict] | None = None,
) -> Path:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("tracings", data=tracings, chunks=(1, 4096, 12))
        if exam_ids and isinstance(exam_ids[0], str):
            handle.create_dataset(
                "exam_id", data=np.array(exam_ids, dtype=h5py.string_dtype())
            )
        else:
            handle.create_dataset("exam_id", data=np.asarray(exam_ids, dtype=np.int64))
    if csv_rows is not None:
        with (path.parent / "exams.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, CODE15_CSV_COLUMNS, restval="")
            writer.writeheader()
            writer.writerows(csv_rows)
    return path


def write_npy(
    folder: Path, stem: str, array: np.ndarray, sidecar: dict | str | None
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.npy"
    np.save(path, array)
    if isinstance(sidecar, dict):
        (folder / f"{stem}.json").write_text(json.dumps(sidecar))
    elif isinstance(sidecar, str):
        (folder / f"{stem}.json").write_text(sidecar)
    return path


def write_wfdb(
    folder: Path,
    name: str,
    digital: np.ndarray,
    *,
    fs: float = 500,
    names: Sequence[str] = STANDARD_LEADS,
    comments: Sequence[str] = (),
) -> Path:
    """A PTB-XL-like record: fmt 16, 1000 adu/mV; ``digital`` is (samples, leads)."""
    folder.mkdir(parents=True, exist_ok=True)
    n = digital.shape[1]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=["mV"] * n,
        sig_name=list(names)[:n],
        d_signal=digital.astype(np.int16),
        fmt=["16"] * n,
        adc_gain=[1000.0] * n,
        baseline=[0] * n,
        comments=list(comments),
        write_dir=str(folder),
    )
    return folder / f"{name}.hea"


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


# --- WFDB: real PhysioNet records -------------------------------------------------


def test_ptb_record_keeps_the_12_leads_and_drops_the_frank_leads(wfdb_dir) -> None:
    summary = import_exams([wfdb_dir / "s0010_re.hea"], dataset="ptb")
    assert (summary.imported, summary.rejected) == (1, [])
    exam = Exam.objects.get(dataset="ptb", exam_id="s0010_re")
    assert exam.lead_names == list(STANDARD_LEADS)
    assert (exam.sampling_rate, exam.n_samples) == (1000.0, 38400)
    assert exam.signal_gain == pytest.approx(1000 / 2000)
    assert any("vx, vy, vz" in note for note in exam.notes)
    assert (exam.age, exam.sex, exam.source_format) == (81, "F", "wfdb")

    source = wfdb.rdrecord(str(wfdb_dir / "s0010_re"), physical=False)
    expected = (source.d_signal[:, :12] - np.array(source.baseline[:12])).T
    stored = load_signal(exam.signal_key)
    assert stored.dtype == np.int16
    assert np.abs(stored.astype(np.int64) - expected).max() <= 1
    physical = wfdb.rdrecord(str(wfdb_dir / "s0010_re"), channels=list(range(12)))
    np.testing.assert_allclose(
        stored * exam.signal_gain / 1000, physical.p_signal.T, atol=1 / 2000
    )


def test_mit_bih_record_maps_mlii_to_ii_and_keeps_30_minutes(wfdb_dir) -> None:
    import_exams([wfdb_dir / "100.hea"], dataset="mitdb")
    exam = Exam.objects.get(dataset="mitdb", exam_id="100")
    assert exam.lead_names == ["II", "V5"]
    assert (exam.sampling_rate, exam.n_samples) == (360.0, 650000)
    assert exam.signal_gain == pytest.approx(1000 / 200)
    assert any("MLII → II" in note for note in exam.notes)
    assert (exam.age, exam.sex) == (69, "M")
    source = wfdb.rdrecord(str(wfdb_dir / "100"), physical=False)
    expected = (source.d_signal - np.array(source.baseline)).T
    np.testing.assert_array_equal(load_signal(exam.signal_key), expected)
    window = load_signal(exam.signal_key, start=360 * 600, stop=360 * 610)
    np.testing.assert_array_equal(window, expected[:, 360 * 600 : 360 * 610])


def test_generic_channel_names_are_kept_as_ecg_channels_with_a_note(wfdb_dir) -> None:
    import_exams([wfdb_dir / "test01_00s.hea"], dataset="wfdb-test")
    exam = Exam.objects.get(exam_id="test01_00s")
    assert exam.lead_names == ["ECG 1", "ECG 2", "ECG 3", "ECG 4"]
    assert any("unknown lead" in note for note in exam.notes)
    assert (exam.sampling_rate, exam.n_samples, exam.signal_gain) == (500, 4000, 10)
    assert (exam.age, exam.sex) == (25, "M")


def test_a_folder_counts_each_wfdb_record_once(wfdb_dir) -> None:
    summary = import_exams([wfdb_dir])
    assert (summary.imported, summary.rejected) == (3, [])
    assert set(Exam.objects.values_list("dataset", flat=True)) == {wfdb_dir.name}


def test_challenge_style_header_comments_give_age_sex_and_snomed(tmp_path) -> None:
    digital = np.random.default_rng(1).integers(-500, 500, size=(5000, 12))
    header = write_wfdb(
        tmp_path,
        "A0001",
        digital,
        comments=["Age: 95", "Sex: Female", "Dx: 164889003,59118001", "Rx: Unknown"],
    )
    import_exams([header], dataset="challenge")
    exam = Exam.objects.get(exam_id="A0001")
    assert exam.machine_statements == ["SNOMED 164889003", "SNOMED 59118001"]
    assert (exam.age, exam.sex) == (AGE_CAP, "F")
    np.testing.assert_array_equal(load_signal(exam.signal_key), digital.T)
    assert exam.signal_gain == 1.0


# --- DICOM ---------------------------------------------------------------------------


def test_dicom_12_lead_sample_is_imported_with_statements_and_measurements() -> None:
    path = get_testdata_file("waveform_ecg.dcm")
    assert detect_format(path) == "dicom"
    summary = import_exams([path], dataset="dicom")
    assert (summary.imported, summary.rejected) == (1, [])
    exam = Exam.objects.get(dataset="dicom")
    assert exam.lead_names == list(STANDARD_LEADS)
    assert (exam.sampling_rate, exam.n_samples) == (1000.0, 10000)
    assert exam.signal_gain == pytest.approx(1.25)
    assert exam.machine_statements == ["RITMO SINUSALE", "ECG NORMALE"]
    assert exam.measurements["pr_ms"] == 161
    assert exam.measurements["qrs_ms"] == 75
    assert exam.measurements["qt_ms"] == 368
    assert exam.measurements["qtc_ms"] == 370
    assert exam.measurements["qrs_axis_deg"] == 52
    assert exam.measurements["hr_bpm"] == pytest.approx(60000 / 982, abs=0.1)
    assert (exam.age, exam.sex) == (42, "F")
    assert exam.acquired_at.year == 2013

    ds = dcmread(path)
    raw = multiplex_array(ds, 0, as_raw=True).T.astype(np.float64)
    stored = load_signal(exam.signal_key).astype(np.float64)
    assert np.abs(stored * exam.signal_gain - raw * 1.25).max() <= 1.25
    uv = stored * exam.signal_gain
    lead = {name: uv[i] for i, name in enumerate(exam.lead_names)}
    assert np.abs(lead["II"] - lead["I"] - lead["III"]).max() <= 2 * 1.25


def test_dicom_patient_id_goes_to_the_pseudonym_table_only() -> None:
    import_exams([get_testdata_file("waveform_ecg.dcm")], dataset="dicom")
    exam = Exam.objects.get()
    link = PatientLink.objects.get()
    assert (link.dataset, link.source_patient_id) == ("dicom", "642341")
    assert exam.patient_pseudonym == link.pseudonym
    row = json.dumps(list(Exam.objects.values().get().values()), default=str)
    assert "642341" not in row


# --- CODE-15% HDF5 -----------------------------------------------------------------


def test_code15_strips_centred_zero_padding_exactly(tmp_path) -> None:
    lengths = [4096, 2800, 4000, 4094]
    tracings = code15_tracings(4, lengths=lengths)
    tracings[2, 1500:1600] = 0  # a flat stretch inside a recording stays
    tracings[3, 1, 3:] = 0  # a sample zero in some leads only is not padding
    path = write_code15(tmp_path / "exams_part0.hdf5", tracings, [10, 11, 12, 13])
    summary = import_exams([path], dataset="code15")
    assert (summary.imported, summary.rejected) == (4, [])
    for exam_id, length in zip([10, 11, 12, 13], lengths, strict=True):
        exam = Exam.objects.get(exam_id=str(exam_id))
        start = (4096 - length) // 2
        recording = tracings[exam_id - 10, start : start + length].T
        expected = np.rint(recording.astype(np.float64) * 1000)
        assert (exam.n_samples, exam.sampling_rate) == (length, 400.0)
        assert exam.lead_names == list(STANDARD_LEADS)
        np.testing.assert_array_equal(load_signal(exam.signal_key), expected)
    assert Exam.objects.get(exam_id="11").notes == [
        "removed zero padding: 648 samples before, 648 after"
    ]


@pytest.mark.parametrize(
    ("unit", "factor"), [("mV", 1e3), ("V", 1e6), ("uV", 1.0), (250.0, 250.0)]
)
def test_code15_unit_option_scales_to_microvolts(tmp_path, unit, factor) -> None:
    tracings = code15_tracings(2) * (1e-3 if unit == "V" else 1.0)
    path = write_code15(tmp_path / "part.hdf5", tracings, [1, 2])
    import_exams([path], dataset="code15", unit=unit)
    exam = Exam.objects.get(exam_id="1")
    assert exam.signal_gain == 1.0
    expected = np.rint(tracings[0].T.astype(np.float64) * factor)
    np.testing.assert_array_equal(load_signal(exam.signal_key), expected)


def test_code15_reads_age_sex_and_patient_from_exams_csv(tmp_path) -> None:
    rows = [
        {"exam_id": 1, "age": 57, "is_male": "True", "patient_id": 900, "RBBB": "1"},
        {"exam_id": 2, "age": 58, "is_male": "True", "patient_id": 900},
        {"exam_id": 3, "age": 97, "is_male": "False", "patient_id": 901, "AF": "1"},
        {"exam_id": 99, "age": 40, "is_male": "False", "patient_id": 999},
    ]
    path = write_code15(
        tmp_path / "exams_part1.hdf5", code15_tracings(3), [1, 2, 3], csv_rows=rows
    )
    import_exams([path], dataset="code15")
    one, two, three = (Exam.objects.get(exam_id=str(i)) for i in (1, 2, 3))
    assert (one.age, one.sex, three.age, three.sex) == (57, "M", AGE_CAP, "F")
    assert one.patient_pseudonym == two.patient_pseudonym != three.patient_pseudonym
    assert PatientLink.objects.filter(dataset="code15").count() == 2
    # The label columns are readings, not machine statements.
    assert one.machine_statements == [] and three.machine_statements == []


def test_code15_reads_in_slices_never_the_whole_dataset(tmp_path, monkeypatch) -> None:
    path = write_code15(tmp_path / "part.hdf5", code15_tracings(600), list(range(600)))
    reads: list[int] = []
    real_getitem = h5py.Dataset.__getitem__

    def spy(self, key):
        if self.name == "/tracings":
            reads.append(len(range(*key.indices(self.shape[0]))))
        return real_getitem(self, key)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    summary = import_exams([path], dataset="code15", batch_size=100)
    assert summary.imported == 600
    assert reads and max(reads) <= 256


# --- npy + JSON sidecar -------------------------------------------------------------


def test_npy_with_sidecar_is_standardised_and_keeps_metadata(tmp_path) -> None:
    rng = np.random.default_rng(3)
    eight = rng.integers(-800, 800, size=(8, 2500)).astype(np.int16)  # I, II, V1-V6
    names = ["DI", "DII", "V1", "V2", "V3", "V4", "V5", "V6"]
    path = write_npy(
        tmp_path,
        "exam1",
        eight,
        {
            "exam_id": "A-1",
            "sampling_rate": 250,
            "lead_names": names,
            "unit": "uV",
            "age": 63,
            "sex": "female",
            "patient_id": "P1",
            "acquired_at": "2024-05-01T10:00:00+02:00",
            "statements": ["Sinus rhythm", "Normal ECG"],
            "measurements": {"hr_bpm": 72, "qrs_ms": 88},
        },
    )
    summary = import_exams([path], dataset="npy")
    assert (summary.imported, summary.rejected) == (1, [])
    exam = Exam.objects.get(exam_id="A-1")
    assert exam.lead_names == list(STANDARD_LEADS)
    assert any("derived III" in note for note in exam.notes)
    assert (exam.age, exam.sex, exam.sampling_rate) == (63, "F", 250.0)
    assert exam.machine_statements == ["Sinus rhythm", "Normal ECG"]
    assert exam.measurements == {"hr_bpm": 72, "qrs_ms": 88}
    assert exam.acquired_at.isoformat() == "2024-05-01T08:00:00+00:00"
    stored = load_signal(exam.signal_key)
    np.testing.assert_array_equal(stored[[0, 1]], eight[[0, 1]])
    np.testing.assert_array_equal(stored[6:], eight[2:])
    assert np.abs(stored[1] - stored[0] - stored[2]).max() <= 1  # Einthoven


def test_npy_in_millivolts_is_stored_in_microvolts(tmp_path) -> None:
    values = np.array([[0.1234, -1.5], [2.0, 0.0]])
    path = write_npy(
        tmp_path,
        "mv",
        values,
        {"exam_id": "m", "sampling_rate": 500, "lead_names": ["I", "V1"], "unit": "mV"},
    )
    import_exams([path], dataset="npy")
    exam = Exam.objects.get(exam_id="m")
    assert exam.lead_names == ["I", "V1"]
    np.testing.assert_array_equal(
        load_signal(exam.signal_key), [[123, -1500], [2000, 0]]
    )


# --- Idempotency, pseudonyms, batches -----------------------------------------------


@pytest.mark.both_databases
def test_reimport_skips_same_signal_and_rejects_a_different_one(
    tmp_path, _isolated_media
) -> None:
    tracings = code15_tracings(5)
    path = write_code15(tmp_path / "part.hdf5", tracings, [1, 2, 3, 4, 5])
    first = import_exams([path], dataset="code15", batch_size=2)
    assert first.imported == 5
    files = stored_files(_isolated_media)
    before = load_signal(Exam.objects.get(exam_id="3").signal_key)

    again = import_exams([path], dataset="code15", batch_size=2)
    assert (again.imported, again.skipped, again.rejected) == (0, 5, [])

    tracings[2, 100, 0] += 1.0
    path.unlink()
    write_code15(path, tracings, [1, 2, 3, 4, 5])
    changed = import_exams([path], dataset="code15")
    assert (changed.imported, changed.skipped) == (0, 4)
    assert [(r.exam_id, r.reason) for r in changed.rejected] == [("3", CONFLICT)]
    assert Exam.objects.count() == 5
    assert stored_files(_isolated_media) == files
    np.testing.assert_array_equal(
        load_signal(Exam.objects.get(exam_id="3").signal_key), before
    )


@pytest.mark.both_databases
def test_duplicate_exam_ids_in_one_file_keep_the_first(tmp_path) -> None:
    path = write_code15(tmp_path / "dup.hdf5", code15_tracings(3), [7, 8, 7])
    summary = import_exams([path], dataset="code15")
    assert summary.imported == 2
    assert [(r.exam_id, r.reason) for r in summary.rejected] == [
        ("7", "duplicate exam id in this file; the first one was kept")
    ]


@pytest.mark.both_databases
def test_patient_links_are_reused_across_imports_and_datasets_differ(tmp_path) -> None:
    def npy(stem: str, exam_id: str, patient: str | None) -> Path:
        meta = {"exam_id": exam_id, "sampling_rate": 500, "lead_names": ["I"]}
        meta |= {"unit": "uV", "patient_id": patient}
        return write_npy(tmp_path, stem, np.ones((1, 10), dtype=np.int16), meta)

    import_exams([npy("a", "E1", "P-77")], dataset="site")
    import_exams([npy("b", "E2", "P-77"), npy("c", "E3", None)], dataset="site")
    import_exams([npy("d", "E4", "P-77")], dataset="other")
    pseudonym = {e.exam_id: e.patient_pseudonym for e in Exam.objects.all()}
    assert pseudonym["E1"] == pseudonym["E2"]
    assert pseudonym["E3"] not in {pseudonym["E1"], pseudonym["E4"]}
    assert pseudonym["E4"] != pseudonym["E1"]
    assert PatientLink.objects.filter(source_patient_id="P-77").count() == 2
    for value in pseudonym.values():
        assert len(value) == 24 and int(value, 16) >= 0
        assert value not in hashlib.sha256(b"P-77").hexdigest()


@pytest.mark.both_databases
def test_pseudonyms_are_random_not_derived_from_the_patient_id(tmp_path) -> None:
    path = write_code15(
        tmp_path / "p.hdf5",
        code15_tracings(1),
        [1],
        csv_rows=[{"exam_id": 1, "age": 50, "is_male": "True", "patient_id": 42}],
    )
    import_exams([path], dataset="code15")
    first = Exam.objects.get().patient_pseudonym
    Exam.objects.all().delete()
    PatientLink.objects.all().delete()
    import_exams([path], dataset="code15")
    assert Exam.objects.get().patient_pseudonym != first


@pytest.mark.both_databases
def test_a_row_the_database_refuses_does_not_reject_its_batch(
    tmp_path, monkeypatch, _isolated_media
) -> None:
    real_row = importer_module._Batch._row

    def row(self, item, pseudonyms):
        exam = real_row(self, item, pseudonyms)
        if exam.exam_id == "3":
            exam.sampling_rate = -1.0  # violates exam_sampling_rate_positive
        return exam

    monkeypatch.setattr(importer_module._Batch, "_row", row)
    path = write_code15(tmp_path / "part.hdf5", code15_tracings(5), [1, 2, 3, 4, 5])
    summary = import_exams([path], dataset="code15", batch_size=10)
    assert summary.imported == 4
    assert [r.exam_id for r in summary.rejected] == ["3"]
    assert "database refused it" in summary.rejected[0].reason
    assert sorted(Exam.objects.values_list("exam_id", flat=True)) == [
        "1",
        "2",
        "4",
        "5",
    ]
    keys = {Path(e.signal_key).name for e in Exam.objects.all()}
    assert {p.name for p in stored_files(_isolated_media)} == keys
    assert Path(signal_key("code15", "3")).name not in keys


def test_iter_sources_yields_records_and_rejections_without_the_database(
    tmp_path, wfdb_dir
) -> None:
    (tmp_path / "notes.txt").write_text("not an exam")
    items = list(iter_sources([wfdb_dir / "100.hea", tmp_path / "missing.hea"]))
    assert [type(item).__name__ for item in items] == ["ExamRecord", "Rejection"]


# --- make_synthetic ------------------------------------------------------------


@pytest.mark.both_databases
def test_make_synthetic_stores_exams_through_the_import_path() -> None:
    out = StringIO()
    call_command("make_synthetic", 6, seed=3, dataset="syn", stdout=out)
    assert "Imported 6" in out.getvalue()
    exams = list(Exam.objects.filter(dataset="syn").order_by("exam_id"))
    assert len(exams) == 6
    expected = list(synthetic_batch(6, seed=3))
    for exam, ecg in zip(exams, expected, strict=True):
        np.testing.assert_array_equal(load_signal(exam.signal_key), ecg.signal_uv)
        assert exam.source_format == "synthetic"
        assert exam.machine_statements[1] == "Classes: " + ", ".join(ecg.labels)
        assert exam.measurements["qrs_ms"] == round(ecg.qrs_ms)
        assert exam.age is not None and exam.age <= AGE_CAP
        assert exam.sex in {"F", "M"}
    assert len({e.patient_pseudonym for e in exams}) == 6
    ages = [e.age for e in exams]
    call_command("make_synthetic", 6, seed=3, dataset="syn", stdout=StringIO())
    assert Exam.objects.filter(dataset="syn").count() == 6
    Exam.objects.all().delete()
    call_command("make_synthetic", 6, seed=3, dataset="syn", stdout=StringIO())
    assert [e.age for e in Exam.objects.order_by("exam_id")] == ages


@pytest.mark.both_databases
def test_a_crash_before_the_rows_leaves_no_exam_and_the_next_import_reuses_the_files(
    tmp_path, monkeypatch, _isolated_media
) -> None:
    path = write_code15(tmp_path / "part.hdf5", code15_tracings(3), [1, 2, 3])

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the process dies between files and rows

    with monkeypatch.context() as patch:
        patch.setattr(Exam.objects, "bulk_create", killed)
        with pytest.raises(KeyboardInterrupt):
            import_exams([path], dataset="code15")
    assert Exam.objects.count() == 0
    orphans = stored_files(_isolated_media)
    assert len(orphans) == 3  # whole files under their final names, no temporaries

    summary = import_exams([path], dataset="code15")
    assert summary.imported == 3
    assert stored_files(_isolated_media) == orphans
    assert {str(_isolated_media / e.signal_key) for e in Exam.objects.all()} == {
        str(p) for p in orphans
    }
