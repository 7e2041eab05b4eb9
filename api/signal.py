"""The signal endpoint: an exam's samples for display, M4-decimated to the pixel width.

``GET /api/exams/{id}/signal/?width=PX&start=S&end=S&leads=I,II&format=json``

The window ``[start, end)`` (seconds) is read from storage alone (local files
are memory-mapped), converted to int16 microvolts and sent raw, or, where it
holds more than four samples per pixel column and that makes the payload
smaller, as M4 points (:func:`annotator.waveforms.m4_indices`): every pixel
column keeps its first, last, lowest and highest sample, so the plot is the
one the raw samples would draw. README "Signal endpoint" documents the wire
format.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.http import HttpResponse, HttpResponseNotModified, QueryDict
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from numpy.typing import NDArray
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.models import Exam
from annotator.storage import load_signal
from annotator.waveforms import m4_indices

logger = logging.getLogger(__name__)

WIDTH_MIN, WIDTH_MAX, WIDTH_DEFAULT = 16, 20_000, 2_000
#: Above this many samples per pixel column, M4 (4 points per column) pays.
M4_SAMPLES_PER_COLUMN = 4
CACHE_CONTROL = "private, max-age=86400"
#: Part of every ETag: bump it when the layout changes so caches do not mix them.
WIRE_VERSION = 1
FORMATS = ("binary", "json")
SIGNAL_MISSING = (
    "This exam's signal is not in storage; an administrator must import it again."
)

_INT16_MIN, _INT16_MAX = -32768, 32767
# A time this close (in samples) to a sample's time is that sample's time: the
# client's 0.3 s times 1000 Hz is 300.00000000000006 samples.
_SNAP_SAMPLES = 1e-6
_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_EXAM_FIELDS = (
    "id",
    "sampling_rate",
    "n_samples",
    "lead_names",
    "signal_key",
    "signal_gain",
    "signal_sha256",
)


class _AlwaysJSON(BaseContentNegotiation):
    """Errors are JSON whatever ``Accept`` or ``?format=`` say.

    DRF would answer ``?format=binary`` with 404 and ``Accept:
    application/octet-stream`` with 406; the signal itself bypasses renderers.
    """

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


@dataclass(frozen=True)
class Window:
    """A validated request: samples ``[x0, stop)`` of the leads at ``rows``."""

    x0: int
    stop: int
    width: int
    rows: tuple[int, ...]
    fmt: str

    @property
    def n(self) -> int:
        return self.stop - self.x0


def _integer(params: QueryDict, name: str, default: int, low: int, high: int) -> int:
    text = params.get(name)
    if text is None:
        return default
    digits = text.strip()
    if not (
        _INTEGER.fullmatch(digits) and len(digits) <= 6 and low <= int(digits) <= high
    ):
        raise ParseError(
            f"{name} must be a whole number of pixels from {low} to {high}"
            f" (got {text!r})"
        )
    return int(digits)


def _seconds(params: QueryDict, name: str, default: float) -> float:
    text = params.get(name)
    if text is None:
        return default
    value = float(text) if _DECIMAL.fullmatch(text.strip()) else math.nan
    if not math.isfinite(value):
        raise ParseError(f"{name} must be a finite number of seconds (got {text!r})")
    return value


def _first_sample(seconds: float, fs: float) -> int:
    """Index of the first sample at or after ``seconds``."""
    return math.ceil(seconds * fs - _SNAP_SAMPLES)


def parse_window(params: QueryDict, exam: Exam) -> Window:
    """Check the query string against ``exam``; a ``ParseError`` (400) says what
    to fix."""
    width = _integer(params, "width", WIDTH_DEFAULT, WIDTH_MIN, WIDTH_MAX)
    duration = exam.n_samples / exam.sampling_rate
    start = _seconds(params, "start", 0.0)
    end = _seconds(params, "end", duration)
    if start < 0:
        raise ParseError(f"start must be 0 s or later (got start={start:g})")
    if end <= start:
        raise ParseError(
            f"end must be greater than start (got start={start:g}, end={end:g})"
        )
    if end > duration:
        raise ParseError(
            f"end must be at most the record's duration, {duration:g} s"
            f" (got end={end:g})"
        )
    fs = exam.sampling_rate
    x0 = _first_sample(start, fs)
    stop = min(_first_sample(end, fs), exam.n_samples)
    if stop <= x0:
        raise ParseError(
            f"the window [{start:g}, {end:g}) s holds no sample; samples are"
            f" {1 / fs:g} s apart at {fs:g} Hz"
        )

    names = list(exam.lead_names)
    text = params.get("leads")
    if text is None:
        rows = tuple(range(len(names)))
    else:
        asked = [part.strip() for part in text.split(",")]
        if not any(asked):
            raise ParseError("leads must name at least one lead, e.g. leads=I,II")
        rows_list: list[int] = []
        for name in asked:
            if name not in names:
                raise ParseError(
                    f"unknown lead {name!r}; this exam has {', '.join(names)}"
                )
            if names.index(name) in rows_list:
                raise ParseError(f"lead {name!r} is asked for twice")
            rows_list.append(names.index(name))
        rows = tuple(rows_list)

    fmt = params.get("format", "binary")
    if fmt not in FORMATS:
        raise ParseError(f"format must be binary or json (got {fmt!r})")
    return Window(x0=x0, stop=stop, width=width, rows=rows, fmt=fmt)


def etag_for(exam: Exam, window: Window) -> str:
    """A strong ETag: the signal's sha256 and everything that shapes the answer."""
    key = json.dumps(
        [
            WIRE_VERSION,
            exam.pk,
            exam.signal_sha256,
            exam.signal_gain,
            exam.sampling_rate,
            [exam.lead_names[row] for row in window.rows],
            window.x0,
            window.stop,
            window.width,
            window.fmt,
        ]
    )
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:40] + '"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("If-None-Match")
    if not header:
        return False
    # Weak comparison (RFC 9110 13.1.2): gzip makes the ETag weak on the way out.
    sent = {tag.removeprefix("W/") for tag in parse_etags(header)}
    return "*" in sent or etag in sent


def to_microvolts(
    values: NDArray[np.integer], gain_uv: float
) -> tuple[NDArray[np.int16], bool]:
    """Stored units to little-endian int16 µV: ``rint(values * gain_uv)``, clipped.

    Returns the array (same shape) and whether any value had to be clipped to
    [-32768, 32767] µV (±32.8 mV, far outside any ECG).
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

    M4 when the window holds more than four samples per pixel column and its
    points (int16 y plus int32 x, 6 bytes each) take fewer bytes than the raw
    int16 samples; otherwise raw, which is pixel-exact too.
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


def build_signal(exam: Exam, window: Window, stored: NDArray[np.integer]) -> bytes:
    """The response body; ``stored`` is (leads, samples) of the window, stored units."""
    method, kept = select_points(stored, window.width)
    fs = exam.sampling_rate
    header: dict[str, Any] = {
        "exam": exam.pk,
        "sampling_rate": fs,
        "start": window.x0 / fs,
        "end": window.stop / fs,
        "duration": exam.n_samples / fs,
        "units": "uV",
        "method": method,
        "width": window.width,
        "x0": window.x0,
        "n_window": window.n,
        "clipped": False,
        "leads": [],
    }
    if kept is None:
        ys, clipped = to_microvolts(stored, exam.signal_gain)
        traces = [(y, None) for y in ys]
    else:
        traces = []
        clipped = False
        for row, k in zip(stored, kept, strict=True):
            y, lead_clipped = to_microvolts(row[k], exam.signal_gain)
            traces.append((y, k.astype("<i4")))
            clipped |= lead_clipped
    header["clipped"] = clipped
    names = [exam.lead_names[row] for row in window.rows]
    if window.fmt == "json":
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


_PARAMETERS = [
    OpenApiParameter(
        "width",
        int,
        description=(
            f"Pixel columns the window is drawn across ({WIDTH_MIN}-{WIDTH_MAX},"
            f" default {WIDTH_DEFAULT}); send the plot width in device pixels."
        ),
    ),
    OpenApiParameter(
        "start", float, description="Window start in seconds (default 0)."
    ),
    OpenApiParameter(
        "end",
        float,
        description="Window end in seconds, exclusive (default: the record's end).",
    ),
    OpenApiParameter(
        "leads",
        str,
        description="Comma-separated lead names (default: all, in stored order).",
    ),
    OpenApiParameter(
        "format",
        str,
        enum=list(FORMATS),
        description="binary (default, application/octet-stream) or json.",
    ),
]


class ExamSignalView(APIView):
    """An exam's signal for display, raw or M4 (README "Signal endpoint")."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _AlwaysJSON

    @extend_schema(
        operation_id="exams_signal_retrieve",
        parameters=_PARAMETERS,
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "uint32 header length H, H bytes of JSON header, zero padding"
                    " to 4 bytes, then the data blocks the header points to."
                ),
            ),
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="The same header; y and x as Plotly typed arrays.",
            ),
            304: OpenApiResponse(description="Not modified (If-None-Match)."),
            400: OpenApiResponse(description="A parameter is wrong; detail says how."),
            404: OpenApiResponse(
                description="No such exam, not visible to you, or its signal file"
                " is missing."
            ),
        },
    )
    def get(self, request: Request, pk: int) -> HttpResponse:
        exam = get_object_or_404(
            Exam.objects.visible_to(request.user).only(*_EXAM_FIELDS), pk=pk
        )
        window = parse_window(request.query_params, exam)
        etag = etag_for(exam, window)
        if _not_modified(request, etag):
            response: HttpResponse = HttpResponseNotModified()
        else:
            try:
                stored = load_signal(exam.signal_key, start=window.x0, stop=window.stop)
            except FileNotFoundError:
                # The caller may see this exam, so saying why is safe; 404
                # because this resource, the signal, is what is missing.
                logger.error("signal file missing for exam %s", exam.pk)
                return Response({"detail": SIGNAL_MISSING}, status=404)
            if window.rows != tuple(range(stored.shape[0])):
                stored = stored[list(window.rows)]
            body = build_signal(exam, window, stored)
            content_type = (
                "application/json"
                if window.fmt == "json"
                else "application/octet-stream"
            )
            response = HttpResponse(body, content_type=content_type)
        response["ETag"] = etag
        response["Cache-Control"] = CACHE_CONTROL
        patch_vary_headers(response, ("Accept-Encoding",))
        return response
