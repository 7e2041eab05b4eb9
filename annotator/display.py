"""A display window of a signal: its samples, the points to draw and their encoding.

Framework-free (numpy and the standard library; :func:`annotator.waveforms.m4_indices`
for the decimation), so the signal endpoint, the benchmarks and a notebook produce the
same bytes from the same samples. It is a module of its own rather than part of
``waveforms.py`` because it answers a different question: ``waveforms.py`` says what a
signal *is* (lead names, derived leads, integer storage, which samples a pixel column
needs); this module says what the viewer is *sent* (which window, raw or M4, and the
wire layout that README "Signal endpoint" documents). It never sees an ``Exam``: it
takes the plain numbers the caller reads from one.

Conventions: ``stored`` is a window of a stored signal, shape ``(leads, samples)``,
integer "stored units" of ``gain_uv`` microvolts each; stored signals have no missing
sample, so there is no NaN here.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from annotator.waveforms import m4_indices

__all__ = [
    "FORMATS",
    "M4_SAMPLES_PER_COLUMN",
    "WIRE_VERSION",
    "encode_signal",
    "first_sample",
    "sample_window",
    "select_points",
    "to_microvolts",
]

#: Above this many samples per pixel column, M4 (4 points per column) pays.
M4_SAMPLES_PER_COLUMN = 4
#: Bump it when the layout changes: the endpoint's ETag includes it, so caches
#: do not mix layouts.
WIRE_VERSION = 1
FORMATS = ("binary", "json")

_INT16_MIN, _INT16_MAX = -32768, 32767
# A time this close (in samples) to a sample's time is that sample's time: the
# client's 0.3 s times 1000 Hz is 300.00000000000006 samples.
_SNAP_SAMPLES = 1e-6


def first_sample(seconds: float, fs: float) -> int:
    """Index of the first sample at or after ``seconds``: ``ceil(seconds * fs)``.

    Sample ``i`` is at time ``i / fs``. A product within 1e-6 samples above an
    integer counts as that integer, so float noise in the caller's times does
    not skip the sample they name. ``seconds`` and ``fs`` are finite, ``fs > 0``.
    """
    return math.ceil(seconds * fs - _SNAP_SAMPLES)


def sample_window(
    start: float, end: float, *, fs: float, n_samples: int
) -> tuple[int, int]:
    """Samples ``[x0, stop)`` of a record whose times lie in ``[start, end)`` seconds.

    ``x0 = first_sample(start)``, ``stop = min(first_sample(end), n_samples)``
    (see :func:`first_sample`). ``stop <= x0`` when no sample time falls in the
    window (it is narrower than ``1 / fs``); the caller decides what that means.
    """
    return first_sample(start, fs), min(first_sample(end, fs), n_samples)


def to_microvolts(
    values: NDArray[np.integer], gain_uv: float
) -> tuple[NDArray[np.int16], bool]:
    """Stored units to little-endian int16 µV: ``rint(values * gain_uv)``, clipped.

    Returns the array (same shape as ``values``, any shape) and whether any value
    had to be clipped to [-32768, 32767] µV (±32.8 mV, far outside any ECG).
    """
    if gain_uv == 1.0 and values.dtype == np.int16:
        return values.astype("<i2", copy=False), False
    uv = np.rint(values * gain_uv)
    clipped = bool(uv.size and (uv.min() < _INT16_MIN or uv.max() > _INT16_MAX))
    if clipped:
        np.clip(uv, _INT16_MIN, _INT16_MAX, out=uv)
    return uv.astype("<i2"), clipped


def select_points(
    stored: NDArray[np.integer], width: int
) -> tuple[str, list[NDArray[np.int64]] | None]:
    """``("raw", None)`` or ``("m4", kept sample indices per lead)``.

    ``stored`` is ``(leads, n)``, drawn across ``width`` pixel columns. M4 when
    ``n > M4_SAMPLES_PER_COLUMN * width`` and its points (int16 y plus int32 x,
    6 bytes each) take fewer bytes than the raw int16 samples (``2 * leads * n``);
    otherwise raw, which is pixel-exact too. Each kept array is the lead's row of
    :func:`annotator.waveforms.m4_indices` without repeated indices: strictly
    increasing int64, at most ``4 * width`` long.
    """
    n_leads, n = stored.shape
    if n <= M4_SAMPLES_PER_COLUMN * width:
        return "raw", None
    # Gain is positive and rounding monotone: extremes in stored units are
    # the extremes in µV.
    indices = m4_indices(stored, width)
    kept = []
    for row in indices:
        fresh = np.empty(row.shape, dtype=bool)
        fresh[0] = True
        np.not_equal(row[1:], row[:-1], out=fresh[1:])
        kept.append(row[fresh])
    if 6 * sum(len(k) for k in kept) >= 2 * n_leads * n:
        return "raw", None
    return "m4", kept


def encode_signal(
    stored: NDArray[np.integer],
    *,
    exam: int,
    sampling_rate: float,
    n_samples: int,
    gain_uv: float,
    x0: int,
    width: int,
    lead_names: Sequence[str],
    fmt: str = "binary",
    filters: dict[str, Any] | None = None,
) -> bytes:
    """The signal endpoint's body for the window ``stored`` (README "Signal endpoint").

    ``stored`` is ``(leads, n)`` in stored units, samples ``[x0, x0 + n)`` of a
    record of ``n_samples`` samples at ``sampling_rate`` Hz; ``lead_names`` names
    its rows; ``exam`` is the id echoed in the header. Points are chosen by
    :func:`select_points` and converted by :func:`to_microvolts` (``clipped`` in
    the header when any was clipped). ``start``, ``end`` and ``duration`` in the
    header are ``x0 / fs``, ``(x0 + n) / fs`` and ``n_samples / fs`` seconds.

    ``fmt="binary"``: uint32 (little-endian) header length H, H bytes of JSON
    header, zero padding to a multiple of 4 bytes, then the int32 x blocks and
    the int16 y blocks the header's ``[offset, bytes, type]`` entries point to.
    ``fmt="json"``: the same header with y and x as Plotly typed arrays
    (``{"dtype", "bdata"}``, base64). ``x`` is None for a raw window.
    ``filters``, when given, is echoed in the header as ``filters`` (the
    display filters the caller applied to ``stored``); without it the header
    has no such key, byte for byte the unfiltered answer.

    Raises ``ValueError`` for another ``fmt`` or when ``lead_names`` does not
    name every row.
    """
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if len(lead_names) != stored.shape[0]:
        raise ValueError(
            f"{len(lead_names)} lead names for a window of {stored.shape[0]} leads"
        )
    method, kept = select_points(stored, width)
    fs = sampling_rate
    n_window = stored.shape[1]
    header: dict[str, Any] = {
        "exam": exam,
        "sampling_rate": fs,
        "start": x0 / fs,
        "end": (x0 + n_window) / fs,
        "duration": n_samples / fs,
        "units": "uV",
        "method": method,
        "width": width,
        "x0": x0,
        "n_window": n_window,
        "clipped": False,
        "leads": [],
    }
    if filters is not None:
        header["filters"] = filters
    if kept is None:
        ys, clipped = to_microvolts(stored, gain_uv)
        traces = [(y, None) for y in ys]
    else:
        traces = []
        clipped = False
        for row, k in zip(stored, kept, strict=True):
            y, lead_clipped = to_microvolts(row[k], gain_uv)
            traces.append((y, k.astype("<i4")))
            clipped |= lead_clipped
    header["clipped"] = clipped
    names = list(lead_names)
    if fmt == "json":
        header["leads"] = [
            {
                "name": name,
                "n": len(y),
                "y": _typed_array(y, "i2"),
                "x": None if x is None else _typed_array(x, "i4"),
            }
            for name, (y, x) in zip(names, traces, strict=True)
        ]
        return json.dumps(header, separators=(",", ":")).encode()
    return _binary(header, names, traces)


def _typed_array(values: NDArray[Any], dtype: str) -> dict[str, str]:
    """Plotly's typed-array form ``{"dtype", "bdata"}`` (little-endian base64)."""
    return {"dtype": dtype, "bdata": base64.b64encode(values.tobytes()).decode()}


def _binary(
    header: dict[str, Any],
    names: list[str],
    traces: list[tuple[NDArray[np.int16], NDArray[np.int32] | None]],
) -> bytes:
    # int32 x blocks first, then int16 y blocks: every block starts at a
    # multiple of its item size, so the browser can view it without copying.
    blocks: list[bytes] = []
    offset = 0
    x_specs = []
    for _, x in traces:
        if x is None:
            x_specs.append(None)
            continue
        x_specs.append([offset, x.nbytes, "int32"])
        blocks.append(x.tobytes())
        offset += x.nbytes
    for name, (y, _), x_spec in zip(names, traces, x_specs, strict=True):
        header["leads"].append(
            {"name": name, "n": len(y), "y": [offset, y.nbytes, "int16"], "x": x_spec}
        )
        blocks.append(y.tobytes())
        offset += y.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    padding = b"\0" * (-(4 + len(text)) % 4)
    return b"".join([struct.pack("<I", len(text)), text, padding, *blocks])
