"""Lead names, channel triage, derived limb leads, integer storage and M4 decimation.

Framework-free: numpy and the standard library only (tsdownsample, optionally, for
one engine of :func:`m4_indices`), so importers, notebooks, batch jobs and the
signal endpoint share one definition of "which channel is lead II" and of
"which samples a pixel column needs".

Conventions used throughout:

* A signal is an array of shape ``(channels, samples)``, lead-major, in microvolts
  unless a function says otherwise.
* NaN marks a missing or invalid sample. Arithmetic propagates it (a derived
  sample is NaN when one of its inputs is NaN); only :func:`to_integer_signal`,
  which produces what is stored, rejects it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DERIVED_LIMB_LEADS",
    "STANDARD_LEADS",
    "derive_limb_leads",
    "is_non_ecg_channel",
    "m4_indices",
    "normalize_lead_name",
    "pixel_column_edges",
    "standardize_leads",
    "to_integer_signal",
]

STANDARD_LEADS: tuple[str, ...] = (
    "I",
    "II",
    "III",
    "aVR",
    "aVL",
    "aVF",
    "V1",
    "V2",
    "V3",
    "V4",
    "V5",
    "V6",
)

#: The four limb leads that are linear combinations of I and II.
DERIVED_LIMB_LEADS: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")

_INT16 = np.iinfo(np.int16)
_INT32 = np.iinfo(np.int32)

# Keys are names lower-cased with spaces, dashes, underscores and dots removed.
_LEAD_ALIASES: dict[str, str] = {}
for _roman, _lead in (("i", "I"), ("ii", "II"), ("iii", "III")):
    # DI..DIII: Brazilian/Latin naming (TNMG, CODE); MLI..MLIII: modified limb
    # leads of ambulatory records (MIT-BIH "MLII").
    for _prefix in ("", "d", "ml", "lead"):
        _LEAD_ALIASES[_prefix + _roman] = _lead
for _digit, _lead in (("1", "I"), ("2", "II"), ("3", "III")):
    # Bare digits are ambiguous ("1" may be a channel number); only accept them
    # with an explicit prefix.
    for _prefix in ("d", "lead"):
        _LEAD_ALIASES[_prefix + _digit] = _lead
for _lead in ("aVR", "aVL", "aVF"):
    _LEAD_ALIASES[_lead.lower()] = _lead
    _LEAD_ALIASES["lead" + _lead.lower()] = _lead
for _k in range(1, 7):
    # C1..C6 is the IEC name of the chest electrodes V1..V6.
    for _prefix in ("v", "c", "leadv"):
        _LEAD_ALIASES[f"{_prefix}{_k}"] = f"V{_k}"

_SEPARATORS = re.compile(r"[\s\-_.]+")

# Channel names (normalised like lead names) that are never ECG.
_NON_ECG_NAMES = frozenset(
    {
        # Frank / orthogonal leads are a vectorcardiogram, not the 12-lead ECG.
        "x",
        "y",
        "z",
        "vx",
        "vy",
        "vz",
        "frankx",
        "franky",
        "frankz",
        "bp",
        "nbp",
        "hr",
        "pulse",
        "temp",
        "flow",
        "stim",
        "sound",
        "co2",
        "etco2",
    }
)
# Prefixes of channel names that are never ECG (respiration, pressures,
# oximetry, ECG-derived respiration, device status and event markers, other
# biopotentials).
_NON_ECG_PREFIXES = (
    "resp",
    "abp",
    "art",
    "pap",
    "cvp",
    "icp",
    "spo2",
    "sao2",
    "pleth",
    "ppg",
    "edr",
    "status",
    "marker",
    "event",
    "trigger",
    "annot",
    "eeg",
    "emg",
    "eog",
    "pcg",
    "pressure",
)
# Units that are a voltage, and units that say nothing about the quantity
# (digital counts, missing) and so leave the decision to the name.
_VOLTAGE_UNITS = frozenset(
    {
        "v",
        "mv",
        "uv",
        "µv",
        "μv",
        "nv",
        "volt",
        "volts",
        "millivolt",
        "millivolts",
        "microvolt",
        "microvolts",
    }
)
_NEUTRAL_UNITS = frozenset({"", "adu", "count", "counts", "digit", "digits"})


def _squash(name: str) -> str:
    return _SEPARATORS.sub("", name).lower()


def normalize_lead_name(name: str) -> str | None:
    """Return the standard name (one of ``STANDARD_LEADS``) for a lead spelling.

    Matching ignores case, spaces, dashes, underscores and dots, and accepts an
    optional ``lead`` prefix: ``"DII"``, ``"lead II"``, ``"ii"``, ``"MLII"``
    (modified limb lead II, MIT-BIH) all give ``"II"``; ``"AVR"``/``"avr"`` give
    ``"aVR"``; ``"v1"``/``"C1"`` give ``"V1"``.

    Returns ``None`` for anything else, including generic channel names such as
    ``"ECG1"``, Wilson's unaugmented ``"VR"`` (it differs from aVR by a factor of
    1.5) and inverted leads written with a leading minus (``"-aVR"`` of the
    Cabrera display), which are not the standard lead.
    """
    stripped = name.strip()
    if stripped.startswith(("-", "\u2212")):
        return None
    return _LEAD_ALIASES.get(_squash(stripped))


def is_non_ecg_channel(name: str, unit: str | None = None) -> bool:
    """Tell whether a channel is clearly not an ECG lead.

    True for respiration, blood pressure (BP, ABP, ART, ...), oximetry (SpO2,
    PLETH), ECG-derived respiration (EDR), Frank/orthogonal leads (vx, vy, vz,
    X, Y, Z), status, marker, event and trigger channels, other biopotentials
    (EEG, EMG, EOG), and any channel whose unit is known and not a voltage
    (``mmHg``, ``%``, ``bpm``, WFDB's ``NU`` "no units", ``none``).

    ``unit=None``, an empty unit and digital units (``adu``, ``counts``) leave the
    decision to the name. Generic ECG names (``"ECG"``, ``"ECG 2"``, ``"CH1"``)
    are *not* non-ECG: they are ECG channels whose lead is unknown.
    """
    if unit is not None:
        squashed_unit = unit.strip().lower().replace(" ", "")
        if squashed_unit not in _VOLTAGE_UNITS and squashed_unit not in _NEUTRAL_UNITS:
            return True
    if normalize_lead_name(name) is not None:
        return False
    squashed = _squash(name)
    return squashed in _NON_ECG_NAMES or squashed.startswith(_NON_ECG_PREFIXES)


def derive_limb_leads(
    lead_i: NDArray[np.number], lead_ii: NDArray[np.number]
) -> dict[str, NDArray[np.float64]]:
    """Derive III, aVR, aVL and aVF from leads I and II.

    With the limb electrode potentials R (right arm), L (left arm) and F (left
    leg), I = L - R and II = F - R. Einthoven's law and Goldberger's augmented
    leads then give::

        III = F - L              = II - I
        aVR = R - (L + F) / 2    = -(I + II) / 2
        aVL = L - (R + F) / 2    = I - II / 2
        aVF = F - (R + L) / 2    = II - I / 2

    so I + III = II and aVR + aVL + aVF = 0.

    ``lead_i`` and ``lead_ii`` are arrays of the same (or broadcastable) shape,
    typically ``(samples,)``; the four outputs have that shape, dtype float64 and
    the units of the inputs. A NaN in either input gives NaN at that sample.
    """
    i = np.asarray(lead_i, dtype=np.float64)
    ii = np.asarray(lead_ii, dtype=np.float64)
    return {
        "III": ii - i,
        "aVR": -(i + ii) / 2.0,
        "aVL": i - ii / 2.0,
        "aVF": ii - i / 2.0,
    }


def standardize_leads(
    signal: NDArray[np.number],
    names: Sequence[str],
    units: Sequence[str] | None = None,
    *,
    derive: bool = True,
) -> tuple[NDArray[np.float64], list[str], list[str]]:
    """Put a multi-channel recording into standard lead order.

    ``signal`` has shape ``(channels, samples)`` (float or integer), ``names`` one
    name per channel and ``units`` (optional) one unit per channel. Returns
    ``(out, out_names, notes)`` where ``out`` is float64 of shape
    ``(k, samples)``: first the recognised standard leads in ``STANDARD_LEADS``
    order, then the remaining ECG channels under their original names in input
    order. Values are copied unchanged (no unit conversion); NaN samples stay
    NaN. ``notes`` are human-readable sentences for the import summary.

    * Channels for which :func:`is_non_ecg_channel` is true are dropped
      ("dropped non-ECG channels: vx, vy, vz").
    * When two channels map to the same standard lead, the first is kept and the
      others are dropped with a note.
    * When I and II are present, III, aVR, aVL and aVF are all absent and
      ``derive`` is true, the four are computed with :func:`derive_limb_leads`
      (the 8-lead storage of many devices).

    Raises ``ValueError`` when the shapes do not match or no ECG channel remains.
    """
    data = np.asarray(signal)
    if data.ndim != 2:
        raise ValueError(
            f"signal must have shape (channels, samples), got {data.shape}"
        )
    if len(names) != data.shape[0]:
        raise ValueError(
            f"{len(names)} channel names for a signal with {data.shape[0]} channels"
        )
    if units is not None and len(units) != data.shape[0]:
        raise ValueError(
            f"{len(units)} units for a signal with {data.shape[0]} channels"
        )

    notes: list[str] = []
    standard_rows: dict[str, int] = {}
    other_rows: list[int] = []
    dropped: list[str] = []
    duplicates: list[str] = []
    for row, name in enumerate(names):
        unit = None if units is None else units[row]
        if is_non_ecg_channel(name, unit):
            dropped.append(name)
            continue
        lead = normalize_lead_name(name)
        if lead is None:
            other_rows.append(row)
        elif lead in standard_rows:
            duplicates.append(f"{name} (another {lead})")
        else:
            standard_rows[lead] = row

    if dropped:
        notes.append("dropped non-ECG channels: " + ", ".join(dropped))
    if duplicates:
        notes.append(
            "dropped duplicate leads, kept the first: " + ", ".join(duplicates)
        )
    if not standard_rows and not other_rows:
        raise ValueError(
            "no ECG channel left"
            + (f" after dropping {', '.join(dropped)}" if dropped else "")
        )

    rows = {lead: data[row].astype(np.float64) for lead, row in standard_rows.items()}
    if (
        derive
        and "I" in rows
        and "II" in rows
        and not any(lead in rows for lead in DERIVED_LIMB_LEADS)
    ):
        rows.update(derive_limb_leads(rows["I"], rows["II"]))
        notes.append("derived III, aVR, aVL, aVF from I and II")

    out_names = [lead for lead in STANDARD_LEADS if lead in rows]
    stacked = [rows[lead] for lead in out_names]
    stacked += [data[row].astype(np.float64) for row in other_rows]
    out_names += [names[row] for row in other_rows]
    if other_rows:
        notes.append(
            "kept ECG channels of unknown lead: "
            + ", ".join(names[row] for row in other_rows)
        )
    return np.stack(stacked), out_names, notes


def to_integer_signal(
    signal_uv: NDArray[np.number], *, gain_uv: float = 1.0
) -> NDArray[np.integer]:
    """Quantise a signal in microvolts to integers of ``gain_uv`` microvolts each.

    ``out = rint(signal_uv / gain_uv)`` (round half to even), so
    ``out * gain_uv`` is within ``gain_uv / 2`` of the input. The shape is kept
    (any shape, usually ``(leads, samples)``). The dtype is int16 when every value
    fits in [-32768, 32767] (about ±32.8 mV at 1 µV per unit), otherwise int32.

    Raises ``ValueError`` when ``gain_uv`` is not a positive finite number, when
    the signal contains NaN or infinite samples (storage has no missing-value
    marker; the caller must reject or repair them), or when a value does not fit
    in int32.
    """
    if not (np.isfinite(gain_uv) and gain_uv > 0):
        raise ValueError(f"gain_uv must be a positive finite number, got {gain_uv}")
    values = np.asarray(signal_uv, dtype=np.float64)
    if not np.isfinite(values).all():
        raise ValueError("signal contains NaN or infinite samples")
    scaled = np.rint(values / gain_uv)
    if scaled.size == 0:
        return scaled.astype(np.int16)
    low, high = scaled.min(), scaled.max()
    if low >= _INT16.min and high <= _INT16.max:
        return scaled.astype(np.int16)
    if low >= _INT32.min and high <= _INT32.max:
        return scaled.astype(np.int32)
    raise ValueError(
        f"signal range [{low:.0f}, {high:.0f}] x {gain_uv} uV does not fit in int32;"
        " use a larger gain_uv"
    )


def pixel_column_edges(n: int, width: int) -> NDArray[np.int64]:
    """First sample of each pixel column when ``n`` samples span ``width`` pixels.

    A window of ``n`` samples drawn across ``width`` pixel columns puts sample
    ``i`` at ``i * width / n`` pixels, in column ``floor(i * width / n)``. Column
    ``b`` therefore holds samples ``[edges[b], edges[b + 1])`` with
    ``edges[b] = ceil(b * n / width)`` (exact integer arithmetic, no float
    rounding). Returns int64 of shape ``(width + 1,)``: ``edges[0] == 0``,
    ``edges[width] == n``. Every column holds ``floor(n / width)`` or
    ``ceil(n / width)`` samples; none is empty when ``width <= n``.

    Raises ``ValueError`` unless ``1 <= width <= n``.
    """
    if not 1 <= width <= n:
        raise ValueError(f"need 1 <= width <= n, got width={width}, n={n}")
    columns = np.arange(width + 1, dtype=np.int64)
    return (columns * n + width - 1) // width


def m4_indices(
    signal: NDArray[np.number], width: int, *, engine: str = "tsdownsample"
) -> NDArray[np.int64]:
    """M4 decimation with bins aligned to pixel columns: the samples a plot needs.

    ``signal`` has shape ``(leads, n)``; ``width`` is the number of pixel columns
    the ``n`` samples are drawn across, binned by :func:`pixel_column_edges`.
    For every lead and column ``b`` this keeps four sample indices, in
    increasing order: the column's first sample, its minimum and its maximum
    (whichever comes first, then the other; ties keep the earliest sample) and
    its last sample (Jugel et al., "M4", PVLDB 7(10), 2014). A line through
    those points lights the same pixels as a line through all ``n`` samples,
    so QRS peaks and one-sample pacemaker spikes survive.

    Returns int64 of shape ``(leads, 4 * width)``; row ``r`` is non-decreasing
    and ``out[r, 4*b : 4*b + 4]`` belongs to column ``b``. An index repeats
    when a column's first or last sample is also its extreme (drop repeats
    with ``np.unique`` per lead before sending).

    ``engine="tsdownsample"`` (default) runs tsdownsample's M4 (Rust, SIMD) per
    lead with an x array whose equidistant bins are exactly these columns: its
    own bins without x span ``(n - 1) / width`` samples and straddle columns.
    A column of exactly four samples comes back as those four, which keeps
    the same guarantees. Below four samples per column on average it falls
    back to ``engine="numpy"``, which takes the extremes with
    ``np.minimum.reduceat`` / ``np.maximum.reduceat`` and finds their first
    positions. Both give the same indices and, on a quiet machine, take the
    same time (``bench/bench_signal.py``: 0.4 ms for 2 x 650,000 samples, 13 ms
    for a 24 h lead at 500 Hz); the numpy engine writes sample-sized
    temporaries and ran 2-3x slower than tsdownsample on a busy one.

    Raises ``ValueError`` for a wrong shape, ``width`` outside ``[1, n]``, NaN
    samples (a missing sample has no place on the plot) or an unknown engine.
    """
    data = np.asarray(signal)
    if data.ndim != 2:
        raise ValueError(f"signal must have shape (leads, n), got {data.shape}")
    edges = pixel_column_edges(data.shape[1], width)
    if np.issubdtype(data.dtype, np.floating) and np.isnan(data).any():
        raise ValueError("signal contains NaN samples")
    if engine == "numpy":
        return _m4_numpy(data, edges)
    if engine == "tsdownsample":
        return _m4_tsdownsample(data, edges)
    raise ValueError(f"engine must be 'numpy' or 'tsdownsample', got {engine!r}")


def _m4_numpy(data: NDArray[np.number], edges: NDArray[np.int64]) -> NDArray[np.int64]:
    n_leads, n = data.shape
    width = len(edges) - 1
    starts, lengths = edges[:-1], np.diff(edges)
    # Flat positions of each column's start, lead by lead.
    row_offsets = (n * np.arange(n_leads, dtype=np.int64))[:, None]
    flat_starts = (starts + row_offsets).ravel()
    extremes = []
    for reduce in (np.minimum, np.maximum):
        values = reduce.reduceat(data, starts, axis=1)
        hits = np.flatnonzero(data == np.repeat(values, lengths, axis=1))
        # The first hit at or after a column's start lies in that column,
        # because the column holds its own extreme.
        first = hits[np.searchsorted(hits, flat_starts)].reshape(n_leads, width)
        extremes.append(first - row_offsets)
    out = np.empty((n_leads, width, 4), dtype=np.int64)
    out[..., 0] = starts
    out[..., 1] = np.minimum(*extremes)
    out[..., 2] = np.maximum(*extremes)
    out[..., 3] = edges[1:] - 1
    return out.reshape(n_leads, 4 * width)


def _m4_tsdownsample(
    data: NDArray[np.number], edges: NDArray[np.int64]
) -> NDArray[np.int64]:
    from tsdownsample import M4Downsampler

    n_leads, n = data.shape
    width = len(edges) - 1
    if n <= 4 * width or width < 2 or n_leads == 0:
        # Below 4 samples per column tsdownsample returns every sample, and it
        # needs two bins; the numpy engine has neither limit.
        return _m4_numpy(data, edges)
    # tsdownsample splits [x[0], x[-1]] into `width` equal bins and ends bin b
    # after the last x <= x[0] + (b + 1) * step. With x = 2 * column + 1, the
    # first sample moved to 0 and the last to 2 * width, step is exactly 2 and
    # bin b holds exactly column b.
    # uint16 halves the x array (and its time) up to 32,767 columns.
    x_dtype = np.uint16 if 2 * width <= np.iinfo(np.uint16).max else np.int64
    x = np.repeat(np.arange(1, 2 * width, 2, dtype=x_dtype), np.diff(edges))
    x[0], x[-1] = 0, 2 * width
    downsampler = M4Downsampler()
    rows = [
        downsampler.downsample(x, np.ascontiguousarray(row), n_out=4 * width)
        for row in data
    ]
    return np.stack(rows).astype(np.int64)
