"""The signal endpoint: an exam's samples for display, M4-decimated to the pixel width.

``GET /api/exams/{id}/signal/?width=PX&start=S&end=S&leads=I,II&format=json``
(and ``highpass=HZ&lowpass=HZ&notch=50|60`` for display filters)

The window ``[start, end)`` (seconds) is read from storage alone (local files
are memory-mapped), converted to int16 microvolts and sent raw, or, where it
holds more than four samples per pixel column and that makes the payload
smaller, as M4 points (:func:`annotator.waveforms.m4_indices`): every pixel
column keeps its first, last, lowest and highest sample, so the plot is the
one the raw samples would draw. Display filters (:mod:`annotator.filters`) run
on the full-resolution window, with context around it, before any decimation.
The numbers and the bytes are
:mod:`annotator.display`'s; this module parses the query, checks rights, answers
304 for a matching ETag and reads storage. README "Signal endpoint" documents the
wire format.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from django.http import HttpResponse, HttpResponseNotModified, QueryDict
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.display import FORMATS, WIRE_VERSION, encode_signal, sample_window
from annotator.filters import DisplayFilters, FilterError
from annotator.models import Exam
from annotator.storage import load_signal

logger = logging.getLogger(__name__)

WIDTH_MIN, WIDTH_MAX, WIDTH_DEFAULT = 16, 20_000, 2_000
CACHE_CONTROL = "private, max-age=86400"
SIGNAL_MISSING = (
    "This exam's signal is not in storage; an administrator must import it again."
)

FILTER_PARAMETERS = ("highpass", "lowpass", "notch")
NO_FILTERS = DisplayFilters()
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
    filters: DisplayFilters = NO_FILTERS

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
    x0, stop = sample_window(start, end, fs=fs, n_samples=exam.n_samples)
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
    try:
        filters = DisplayFilters.from_values(
            {name: params[name] for name in FILTER_PARAMETERS if name in params}
        )
        filters.check(fs)
    except FilterError as exc:
        raise ParseError(str(exc)) from exc
    return Window(x0=x0, stop=stop, width=width, rows=rows, fmt=fmt, filters=filters)


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
            # Only filtered answers name their filters: unfiltered ETags are
            # the ones browsers have cached already.
            *([window.filters.as_dict()] if window.filters else []),
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
    OpenApiParameter(
        "highpass",
        float,
        description="Display high-pass in Hz, 0.05-1 (baseline wander); zero-phase.",
    ),
    OpenApiParameter(
        "lowpass",
        float,
        description="Display low-pass in Hz, 20-150 (muscle noise); zero-phase.",
    ),
    OpenApiParameter(
        "notch", int, enum=[50, 60], description="Mains notch in Hz; zero-phase."
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
                stored, gain_uv = _samples(exam, window)
            except FileNotFoundError:
                # The caller may see this exam, so saying why is safe; 404
                # because this resource, the signal, is what is missing.
                logger.error("signal file missing for exam %s", exam.pk)
                return Response({"detail": SIGNAL_MISSING}, status=404)
            body = encode_signal(
                stored,
                exam=exam.pk,
                sampling_rate=exam.sampling_rate,
                n_samples=exam.n_samples,
                gain_uv=gain_uv,
                x0=window.x0,
                width=window.width,
                lead_names=[exam.lead_names[row] for row in window.rows],
                fmt=window.fmt,
                filters=_filters_header(window.filters),
            )
            content_type = (
                "application/json"
                if window.fmt == "json"
                else "application/octet-stream"
            )
            response = HttpResponse(body, content_type=content_type)
        response["ETag"] = etag
        if window.filters:
            response["Display-Filters"] = window.filters.label()
        response["Cache-Control"] = CACHE_CONTROL
        patch_vary_headers(response, ("Accept-Encoding",))
        return response


def _samples(exam: Exam, window: Window) -> tuple[Any, float]:
    """The window's samples of the asked leads and their gain in µV.

    Unfiltered: the stored integers as they are. Filtered: read with the
    filters' context on each side (where the record has it), filtered in
    microvolts at full resolution, and cropped to the window (gain 1).
    """
    filters = window.filters
    pad = filters.padding(exam.sampling_rate) if filters else 0
    start = max(window.x0 - pad, 0)
    stop = min(window.stop + pad, exam.n_samples)
    stored = load_signal(exam.signal_key, start=start, stop=stop)
    if window.rows != tuple(range(stored.shape[0])):
        stored = stored[list(window.rows)]
    if not filters:
        return stored, exam.signal_gain
    filtered = filters.apply(stored * exam.signal_gain, exam.sampling_rate)
    lead = window.x0 - start
    return filtered[:, lead : lead + window.n], 1.0


def _filters_header(filters: DisplayFilters) -> dict[str, Any] | None:
    if not filters:
        return None
    return {**filters.as_dict(), "label": filters.label()}
