"""WFDB records: PhysioNet headers (``.hea``) with ``.dat`` or ``.mat`` signal files.

One exam per header; its ``exam_id`` is the record name. The stored integers
are the record's own ADC values minus the channel baseline, with
``gain_uv = 1000 / adc_gain`` for mV channels (1 / adc_gain for uV, 1e6 /
adc_gain for V), so ``signal * gain_uv`` is the physical value and the source's
digital values come back exactly (derived leads to within half a unit). When
the channels kept disagree on their gain, the signal is converted to microvolts
and requantised at the finest gain, so every channel still round-trips within
one of its own ADC units; a note says so.

Channels are put in standard order by :func:`annotator.waveforms.standardize_leads`:
non-ECG channels (Frank vx/vy/vz, respiration, pressures, ``NU`` units) are
dropped with a note; ECG channels whose lead is unknown (``ECG 1``, ``CH2``)
are kept after the standard leads under their own names, with a note, because
dropping them would lose signal a reader may need and renaming them would be a
guess.

Metadata comes from the header comments: ``#Age: 60``, ``#Sex: Male``,
``#Dx: 164889003,59118001`` (Challenge; each SNOMED CT code becomes the
machine statement ``SNOMED 164889003``), ``age: 81`` / ``sex: female`` (PTB),
``<age>: 25 <sex>: M`` and MIT-BIH's leading ``69 M``; the acquisition time
from the header's base date and time. In the PTB Diagnostic layout
(``patient001/s0010_re.hea``) the folder name is the patient id.

Everything the header claims is checked against the files before any sample
is read: a positive sampling rate, a length within
``settings.ANNOTATOR_MAX_SAMPLES``, data files that exist beside the header
(plain names only) and are long enough for that length. A header that claims
hours of signal backed by a few bytes is rejected without allocating anything.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from django.conf import settings
from wfdb.io import _signal as wfdb_signal

from annotator.ingest.base import ExamRecord, IngestError, Rejection
from annotator.ingest.common import (
    describe_error,
    is_voltage_unit,
    microvolts_per_unit,
    parse_age,
    parse_sex,
    read_one,
    renaming_note,
    short,
)
from annotator.waveforms import is_non_ecg_channel, standardize_leads, to_integer_signal

FORMAT = "wfdb"
MAX_HEADER_BYTES = 1_000_000  # real headers are a few kB; refuse to parse a blob

_AGE = re.compile(r"<?\bage\b>?\s*:\s*([-+]?[0-9.]+)", re.IGNORECASE)
_SEX = re.compile(r"<?\b(?:sex|gender)\b>?\s*:\s*([A-Za-z]+)", re.IGNORECASE)
_DX = re.compile(r"^\s*dx\s*:\s*(.+)$", re.IGNORECASE)
_MITBIH_AGE_SEX = re.compile(r"^\s*(\d{1,3})\s+([MF])\b")
_PTB_PATIENT_FOLDER = re.compile(r"^patient\d+$")


def iter_records(path: Path, **options: Any) -> Iterator[ExamRecord | Rejection]:
    """Yield the one exam of the WFDB record whose header is ``path``, or why not."""
    path = Path(path)
    base = path.with_suffix("") if path.suffix.lower() == ".hea" else path
    yield from read_one(
        path,
        lambda: _read_record(base),
        failure="cannot read WFDB record",
        exam_id=base.name,
    )


def _read_record(base: Path) -> ExamRecord:
    header_path = base.parent / (base.name + ".hea")
    if not header_path.is_file():
        raise IngestError(f"no header file {header_path.name}")
    if header_path.stat().st_size == 0:
        raise IngestError("header file is empty")
    if header_path.stat().st_size > MAX_HEADER_BYTES:
        raise IngestError("header file is too large to be a WFDB header")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as error:
        raise IngestError(f"cannot read WFDB header: {describe_error(error)}") from None
    if isinstance(header, wfdb.MultiRecord):
        raise IngestError("multi-segment WFDB records are not supported")

    sig_len = _validate_header(header, base.parent)
    record = wfdb.rdrecord(str(base), physical=False, sampto=sig_len)
    digital = record.d_signal  # (samples, channels), int64
    if digital is None or digital.ndim != 2 or digital.shape[0] != sig_len:
        raise IngestError("data file does not hold the samples the header declares")

    names = [
        name if name else f"channel {i + 1}" for i, name in enumerate(record.sig_name)
    ]
    units = [unit or "" for unit in record.units]
    signal, gain_uv, lead_names, notes = _to_stored_units(record, digital, names, units)
    comments = list(record.comments or [])
    age, sex = _age_sex(comments)
    patient_folder = base.parent.name
    return ExamRecord(
        exam_id=record.record_name,
        signal=signal,
        gain_uv=gain_uv,
        sampling_rate=float(record.fs),
        lead_names=lead_names,
        source_format=FORMAT,
        source=str(base.parent / (base.name + ".hea")),
        patient_id=patient_folder
        if _PTB_PATIENT_FOLDER.match(patient_folder)
        else None,
        age=age,
        sex=sex,
        acquired_at=_acquired_at(record),
        machine_statements=_statements(comments),
        notes=notes,
    )


def _validate_header(header: wfdb.Record, folder: Path) -> int:
    """Check the header against limits and its data files; return the length."""
    fs = header.fs
    if fs is None or not math.isfinite(float(fs)) or float(fs) <= 0:
        raise IngestError(f"sampling rate must be positive, header says {fs}")
    if not header.n_sig:
        raise IngestError("header declares no signals")
    if any(spf not in (None, 1) for spf in header.samps_per_frame or []):
        raise IngestError(
            "multi-frequency records (several samples per frame) are not supported"
        )

    files: dict[str, dict[str, Any]] = {}
    for i in range(header.n_sig):
        name = header.file_name[i]
        if not name or name == "~" or Path(name).name != name or name in {".", ".."}:
            raise IngestError(f"signal {i + 1} has no usable data file ({name!r})")
        entry = files.setdefault(
            name, {"fmt": header.fmt[i], "offset": 0, "channels": 0}
        )
        entry["channels"] += 1
        entry["offset"] = max(entry["offset"], int((header.byte_offset or [0])[i] or 0))

    sizes: dict[str, int] = {}
    for name in files:
        data_path = folder / name
        if not data_path.is_file():
            raise IngestError(f"data file {name} is missing")
        sizes[name] = data_path.stat().st_size

    sig_len = header.sig_len
    if sig_len is None:
        # The header may leave the length to the data file's size.
        name, entry = next(iter(files.items()))
        per_sample = wfdb_signal.BYTES_PER_SAMPLE.get(entry["fmt"], 0)
        if not per_sample:
            raise IngestError("header gives no length and the format is compressed")
        sig_len = int(
            (sizes[name] - entry["offset"]) / (per_sample * entry["channels"])
        )
    max_samples = settings.ANNOTATOR_MAX_SAMPLES
    if sig_len <= 0:
        raise IngestError("header declares no samples (signal length 0)")
    if sig_len > max_samples:
        raise IngestError(
            f"header declares {sig_len} samples per lead, more than the limit of "
            f"{max_samples} (ANNOTATOR_MAX_SAMPLES)"
        )
    for name, entry in files.items():
        per_sample = wfdb_signal.BYTES_PER_SAMPLE.get(entry["fmt"])
        if per_sample is None:
            raise IngestError(f"unknown WFDB signal format {entry['fmt']!r}")
        if per_sample == 0:
            continue  # FLAC-compressed: the size says nothing about the length
        needed = entry["offset"] + math.floor(sig_len * entry["channels"] * per_sample)
        if sizes[name] < needed:
            raise IngestError(
                f"data file {name} is truncated: {sizes[name]} bytes, the header "
                f"needs {needed}"
            )
    return sig_len


def _to_stored_units(
    record: wfdb.Record,
    digital: np.ndarray,
    names: list[str],
    units: list[str],
) -> tuple[np.ndarray, float, list[str], list[str]]:
    """Baseline-free integers, their gain in µV, their lead names, and notes."""
    notes: list[str] = []
    n_channels = digital.shape[1]
    kept = [i for i in range(n_channels) if not is_non_ecg_channel(names[i], units[i])]
    gains = np.full(n_channels, np.nan)
    for i in kept:
        unit = units[i]
        if not is_voltage_unit(unit):
            notes.append(
                f"channel {names[i]} has unit {unit or '(none)'!r}; taken as mV, "
                "the WFDB default"
            )
            unit = "mV"
        adc_gain = float(record.adc_gain[i] or 0)
        if not (math.isfinite(adc_gain) and adc_gain > 0):
            raise IngestError(f"channel {names[i]} has no calibration (ADC gain 0)")
        gains[i] = microvolts_per_unit(unit) / adc_gain

    invalid = wfdb_signal.INVALID_SAMPLE_VALUE
    for i in kept:
        marker = invalid.get(record.fmt[i])
        if marker is not None and (missing := int((digital[:, i] == marker).sum())):
            raise IngestError(
                f"channel {names[i]} has {missing} missing samples (WFDB invalid "
                "value); NaN cannot be stored"
            )

    baseline = np.asarray(
        [record.baseline[i] or 0 for i in range(n_channels)], dtype=np.float64
    )
    values = digital.T.astype(np.float64)
    values -= baseline[:, None]
    kept_gains = gains[kept] if kept else np.array([1.0])
    gain_uv = float(np.min(kept_gains))
    if not np.allclose(kept_gains, gain_uv, rtol=1e-9, atol=0):
        # Channels differ in gain: go through microvolts at the finest gain.
        values *= np.where(np.isnan(gains), 1.0, gains / gain_uv)[:, None]
        notes.append(
            f"channels have different ADC gains; stored at the finest, {gain_uv:g} uV"
        )
    try:
        standard, lead_names, lead_notes = standardize_leads(values, names, units)
        signal = to_integer_signal(standard, gain_uv=1.0)
    except ValueError as error:
        raise IngestError(str(error)) from None
    return signal, gain_uv, lead_names, [*renaming_note(names), *lead_notes, *notes]


def _age_sex(comments: list[str]) -> tuple[int | None, str]:
    age: int | None = None
    sex = "U"
    for line in comments:
        if age is None and (match := _AGE.search(line)):
            age = parse_age(match.group(1))
        if sex == "U" and (match := _SEX.search(line)):
            sex = parse_sex(match.group(1))
    if age is None and sex == "U":
        for line in comments:
            if match := _MITBIH_AGE_SEX.match(line):
                return parse_age(match.group(1)), parse_sex(match.group(2))
    return age, sex


def _statements(comments: list[str]) -> list[str]:
    statements: list[str] = []
    for line in comments:
        if match := _DX.match(line):
            for item in match.group(1).split(","):
                code = item.strip()
                if code.isdigit():
                    statements.append(f"SNOMED {code}")
                elif code:
                    statements.append(short(code))
    return statements


def _acquired_at(record: wfdb.Record) -> dt.datetime | None:
    if record.base_date is None:
        return None
    time = record.base_time or dt.time()
    return dt.datetime.combine(record.base_date, time, tzinfo=dt.UTC)
