"""CODE-15%-style HDF5: ``tracings`` (N, 4096, 12) at 400 Hz and ``exam_id`` (N,).

Leads are in the order I, II, III, aVR, aVL, aVF, V1-V6 (the files' DI, DII,
DIII, AVR, AVL, AVF, V1-V6). The unit of ``tracings`` is not stated in the
files and the dataset's documentation is ambiguous (its README mentions a
1e-4 V scale; the PhysioNet Challenge 2025 conversion treats the values as
mV), so ``unit`` is an option: ``"mV"`` (default), ``"uV"``, ``"V"``, or a
number of microvolts per stored value. Signals are stored as integer
microvolts (``gain_uv = 1``).

The 7 s and 10 s recordings are zero-padded, centred, to 4096 samples; the
padding is stripped exactly (leading and trailing samples that are zero in
every lead; zeros inside the recording stay). An exam that is zero
everywhere (a small part of CODE-15% is) is rejected, as is an exam with a NaN
or infinite sample; the others in the file are still imported.

``exams.csv`` beside the file (or the ``metadata`` option) supplies age,
``is_male`` and ``patient_id`` by ``exam_id``. Its diagnosis columns (1dAVb,
RBBB, LBBB, SB, AF, ST, normal_ecg) and the follow-up columns (death, timey)
are deliberately not read: they are labels or outcomes, not what the machine
said, and would break the readers' blinding if shown as machine statements.
Load them as readings with ``import_readings`` instead.

The file is read in slices of ``chunk`` exams (256 by default), never whole,
so memory stays flat however many exams a file holds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from annotator.ingest.base import ExamRecord, IngestError, Rejection
from annotator.ingest.common import (
    describe_error,
    microvolts_per_unit,
    parse_age,
)
from annotator.waveforms import STANDARD_LEADS, to_integer_signal

FORMAT = "code15"
SAMPLING_RATE = 400.0
CHUNK = 256


def iter_records(
    path: Path,
    *,
    unit: str | float = "mV",
    sampling_rate: float = SAMPLING_RATE,
    metadata: Path | None = None,
    chunk: int = CHUNK,
    **options: Any,
) -> Iterator[ExamRecord | Rejection]:
    """Yield every exam of a CODE-15%-style HDF5 file, or why it was not read."""
    path = Path(path)
    source = str(path)
    try:
        scale = microvolts_per_unit(unit)
        if not sampling_rate > 0:
            raise ValueError(f"sampling rate must be positive, got {sampling_rate}")
    except ValueError as error:
        yield Rejection(source, None, str(error))
        return
    try:
        handle = h5py.File(path, "r")
    except Exception as error:
        yield Rejection(
            source, None, f"not a readable HDF5 file ({describe_error(error)})"
        )
        return
    with handle:
        try:
            tracings, ids = _datasets(handle)
            exam_ids = [_exam_id(value) for value in ids[()]]
            csv_path = metadata or path.with_name("exams.csv")
            meta = _read_metadata(csv_path, set(exam_ids)) if csv_path.is_file() else {}
        except IngestError as error:
            yield Rejection(source, None, str(error))
            return
        except Exception as error:
            yield Rejection(
                source, None, f"cannot read the file: {describe_error(error)}"
            )
            return
        for start in range(0, len(exam_ids), chunk):
            block_ids = exam_ids[start : start + chunk]
            try:
                block = np.asarray(tracings[start : start + chunk])
            except Exception as error:
                reason = f"cannot read tracings {start}-{start + len(block_ids) - 1}"
                for exam_id in block_ids:
                    yield Rejection(
                        source, exam_id, f"{reason}: {describe_error(error)}"
                    )
                continue
            # (exams, samples): True where any lead is non-zero (NaN counts).
            active = np.any(block != 0, axis=2)
            for offset, exam_id in enumerate(block_ids):
                yield _exam(
                    source,
                    exam_id,
                    block[offset],
                    active[offset],
                    scale,
                    sampling_rate,
                    meta.get(exam_id),
                )


def _datasets(handle: h5py.File) -> tuple[h5py.Dataset, h5py.Dataset]:
    tracings = handle.get("tracings")
    ids = handle.get("exam_id")
    if not isinstance(tracings, h5py.Dataset):
        raise IngestError("no 'tracings' dataset")
    if not isinstance(ids, h5py.Dataset):
        raise IngestError("no 'exam_id' dataset")
    if tracings.ndim != 3 or tracings.shape[2] != len(STANDARD_LEADS):
        raise IngestError(
            f"'tracings' must have shape (exams, samples, 12), not {tracings.shape}"
        )
    if tracings.dtype.kind not in "fiu":
        raise IngestError(f"'tracings' holds {tracings.dtype}, not numbers")
    if ids.ndim != 1 or ids.shape[0] != tracings.shape[0]:
        raise IngestError(
            f"'exam_id' has shape {ids.shape} but 'tracings' holds "
            f"{tracings.shape[0]} exams"
        )
    if tracings.shape[1] == 0:
        raise IngestError("'tracings' holds no samples")
    return tracings, ids


def _exam_id(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    if isinstance(value, np.floating | float) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def _clean_number(text: str) -> str:
    """``"12345.0"`` → ``"12345"`` (pandas writes integer ids as floats)."""
    text = text.strip()
    if text.endswith(".0") and text[:-2].isdigit():
        return text[:-2]
    return text


def _read_metadata(csv_path: Path, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """Age, sex and patient id of the exams in ``wanted``, by exam id."""
    try:
        with csv_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if "exam_id" not in (reader.fieldnames or []):
                raise IngestError(f"{csv_path.name} beside it has no exam_id column")
            meta: dict[str, dict[str, Any]] = {}
            for row in reader:
                exam_id = _clean_number(row.get("exam_id") or "")
                if exam_id not in wanted:
                    continue
                male = (row.get("is_male") or "").strip().lower()
                patient = _clean_number(row.get("patient_id") or "")
                meta[exam_id] = {
                    "age": parse_age(row.get("age")),
                    "sex": "M"
                    if male in {"true", "1", "1.0"}
                    else "F"
                    if male in {"false", "0", "0.0"}
                    else "U",
                    "patient_id": patient or None,
                }
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise IngestError(
            f"{csv_path.name} beside it cannot be read ({describe_error(error)})"
        ) from None
    return meta


def _exam(
    source: str,
    exam_id: str,
    tracing: np.ndarray,
    active: np.ndarray,
    scale: float,
    sampling_rate: float,
    meta: dict[str, Any] | None,
) -> ExamRecord | Rejection:
    if not exam_id:
        return Rejection(source, None, "empty exam_id")
    present = np.flatnonzero(active)
    if present.size == 0:
        return Rejection(source, exam_id, "signal is all zeros")
    first, last = int(present[0]), int(present[-1])
    values = tracing[first : last + 1].T.astype(np.float64) * scale
    try:
        signal = to_integer_signal(values, gain_uv=1.0)
    except ValueError as error:
        return Rejection(source, exam_id, str(error))
    notes = []
    trailing = tracing.shape[0] - 1 - last
    if first or trailing:
        notes.append(f"removed zero padding: {first} samples before, {trailing} after")
    meta = meta or {}
    return ExamRecord(
        exam_id=exam_id,
        signal=signal,
        gain_uv=1.0,
        sampling_rate=sampling_rate,
        lead_names=list(STANDARD_LEADS),
        source_format=FORMAT,
        source=source,
        patient_id=meta.get("patient_id"),
        age=meta.get("age"),
        sex=meta.get("sex", "U"),
        notes=notes,
    )
