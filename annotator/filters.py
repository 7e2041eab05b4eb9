"""Display filters for a tracing: baseline wander, muscle noise and mains hum.

Framework-free (numpy and ``scipy.signal``): the signal endpoint, the benchmarks
and a notebook filter the same samples the same way. Every filter is zero-phase
(run forward then backward, ``sosfiltfilt``), so waves keep their place in time
and the ST segment is not shifted the way a one-pass high-pass shifts it: the AHA
recommendations for ECG instruments (Kligfield et al., Circulation 2007) accept a
zero-phase high-pass up to 0.67 Hz where a one-pass one must stay at 0.05 Hz.

- ``highpass`` (0.05 to 1 Hz): Butterworth, order 2 each way, against baseline
  wander.
- ``lowpass`` (20 to 150 Hz, below half the sampling rate): Butterworth, order 2
  each way, against muscle noise.
- ``notch`` (50 or 60 Hz): ``iirnotch`` with Q = 30 (about 2 Hz wide) against
  mains interference.

Filters run on the full-resolution samples of a window, before any decimation
for display: filtering points that M4 kept would filter a different signal.
A window is filtered with :func:`DisplayFilters.padding` samples of its record
on each side where the record has them, so its edges look as they would in the
whole record; at the record's own ends the signal is extended by odd reflection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal as sp_signal

__all__ = [
    "HIGHPASS_RANGE",
    "LOWPASS_RANGE",
    "NOTCH_FREQUENCIES",
    "DisplayFilters",
    "FilterError",
]

HIGHPASS_RANGE = (0.05, 1.0)
LOWPASS_RANGE = (20.0, 150.0)
NOTCH_FREQUENCIES = (50, 60)
ORDER = 2  # per direction; forward-backward doubles the attenuation
NOTCH_Q = 30.0
# Transients die out within this many time constants of a filter (e^-7 < 0.1 %).
_SETTLE = 7.0


class FilterError(ValueError):
    """A filter setting out of range; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class DisplayFilters:
    """Which display filters are on; all off is the signal as recorded."""

    highpass: float | None = None
    lowpass: float | None = None
    notch: int | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.highpass, self.lowpass, self.notch))

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> DisplayFilters:
        """Filters from ``{"highpass": …, "lowpass": …, "notch": …}`` (text or
        numbers, absent or None for off), checked; ``FilterError`` otherwise."""
        unknown = sorted(set(values) - {"highpass", "lowpass", "notch"})
        if unknown:
            raise FilterError(
                unknown[0],
                f"unknown filter {unknown[0]!r}; use highpass, lowpass, notch",
            )
        highpass = _number(values.get("highpass"), "highpass", *HIGHPASS_RANGE)
        lowpass = _number(values.get("lowpass"), "lowpass", *LOWPASS_RANGE)
        notch = values.get("notch")
        if notch is not None and notch != "":
            text = str(notch).strip()
            if text not in {str(f) for f in NOTCH_FREQUENCIES}:
                raise FilterError(
                    "notch", f"notch must be 50 or 60 (Hz, the mains), got {notch!r}"
                )
            notch = int(text)
        else:
            notch = None
        return cls(highpass=highpass, lowpass=lowpass, notch=notch)

    def as_dict(self) -> dict[str, float | int | None]:
        return {"highpass": self.highpass, "lowpass": self.lowpass, "notch": self.notch}

    def label(self) -> str:
        """As printed on a tracing, in ASCII (it is an HTTP header too):
        "0.5-40 Hz 60 Hz", "0.05 Hz-" (high-pass only), "" when off."""
        parts = []
        if self.highpass is not None or self.lowpass is not None:
            low = _hz(self.highpass) if self.highpass is not None else "0"
            high = _hz(self.lowpass) if self.lowpass is not None else ""
            parts.append(f"{low}-{high} Hz" if high else f"{low} Hz-")
        if self.notch is not None:
            parts.append(f"{self.notch} Hz")
        return " ".join(parts)

    def check(self, fs: float) -> None:
        """Refuse a low-pass or notch at or above half the sampling rate."""
        nyquist = fs / 2
        for name in ("lowpass", "notch"):
            value = getattr(self, name)
            if value is not None and value >= nyquist:
                raise FilterError(
                    name,
                    f"{name} must be below half the sampling rate: {nyquist:g} Hz"
                    f" for this record at {fs:g} Hz (got {value:g})",
                )

    def padding(self, fs: float) -> int:
        """Samples of context to filter on each side of a window."""
        seconds = 0.0
        if self.highpass is not None:
            seconds = max(seconds, _SETTLE / (2 * math.pi * self.highpass))
        if self.lowpass is not None:
            seconds = max(seconds, _SETTLE / (2 * math.pi * self.lowpass))
        if self.notch is not None:
            seconds = max(seconds, _SETTLE * NOTCH_Q / (math.pi * self.notch))
        return math.ceil(seconds * fs)

    def apply(self, uv: NDArray[Any], fs: float) -> NDArray[np.float64]:
        """``uv`` (leads, samples) filtered along time, as float64 microvolts.

        ``uv`` should hold :func:`padding` samples of context on each side
        where the record has them; the caller crops them off. The filters are
        checked against ``fs`` first (``FilterError``).
        """
        self.check(fs)
        out = np.asarray(uv, dtype=np.float64)
        if not self or out.shape[-1] < 2:
            return out.copy()
        sos = _sections(self, float(fs))
        padlen = min(max(self.padding(fs), 3 * (2 * len(sos) + 1)), out.shape[-1] - 1)
        return sp_signal.sosfiltfilt(sos, out, axis=-1, padtype="odd", padlen=padlen)


@lru_cache(maxsize=64)
def _sections(filters: DisplayFilters, fs: float) -> NDArray[np.float64]:
    """Second-order sections of every filter that is on, in one cascade."""
    sections = []
    if filters.highpass is not None:
        sections.append(
            sp_signal.butter(ORDER, filters.highpass, "highpass", fs=fs, output="sos")
        )
    if filters.lowpass is not None:
        sections.append(
            sp_signal.butter(ORDER, filters.lowpass, "lowpass", fs=fs, output="sos")
        )
    if filters.notch is not None:
        b, a = sp_signal.iirnotch(filters.notch, NOTCH_Q, fs=fs)
        sections.append(sp_signal.tf2sos(b, a))
    return np.vstack(sections)


def _number(value: Any, name: str, low: float, high: float) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else math.nan
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        raise FilterError(
            name,
            f"{name} must be a number of Hz from {low:g} to {high:g}, got {value!r}",
        )
    return number


def _hz(value: float) -> str:
    return f"{value:g}"
