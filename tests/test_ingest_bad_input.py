"""Malformed input: every bad file or exam is rejected with a reason, nothing stored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import h5py
import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pydicom.data import get_testdata_file

from annotator.ingest.importer import import_exams
from annotator.models import Exam, PatientLink
from annotator.storage import load_signal
from tests.test_ingest_formats import (
    code15_tracings,
    stored_files,
    write_code15,
    write_npy,
    write_wfdb,
)

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parent.parent
SIDECAR = {"exam_id": "x", "sampling_rate": 500, "lead_names": ["I"], "unit": "uV"}


@pytest.fixture(autouse=True)
def _time_limit() -> Iterator[None]:
    """Fail, rather than hang, when a reader loops on bad input."""

    def expired(signum, frame):
        raise TimeoutError("import took more than 30 s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def _digital(n: int = 1000, leads: int = 12) -> np.ndarray:
    return np.random.default_rng(0).integers(-500, 500, size=(n, leads))


def _header(folder: Path, name: str, text: str, data: bytes | None = b"") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.hea").write_text(text)
    if data is not None:
        (folder / f"{name}.dat").write_bytes(data)
    return folder / f"{name}.hea"


# Each builder writes one bad input under the folder it is given and returns the
# path to import and a fragment the rejection's reason must contain.
def truncated_dat(d: Path) -> tuple[Path, str]:
    header = write_wfdb(d, "trunc", _digital())
    dat = d / "trunc.dat"
    dat.write_bytes(dat.read_bytes()[:5000])
    return header, "truncated"


def header_without_data(d: Path) -> tuple[Path, str]:
    header = write_wfdb(d, "nodata", _digital())
    (d / "nodata.dat").unlink()
    return header, "missing"


def header_claiming_a_huge_length(d: Path) -> tuple[Path, str]:
    return _header(
        d, "huge", "huge 1 500 99999999999\nhuge.dat 16 1000 16 0 0 0 0 I\n"
    ), ("more than the limit")


def header_longer_than_its_data(d: Path) -> tuple[Path, str]:
    text = "long 12 500 80000000\n" + "".join(
        f"long.dat 16 1000 16 0 0 0 0 {lead}\n" for lead in ["I"] * 12
    )
    return _header(d, "long", text, b"\x00" * 100), "truncated"


def sampling_rate_zero(d: Path) -> tuple[Path, str]:
    return _header(
        d, "zero", "zero 1 0 10\nzero.dat 16 1000 16 0 0 0 0 I\n", b"\0" * 20
    ), ("sampling rate")


def zero_samples(d: Path) -> tuple[Path, str]:
    return _header(d, "empty", "empty 1 500 0\nempty.dat 16 1000 16 0 0 0 0 I\n"), (
        "no samples"
    )


def data_file_outside_the_folder(d: Path) -> tuple[Path, str]:
    (d.parent / "outside.dat").write_bytes(b"\0" * 2000)
    text = "escape 1 500 1000\n../outside.dat 16 1000 16 0 0 0 0 I\n"
    # wfdb's own parser refuses the name; the reader would refuse it too.
    return _header(d, "escape", text, None), ""


def missing_samples_in_wfdb(d: Path) -> tuple[Path, str]:
    digital = _digital()
    digital[10, 3] = -32768  # the fmt 16 invalid-sample value
    return write_wfdb(d, "gap", digital), "missing samples"


def garbage_header(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "noise.hea").write_bytes(np.random.default_rng(1).bytes(3000))
    return d / "noise.hea", "WFDB"


def empty_file(suffix: str) -> Callable[[Path], tuple[Path, str]]:
    def build(d: Path) -> tuple[Path, str]:
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"empty{suffix}"
        path.write_bytes(b"")
        if suffix == ".npy":
            (d / "empty.json").write_text(json.dumps(SIDECAR))
        return path, ""

    build.__name__ = f"empty{suffix.replace('.', '_')}"
    return build


def random_bytes(suffix: str) -> Callable[[Path], tuple[Path, str]]:
    def build(d: Path) -> tuple[Path, str]:
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"random{suffix}"
        path.write_bytes(np.random.default_rng(2).bytes(4096))
        return path, ""

    build.__name__ = f"random{suffix.replace('.', '_')}"
    return build


def hdf5_with_mismatched_lengths(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    path = write_code15(d / "mismatch.hdf5", code15_tracings(3), [1, 2, 3])
    with h5py.File(path, "a") as handle:
        del handle["exam_id"]
        handle["exam_id"] = np.arange(5)
    return path, "exam_id"


def hdf5_without_tracings(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    with h5py.File(d / "nothing.hdf5", "w") as handle:
        handle["exam_id"] = np.arange(3)
    return d / "nothing.hdf5", "tracings"


def hdf5_with_leads_first(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    tracings = code15_tracings(2).transpose(0, 2, 1)
    with h5py.File(d / "transposed.h5", "w") as handle:
        handle["tracings"] = tracings
        handle["exam_id"] = np.arange(2)
    return d / "transposed.h5", "shape"


def hdf5_all_zero_exam(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    tracings = np.zeros((1, 4096, 12), dtype=np.float32)
    return write_code15(d / "zeros.hdf5", tracings, [5]), "all zeros"


def npy_without_sidecar(d: Path) -> tuple[Path, str]:
    return write_npy(d, "alone", np.ones((1, 10), np.int16), None), "sidecar"


def npy_with_broken_sidecar(d: Path) -> tuple[Path, str]:
    return write_npy(d, "broken", np.ones((1, 10), np.int16), "{not json"), "JSON"


def npy_sidecar_without_rate(d: Path) -> tuple[Path, str]:
    meta = {k: v for k, v in SIDECAR.items() if k != "sampling_rate"}
    return write_npy(d, "norate", np.ones((1, 10), np.int16), meta), "sampling_rate"


def npy_sidecar_with_unknown_unit(d: Path) -> tuple[Path, str]:
    meta = SIDECAR | {"unit": "mmHg"}
    return write_npy(d, "unit", np.ones((1, 10), np.int16), meta), "unit"


def npy_with_wrong_lead_count(d: Path) -> tuple[Path, str]:
    return write_npy(d, "leads", np.ones((3, 10), np.int16), SIDECAR), "leads"


def npy_with_pickled_objects(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "pickle.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    (d / "pickle.json").write_text(json.dumps(SIDECAR))
    return d / "pickle.npy", ""


def npy_with_nan(d: Path) -> tuple[Path, str]:
    values = np.ones((1, 10))
    values[0, 4] = np.nan
    return write_npy(d, "nan", values, SIDECAR), "NaN"


def dicom_without_waveform(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    path = d / "ct.dcm"
    path.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    return path, "no waveform"


def dicom_with_truncated_waveform(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    ds = pydicom.dcmread(get_testdata_file("waveform_ecg.dcm"))
    data = ds.WaveformSequence[0].WaveformData
    ds.WaveformSequence[0].WaveformData = data[: len(data) // 3]
    ds.save_as(d / "cut.dcm")
    return d / "cut.dcm", ""


def unknown_format(d: Path) -> tuple[Path, str]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "exam.xml").write_text("<RestingECG/>")
    return d / "exam.xml", "unrecognised format"


def missing_path(d: Path) -> tuple[Path, str]:
    return d / "no-such-folder", "no such file"


CORPUS = [
    truncated_dat,
    header_without_data,
    header_claiming_a_huge_length,
    header_longer_than_its_data,
    sampling_rate_zero,
    zero_samples,
    data_file_outside_the_folder,
    missing_samples_in_wfdb,
    garbage_header,
    *(empty_file(s) for s in [".hea", ".h5", ".hdf5", ".dcm", ".npy"]),
    random_bytes(".dcm"),
    random_bytes(".hdf5"),
    hdf5_with_mismatched_lengths,
    hdf5_without_tracings,
    hdf5_with_leads_first,
    hdf5_all_zero_exam,
    npy_without_sidecar,
    npy_with_broken_sidecar,
    npy_sidecar_without_rate,
    npy_sidecar_with_unknown_unit,
    npy_with_wrong_lead_count,
    npy_with_pickled_objects,
    npy_with_nan,
    dicom_without_waveform,
    dicom_with_truncated_waveform,
    unknown_format,
    missing_path,
]


@pytest.mark.parametrize("build", CORPUS, ids=lambda build: build.__name__)
def test_bad_input_is_rejected_with_a_reason_and_nothing_is_stored(
    build, tmp_path, _isolated_media
) -> None:
    path, fragment = build(tmp_path / "bad")
    summary = import_exams([path], dataset="bad")
    assert summary.imported == summary.skipped == 0
    assert len(summary.rejected) == 1
    rejection = summary.rejected[0]
    assert Path(rejection.source).name == path.name
    assert rejection.reason
    assert fragment.lower() in rejection.reason.lower()
    assert "Traceback" not in rejection.reason
    assert Exam.objects.count() == 0
    assert PatientLink.objects.count() == 0
    assert stored_files(_isolated_media) == []


def test_the_whole_corpus_in_one_folder_is_rejected_file_by_file(
    tmp_path, _isolated_media
) -> None:
    for i, build in enumerate(CORPUS):
        build(tmp_path / "corpus" / f"{i:02d}")
    summary = import_exams([tmp_path / "corpus"])
    assert summary.imported == 0
    # The folder walk skips what is not an exam file (.xml, the missing path).
    assert len(summary.rejected) == len(CORPUS) - 2
    assert stored_files(_isolated_media) == []


def test_a_huge_length_header_is_rejected_without_allocating(tmp_path) -> None:
    path, _ = header_claiming_a_huge_length(tmp_path)
    longer, _ = header_longer_than_its_data(tmp_path)
    tracemalloc.start()
    try:
        summary = import_exams([path, longer], dataset="bad")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(summary.rejected) == 2
    assert peak < 5_000_000


def test_nan_rejects_only_its_exam(tmp_path) -> None:
    tracings = code15_tracings(4)
    tracings[2, 2000, 5] = np.nan
    path = write_code15(tmp_path / "nan.hdf5", tracings, [1, 2, 3, 4])
    summary = import_exams([path], dataset="code15")
    assert summary.imported == 3
    assert [(r.exam_id, Path(r.source).name) for r in summary.rejected] == [
        ("3", "nan.hdf5")
    ]
    assert "NaN" in summary.rejected[0].reason
    assert sorted(Exam.objects.values_list("exam_id", flat=True)) == ["1", "2", "4"]


def test_all_zero_exam_rejects_only_itself(tmp_path) -> None:
    tracings = code15_tracings(3)
    tracings[1] = 0
    summary = import_exams(
        [write_code15(tmp_path / "z.hdf5", tracings, [1, 2, 3])], dataset="code15"
    )
    assert summary.imported == 2
    assert [(r.exam_id, r.reason) for r in summary.rejected] == [
        ("2", "signal is all zeros")
    ]


@pytest.mark.parametrize("exam_id", ["../../x", "/etc/passwd", "a/b", "..\\..\\y"])
def test_path_like_exam_ids_are_stored_safely_inside_media_root(
    exam_id, tmp_path, _isolated_media
) -> None:
    write_npy(
        tmp_path / "in", "e", np.ones((1, 10), np.int16), SIDECAR | {"exam_id": exam_id}
    )
    summary = import_exams([tmp_path / "in"], dataset="ids")
    assert summary.imported == 1
    exam = Exam.objects.get(exam_id=exam_id)
    root = _isolated_media.resolve()
    (stored,) = stored_files(_isolated_media)
    assert root in stored.resolve().parents
    assert stored.resolve() == (root / exam.signal_key).resolve()
    np.testing.assert_array_equal(load_signal(exam.signal_key), np.ones((1, 10)))
    assert not (tmp_path / "x").exists() and not Path("/etc/passwd.npy").exists()


def test_path_like_ids_inside_hdf5_are_stored_safely(tmp_path, _isolated_media) -> None:
    ids = ["../../x", "/etc/passwd", "a/b"]
    path = write_code15(tmp_path / "ids.hdf5", code15_tracings(3), ids)
    summary = import_exams([path], dataset="ids")
    assert summary.imported == 3
    assert sorted(Exam.objects.values_list("exam_id", flat=True)) == sorted(ids)
    root = _isolated_media.resolve()
    assert all(root in f.resolve().parents for f in stored_files(_isolated_media))


def test_overlong_exam_id_is_rejected(tmp_path) -> None:
    write_npy(
        tmp_path, "long", np.ones((1, 10), np.int16), SIDECAR | {"exam_id": "x" * 300}
    )
    summary = import_exams([tmp_path / "long.npy"], dataset="ids")
    assert summary.imported == 0
    assert "longer than 200" in summary.rejected[0].reason


# --- The command ---------------------------------------------------------------------


def test_command_reports_every_rejection_relative_and_fails_when_all_rejected(
    tmp_path, monkeypatch, _isolated_media
) -> None:
    monkeypatch.chdir(tmp_path)
    truncated_dat(tmp_path / "bad")
    random_bytes(".dcm")(tmp_path / "bad")
    hdf5_with_mismatched_lengths(tmp_path / "bad")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("import_exams", "bad", stdout=out, stderr=err)
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "Imported 0, skipped 0 (already stored), rejected 3." in text
    for name in ["trunc.hea", "random.dcm", "mismatch.hdf5"]:
        assert f"rejected {Path('bad') / name}" in text
    assert str(tmp_path) not in text
    assert stored_files(_isolated_media) == []


def test_command_succeeds_with_some_rejections_and_never_prints_patient_ids(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    tracings = code15_tracings(3)
    tracings[1] = 0
    rows = [
        {"exam_id": i, "age": 50, "is_male": "True", "patient_id": 8675309 + i}
        for i in (1, 2, 3)
    ]
    write_code15(tmp_path / "exams_part0.hdf5", tracings, [1, 2, 3], csv_rows=rows)
    out, err = StringIO(), StringIO()
    call_command(
        "import_exams", "exams_part0.hdf5", "--unit", "mV", stdout=out, stderr=err
    )
    assert "Imported 2, skipped 0 (already stored), rejected 1." in out.getvalue()
    assert "rejected exams_part0.hdf5 [exam 2]: signal is all zeros" in out.getvalue()
    assert "3 processed" in err.getvalue()
    for printed in (out.getvalue(), err.getvalue()):
        assert "867531" not in printed
    assert Exam.objects.filter(dataset="exams_part0").count() == 2


def test_command_refuses_an_unknown_unit(tmp_path) -> None:
    with pytest.raises(CommandError, match="--unit"):
        call_command("import_exams", str(tmp_path), "--unit", "furlong")


def test_command_line_exit_status_and_no_traceback(tmp_path) -> None:
    """The real command in a subprocess: status 1, a summary, no traceback."""
    for build in (truncated_dat, random_bytes(".hdf5"), npy_with_nan):
        build(tmp_path / "bad")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= {
        "SQLITE_PATH": str(tmp_path / "cli.sqlite3"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "ANNOTATOR_DATA_DIR": str(tmp_path / "var"),
    }
    manage = [sys.executable, str(REPO / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=120)
    result = subprocess.run(
        [*manage, "import_exams", str(tmp_path / "bad")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "rejected 3." in result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "media" / "signals").exists() or not any(
        p.is_file() for p in (tmp_path / "media").rglob("*")
    )
