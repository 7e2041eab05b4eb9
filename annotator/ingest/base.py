"""The common record every importer yields, and the error type for bad input."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray


class IngestError(Exception):
    """A file or exam that cannot be imported; the message says why, for a person."""


@dataclass
class ExamRecord:
    """One exam read from a source, normalised and ready to be stored.

    ``signal`` has shape (leads, samples), integer dtype (int16 where the values
    fit, else int32), in units of ``gain_uv`` microvolts: microvolts =
    signal * gain_uv. Leads follow ``lead_names``, in standard order
    (I, II, III, aVR, aVL, aVF, V1-V6) for the leads present.
    """

    exam_id: str
    signal: NDArray[np.integer]
    gain_uv: float
    sampling_rate: float
    lead_names: list[str]
    source_format: str
    source: str  # file the exam came from, for messages only (never stored)
    patient_id: str | None = None  # source patient id; stored only in PatientLink
    age: int | None = None
    sex: str = "U"
    acquired_at: dt.datetime | None = None
    machine_statements: list[str] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rejection:
    """An exam or file that was not imported, with the reason."""

    source: str
    exam_id: str | None
    reason: str
