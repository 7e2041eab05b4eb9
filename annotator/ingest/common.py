"""Small parsers shared by the format readers: units, sex, age, safe messages."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from annotator.ingest.base import ExamRecord, IngestError, Rejection
from annotator.waveforms import normalize_lead_name

_MICROVOLTS_PER_UNIT = {
    "nv": 1e-3,
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,
    "microvolt": 1.0,
    "microvolts": 1.0,
    "mv": 1000.0,
    "millivolt": 1000.0,
    "millivolts": 1000.0,
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
}

_FEMALE = {"f", "female", "w", "woman", "feminino", "feminine", "fem"}
_MALE = {"m", "male", "man", "masculino", "masculine", "masc"}


def microvolts_per_unit(unit: str | float | int) -> float:
    """Microvolts in one ``unit``: ``"mV"`` → 1000, ``"uV"`` → 1, ``"V"`` → 1e6.

    A number is taken as the scale itself (microvolts per stored unit). Raises
    ``ValueError`` for an unknown unit or a scale that is not positive and finite.
    """
    if isinstance(unit, bool):
        raise ValueError(f"unknown unit {unit!r}")
    if isinstance(unit, int | float):
        scale = float(unit)
    else:
        text = unit.strip()
        try:
            scale = float(text)
        except ValueError:
            key = text.lower().replace(" ", "")
            if key not in _MICROVOLTS_PER_UNIT:
                raise ValueError(
                    f"unknown unit {unit!r} (expected uV, mV, V or a number of "
                    "microvolts per stored unit)"
                ) from None
            scale = _MICROVOLTS_PER_UNIT[key]
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"a unit scale must be positive and finite, got {unit!r}")
    return scale


def is_voltage_unit(unit: str | None) -> bool:
    return unit is not None and unit.strip().lower() in _MICROVOLTS_PER_UNIT


def parse_sex(value: Any) -> str:
    """``"F"``, ``"M"`` or ``"U"`` from the spellings sources use."""
    if value is None:
        return "U"
    text = str(value).strip().lower()
    if text in _FEMALE:
        return "F"
    if text in _MALE:
        return "M"
    return "U"


def parse_age(value: Any) -> int | None:
    """Whole years from a number or a numeric string; None when absent or absurd.

    Capping at 90 is the importer's job, so the record keeps the source value.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        years = float(str(value).strip())
    except ValueError:
        return None
    if not math.isfinite(years) or years < 0 or years > 150:
        return None
    return int(years)


_SPACES = re.compile(r"\s+")


def short(text: object, limit: int = 200) -> str:
    """One line of at most ``limit`` characters, for messages about bad input."""
    line = _SPACES.sub(" ", str(text)).strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def describe_error(error: BaseException) -> str:
    """``ErrorType: message`` on one line, never a traceback."""
    message = short(error)
    name = type(error).__name__
    return f"{name}: {message}" if message else name


def renaming_note(names: Sequence[str]) -> list[str]:
    """A note listing channel names read as a different lead name (MLII → II).

    Case-only differences (``avr`` → ``aVR``) are not worth a note.
    """
    renamed = [
        f"{name} → {lead}"
        for name in names
        if (lead := normalize_lead_name(name)) and lead.lower() != name.strip().lower()
    ]
    return ["read channels as standard leads: " + ", ".join(renamed)] if renamed else []


def read_one(
    source: Path,
    read: Callable[[], ExamRecord],
    *,
    failure: str = "cannot read",
    exam_id: str | None = None,
) -> Iterator[ExamRecord | Rejection]:
    """Yield the exam ``read()`` returns, or why it was not read.

    An ``IngestError`` is rejected with its own message; any other error (a
    library failing on a malformed file) as ``failure`` and its description,
    so a bad file never stops the import.
    """
    try:
        yield read()
    except IngestError as error:
        yield Rejection(str(source), exam_id, str(error))
    except Exception as error:
        yield Rejection(str(source), exam_id, f"{failure}: {describe_error(error)}")
