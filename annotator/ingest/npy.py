"""A plain ``.npy`` signal (leads x samples) with a JSON sidecar of the same stem.

The sidecar (``exam.npy`` → ``exam.json``) is required::

    {"exam_id": "A17", "sampling_rate": 500, "lead_names": ["I", "II", ...],
     "unit": "uV",                      # or "mV"
     "age": 63, "sex": "F", "patient_id": "…", "acquired_at": "2024-05-01T10:00:00Z",
     "statements": ["Sinus rhythm"], "measurements": {"hr_bpm": 72}}

``exam_id``, ``sampling_rate``, ``lead_names`` and ``unit`` are required; the
rest is optional. The array may be integer or float; it is stored as integer
microvolts (values are rounded to 1 µV). Arrays are opened with
``allow_pickle=False`` and memory-mapped, so a pickled or oversized file is
refused before it is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from annotator.ingest import common
from annotator.ingest.base import ExamRecord, IngestError, Rejection
from annotator.waveforms import standardize_leads, to_integer_signal

FORMAT = "npy"
MAX_SIDECAR_BYTES = 1_000_000


def iter_records(path: Path, **options: Any) -> Iterator[ExamRecord | Rejection]:
    """Yield the exam of ``path`` and its sidecar, or why it was not read."""
    path = Path(path)
    yield from common.read_one(path, lambda: _read(path))


def _sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        raise IngestError(f"sidecar {sidecar.name} is missing")
    if sidecar.stat().st_size > MAX_SIDECAR_BYTES:
        raise IngestError(f"sidecar {sidecar.name} is too large")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise IngestError(
            f"sidecar {sidecar.name} is not valid JSON ({common.describe_error(error)})"
        ) from None
    if not isinstance(meta, dict):
        raise IngestError(f"sidecar {sidecar.name} must hold a JSON object")
    return meta


def _read(path: Path) -> ExamRecord:
    meta = _sidecar(path)
    exam_id = meta.get("exam_id")
    if not isinstance(exam_id, str | int) or isinstance(exam_id, bool):
        raise IngestError("sidecar needs an exam_id (string)")
    exam_id = str(exam_id).strip()
    fs = meta.get("sampling_rate")
    if isinstance(fs, bool) or not isinstance(fs, int | float) or not fs > 0:
        raise IngestError("sidecar needs a positive sampling_rate (Hz)")
    if not math.isfinite(fs):
        raise IngestError("sidecar needs a finite sampling_rate (Hz)")
    names = meta.get("lead_names")
    if not (
        isinstance(names, list)
        and names
        and all(isinstance(name, str) and name.strip() for name in names)
    ):
        raise IngestError("sidecar needs lead_names, a list of names")
    unit = meta.get("unit")
    if unit not in {"uV", "µV", "mV"}:
        raise IngestError(f"sidecar unit must be 'uV' or 'mV', not {unit!r}")
    scale = common.microvolts_per_unit(unit)

    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise IngestError(
            f"not a readable .npy array ({common.describe_error(error)})"
        ) from None
    if array.dtype.kind not in "iuf":
        raise IngestError(f"array holds {array.dtype}, not numbers")
    if array.ndim != 2:
        raise IngestError(f"array must be leads x samples, has shape {array.shape}")
    if array.shape[0] != len(names):
        raise IngestError(
            f"array has {array.shape[0]} leads but the sidecar names {len(names)}"
        )
    if array.shape[1] == 0:
        raise IngestError("array has no samples")
    if array.shape[1] > settings.ANNOTATOR_MAX_SAMPLES:
        raise IngestError(
            f"array has {array.shape[1]} samples per lead, more than the limit of "
            f"{settings.ANNOTATOR_MAX_SAMPLES} (ANNOTATOR_MAX_SAMPLES)"
        )
    values = np.asarray(array, dtype=np.float64) * scale
    try:
        standard, lead_names, notes = standardize_leads(values, names)
        signal = to_integer_signal(standard, gain_uv=1.0)
    except ValueError as error:
        raise IngestError(str(error)) from None

    return ExamRecord(
        exam_id=exam_id,
        signal=signal,
        gain_uv=1.0,
        sampling_rate=float(fs),
        lead_names=lead_names,
        source_format=FORMAT,
        source=str(path),
        patient_id=_optional_text(meta, "patient_id"),
        age=common.parse_age(meta.get("age")),
        sex=common.parse_sex(meta.get("sex")),
        acquired_at=_datetime(meta.get("acquired_at")),
        machine_statements=_statements(meta.get("statements")),
        measurements=_measurements(meta.get("measurements")),
        notes=[*common.renaming_note(names), *notes],
    )


def _optional_text(meta: dict[str, Any], key: str) -> str | None:
    value = meta.get(key)
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, str | int):
        raise IngestError(f"sidecar {key} must be a string")
    return str(value).strip() or None


def _datetime(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise IngestError("sidecar acquired_at must be an ISO 8601 string")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise IngestError(
            f"sidecar acquired_at is not ISO 8601: {common.short(value, 40)!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _statements(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise IngestError("sidecar statements must be a list of strings")
    return [common.short(s, 500) for s in value if s.strip()]


def _measurements(value: Any) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IngestError("sidecar measurements must be an object of numbers")
    out: dict[str, float] = {}
    for key, number in value.items():
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise IngestError(
                f"sidecar measurement {common.short(key, 40)!r} is not a number"
            )
        if math.isfinite(number):
            out[str(key)] = number
    return out
