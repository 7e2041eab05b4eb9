"""Server-rendered pages that hand over to one ES module each.

Views check the caller's rights (the same querysets as the API: a foreign id is
a 404; a page without an id that the caller's role does not open is a 403) and
render a template with the ids the page's script needs; the data
itself comes from the API.
"""

from __future__ import annotations

import functools
import gzip

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from annotator.models import Campaign
from annotator.roles import Role, is_manager
from annotator.services.campaigns import STATUS_MOVES
from frontend.forms import people_with


def _campaign(request: HttpRequest, pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.visible_to(request.user), pk=pk)


@login_required
def read(request: HttpRequest, pk: int) -> HttpResponse:
    """The labeling page: claim, view, label, submit and next."""
    campaign = _campaign(request, pk)
    if not campaign.is_read_by(request.user):
        raise Http404("You do not read in this campaign.")
    return render(request, "frontend/read.html", {"campaign": campaign})


@login_required
def my_reads(request: HttpRequest, pk: int) -> HttpResponse:
    """The reader's reads in a campaign, newest first, each opened on the read page."""
    campaign = _campaign(request, pk)
    if not campaign.is_read_by(request.user):
        raise Http404("You do not read in this campaign.")
    return render(request, "frontend/my-reads.html", {"campaign": campaign})


@login_required
def adjudicate(request: HttpRequest, pk: int) -> HttpResponse:
    """The adjudication page: the queue, the ECG, every reader's labels side by side."""
    campaign = _campaign(request, pk)
    if not campaign.is_adjudicated_by(request.user):
        raise Http404("You do not adjudicate this campaign.")
    return render(request, "frontend/adjudicate.html", {"campaign": campaign})


@login_required
def dashboard(request: HttpRequest, pk: int) -> HttpResponse:
    """Campaign dashboard: progress, agreement with CIs, reader statistics, jobs."""
    campaign = _campaign(request, pk)
    if not is_manager(request.user):
        raise Http404("The dashboard is for managers.")
    return render(
        request,
        "frontend/dashboard.html",
        {
            "campaign": campaign,
            "status_moves": _status_moves(campaign),
            "members": campaign.readers.order_by("username"),
            "candidates": people_with(Role.READER)
            .exclude(pk__in=campaign.readers.values("pk"))
            .exclude(pk__in=campaign.adjudicators.values("pk")),
        },
    )


# What the dashboard's buttons call each move of a campaign's status.
_MOVE_LABELS = {
    Campaign.Status.OPEN: _("Open"),
    Campaign.Status.PAUSED: _("Pause"),
    Campaign.Status.CLOSED: _("Close"),
}


def _status_moves(campaign: Campaign) -> list[tuple[str, str]]:
    """(status, button label) of the moves the campaign can make now (the
    rule is the service's, ``STATUS_MOVES``); "Resume" for a paused one."""
    moves = sorted(STATUS_MOVES[campaign.status], key=list(Campaign.Status).index)
    paused = campaign.status == Campaign.Status.PAUSED
    return [
        (
            move,
            _("Resume")
            if paused and move == Campaign.Status.OPEN
            else _MOVE_LABELS[move],
        )
        for move in moves
    ]


@login_required
def jobs(request: HttpRequest) -> HttpResponse:
    """Background jobs with progress bars and downloads."""
    if not is_manager(request.user):
        raise PermissionDenied("Jobs are for managers.")
    return render(request, "frontend/jobs.html", {})


@login_required
def exams(request: HttpRequest) -> HttpResponse:
    """Exam browser for managers."""
    if not is_manager(request.user):
        raise PermissionDenied("The exam browser is for managers.")
    return render(request, "frontend/exams.html", {})


@functools.cache
def _plotly_bundle() -> tuple[bytes, bytes]:
    """plotly.min.js as shipped and gzipped, made once per process (4.8 MB)."""
    from plotly.offline import get_plotlyjs

    raw = get_plotlyjs().encode()
    return raw, gzip.compress(raw, compresslevel=9, mtime=0)


@require_GET
@cache_control(public=True, max_age=31536000, immutable=True)
def plotly_js(request: HttpRequest, version: str) -> HttpResponse:
    """Plotly.js from the installed plotly package: no CDN, works offline.

    Compressed once and kept, rather than by the gzip middleware on every request.
    """
    import plotly

    if version != plotly.__version__:
        raise Http404("Unknown plotly version.")
    raw, compressed = _plotly_bundle()
    gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
    response = HttpResponse(
        compressed if gzipped else raw, content_type="text/javascript; charset=utf-8"
    )
    if gzipped:
        response["Content-Encoding"] = "gzip"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response
