"""Views for the browser pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotator.models import Campaign


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The caller's campaigns, as reader, adjudicator or manager."""
    user = request.user
    reading = Campaign.objects.filter(readers=user)
    adjudicating = Campaign.objects.filter(adjudicators=user)
    managed = (
        Campaign.objects.all() if user.has_perm("annotator.view_campaign") else None
    )
    return render(
        request,
        "frontend/home.html",
        {"reading": reading, "adjudicating": adjudicating, "managed": managed},
    )
