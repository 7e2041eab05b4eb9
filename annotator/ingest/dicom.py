"""DICOM ECG waveforms (12-lead, general, ambulatory, 32-bit general) via pydicom.

One exam per file, ``exam_id`` = SOP Instance UID (the file name when absent).
The signal is the multiplex group labelled ``RHYTHM`` (the first group that is
not a ``MEDIAN BEAT`` when none is labelled so); median beats are a summary,
not the recording. Leads are named from each channel's source code: SCPECG
codes (``5.6.3-9-1`` = Lead I …) first, then the code meaning ("Lead aVR",
"Lead I (Einthoven)"), then the channel label.

The stored integers are the raw multiplex values
(``multiplex_array(ds, i, as_raw=True)``) with ``gain_uv`` = Channel
Sensitivity x Sensitivity Correction Factor, in µV (mV sensitivities are
converted), and the Channel Baseline subtracted, so ``signal * gain_uv`` is
what ``ds.waveform_array(i)`` gives. Channels with different gains are
requantised at the finest one.

Machine statements are the unformatted text annotations ("SINUS RHYTHM");
measurements the numeric annotations whose concept is a known interval or axis
(RR, PR, QRS, QT, QTc, P/QRS/T axis; heart rate, else 60000 / RR). Patient ID,
age (``042Y``), sex and acquisition date-time come from the patient and
acquisition modules; a date-time without an offset is the device's local time,
stored as UTC (the file does not say which zone it was).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from django.conf import settings
from pydicom.errors import InvalidDicomError
from pydicom.valuerep import DT
from pydicom.waveforms.numpy_handler import multiplex_array

from annotator.ingest.base import ExamRecord, IngestError, Rejection
from annotator.ingest.common import (
    describe_error,
    microvolts_per_unit,
    parse_sex,
    read_one,
    renaming_note,
    short,
)
from annotator.waveforms import (
    normalize_lead_name,
    standardize_leads,
    to_integer_signal,
)

FORMAT = "dicom"

# SCPECG lead codes (ISO 11073-91064 / DICOM CID 3001) for the 12 standard leads.
_SCPECG_LEADS = {
    "5.6.3-9-1": "I",
    "5.6.3-9-2": "II",
    "5.6.3-9-61": "III",
    "5.6.3-9-62": "aVR",
    "5.6.3-9-63": "aVL",
    "5.6.3-9-64": "aVF",
    "5.6.3-9-3": "V1",
    "5.6.3-9-4": "V2",
    "5.6.3-9-5": "V3",
    "5.6.3-9-6": "V4",
    "5.6.3-9-7": "V5",
    "5.6.3-9-8": "V6",
}
# Code meanings of numeric annotations → measurement keys (ms, bpm, degrees).
_MEASUREMENTS = {
    "rr interval": "rr_ms",
    "pr interval": "pr_ms",
    "qrs duration": "qrs_ms",
    "qt interval": "qt_ms",
    "qtc interval": "qtc_ms",
    "p axis": "p_axis_deg",
    "qrs axis": "qrs_axis_deg",
    "t axis": "t_axis_deg",
    "heart rate": "hr_bpm",
    "ventricular heart rate": "hr_bpm",
}
_PARENTHESES = re.compile(r"\(.*?\)")
_AGE = re.compile(r"^(\d{1,3})([DWMY])$")


def iter_records(path: Path, **options: Any) -> Iterator[ExamRecord | Rejection]:
    """Yield the exam of a DICOM ECG waveform file, or why it was not read."""
    path = Path(path)
    yield from read_one(path, lambda: _read(path), failure="cannot read DICOM waveform")


def _read(path: Path) -> ExamRecord:
    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise IngestError("not a DICOM file (no DICM marker)") from None
    except Exception as error:
        raise IngestError(f"not a DICOM file ({describe_error(error)})") from None
    groups = ds.get("WaveformSequence")
    if not groups:
        raise IngestError("DICOM file has no waveform (WaveformSequence)")
    index = _rhythm_group(groups)
    group = groups[index]
    fs = float(group.get("SamplingFrequency") or 0)
    n_samples = int(group.get("NumberOfWaveformSamples") or 0)
    if fs <= 0:
        raise IngestError(f"sampling rate must be positive, file says {fs:g}")
    if n_samples <= 0:
        raise IngestError("waveform has no samples")
    if n_samples > settings.ANNOTATOR_MAX_SAMPLES:
        raise IngestError(
            f"waveform has {n_samples} samples per lead, more than the limit of "
            f"{settings.ANNOTATOR_MAX_SAMPLES} (ANNOTATOR_MAX_SAMPLES)"
        )
    channels = group.get("ChannelDefinitionSequence") or []
    raw = multiplex_array(ds, index, as_raw=True)  # (samples, channels)
    if raw.ndim != 2 or raw.shape[1] != len(channels):
        raise IngestError("waveform data does not match its channel definitions")

    names, units, gains, baselines = [], [], [], []
    for number, channel in enumerate(channels, start=1):
        name, unit, gain, baseline = _channel(channel, number)
        names.append(name)
        units.append(unit)
        gains.append(gain)
        baselines.append(baseline)
    gain_array = np.asarray(gains)
    kept = np.isfinite(gain_array)
    if not kept.any():
        raise IngestError("no channel has a voltage sensitivity")
    gain_uv = float(np.abs(gain_array[kept]).min())
    # Physical µV = raw * gain + baseline (pydicom's waveform_array); in stored
    # units of gain_uv that is raw * (gain / gain_uv) + baseline / gain_uv.
    factors = np.where(kept, gain_array / gain_uv, 1.0)
    values = raw.T.astype(np.float64) * factors[:, None]
    values += (np.asarray(baselines) / gain_uv)[:, None]
    notes = []
    if not np.allclose(gain_array[kept], gain_uv, rtol=1e-9, atol=0):
        notes.append(
            f"channels have different sensitivities; stored at the finest, "
            f"{gain_uv:g} uV"
        )
    if len(groups) > 1:
        notes.append(
            f"read multiplex group {index + 1} of {len(groups)} "
            f"({group.get('MultiplexGroupLabel') or 'unlabelled'})"
        )
    try:
        standard, lead_names, lead_notes = standardize_leads(
            values,
            names,
            [unit if ok else "none" for unit, ok in zip(units, kept, strict=True)],
        )
        signal = to_integer_signal(standard, gain_uv=1.0)
    except ValueError as error:
        raise IngestError(str(error)) from None

    statements, measurements = _annotations(ds)
    return ExamRecord(
        exam_id=str(ds.get("SOPInstanceUID") or path.stem),
        signal=signal,
        gain_uv=gain_uv,
        sampling_rate=fs,
        lead_names=lead_names,
        source_format=FORMAT,
        source=str(path),
        patient_id=str(ds.get("PatientID") or "").strip() or None,
        age=_age(ds.get("PatientAge")),
        sex=parse_sex(ds.get("PatientSex")),
        acquired_at=_acquired_at(ds),
        machine_statements=statements,
        measurements=measurements,
        notes=[*renaming_note(names), *lead_notes, *notes],
    )


def _rhythm_group(groups: Any) -> int:
    labels = [str(g.get("MultiplexGroupLabel") or "").strip().upper() for g in groups]
    if "RHYTHM" in labels:
        return labels.index("RHYTHM")
    for i, label in enumerate(labels):
        if "MEDIAN" not in label:
            return i
    return 0


def _channel(channel: Any, number: int) -> tuple[str, str, float, float]:
    """Name, unit, gain (µV per raw unit; NaN for non-voltage) and baseline (µV)."""
    name = None
    sources = channel.get("ChannelSourceSequence") or []
    if sources:
        code = sources[0]
        name = _SCPECG_LEADS.get(str(code.get("CodeValue") or "").strip())
        meaning = str(code.get("CodeMeaning") or "").strip()
        if name is None and meaning:
            plain = _PARENTHESES.sub("", meaning).strip()
            name = normalize_lead_name(plain) or plain
    if not name:
        name = str(channel.get("ChannelLabel") or "").strip() or f"channel {number}"

    units = channel.get("ChannelSensitivityUnitsSequence") or []
    unit = str(units[0].get("CodeValue") or "").strip() if units else "uV"
    sensitivity = float(channel.get("ChannelSensitivity") or 1.0)
    correction = float(channel.get("ChannelSensitivityCorrectionFactor") or 1.0)
    baseline = float(channel.get("ChannelBaseline") or 0.0)
    try:
        scale = microvolts_per_unit(unit)
    except ValueError:
        return name, unit, float("nan"), 0.0
    gain = sensitivity * correction * scale  # negative would invert the lead
    if gain == 0:
        return name, unit, float("nan"), 0.0
    return name, unit, gain, baseline * scale


def _annotations(ds: Any) -> tuple[list[str], dict[str, float]]:
    statements: list[str] = []
    measurements: dict[str, float] = {}
    for item in ds.get("WaveformAnnotationSequence") or []:
        text = item.get("UnformattedTextValue")
        if text:
            statements.append(short(text, 500))
            continue
        value = item.get("NumericValue")
        concepts = item.get("ConceptNameCodeSequence") or []
        if value is None or value == "" or not concepts:
            continue
        meaning = str(concepts[0].get("CodeMeaning") or "").strip().lower()
        key = _MEASUREMENTS.get(meaning)
        try:
            number = float(value[0] if isinstance(value, list | tuple) else value)
        except (TypeError, ValueError, IndexError):
            continue
        if key and np.isfinite(number) and key not in measurements:
            measurements[key] = number
    rr = measurements.get("rr_ms")
    if "hr_bpm" not in measurements and rr and rr > 0:
        measurements["hr_bpm"] = round(60000.0 / rr, 1)
    return statements, measurements


def _age(value: Any) -> int | None:
    match = _AGE.match(str(value or "").strip().upper())
    if not match:
        return None
    number, unit = int(match.group(1)), match.group(2)
    return number if unit == "Y" else 0


def _acquired_at(ds: Any) -> dt.datetime | None:
    raw = ds.get("AcquisitionDateTime")
    try:
        if raw:
            moment = DT(raw)
        elif ds.get("AcquisitionDate") or ds.get("ContentDate"):
            date = ds.get("AcquisitionDate") or ds.get("ContentDate")
            time = ds.get("AcquisitionTime") or ds.get("ContentTime") or ""
            moment = DT(f"{date}{time}")
        else:
            return None
    except (TypeError, ValueError):
        return None
    value = dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        tzinfo=moment.tzinfo or dt.UTC,
    )
    return value
