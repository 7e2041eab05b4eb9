"""Views for the browser pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotator.models import Campaign
from annotator.roles import is_manager


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The caller's campaigns as cards: their roles, progress and where to go next."""
    user = request.user
    manager = is_manager(user)
    campaigns = Campaign.objects.visible_to(user).with_progress(user)
    cards = []
    for campaign in campaigns.order_by("-created_at", "id"):
        progress = campaign.progress_for(user)
        expected = campaign.n_exams * campaign.readers_per_exam
        done = campaign.n_reads_submitted
        cards.append(
            {
                "campaign": campaign,
                "reader": campaign.caller_reads,
                "adjudicator": campaign.caller_adjudicates,
                "manager": manager,
                "exams": campaign.n_exams,
                "reads_expected": expected,
                "reads_submitted": done,
                "percent": round(100 * done / expected) if expected else 0,
                "my_reads": progress["my_reads_submitted"],
                "queue": campaign.n_needs_adjudication,
            }
        )
    return render(request, "frontend/home.html", {"cards": cards})
