"""Views for the browser pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotator.models import Assignment, Campaign, CampaignExam
from annotator.roles import is_manager
from api.throttling import login_retry_after, record_failed_login


class LoginView(auth_views.LoginView):
    """Django's login page, with the same failed-login throttle as the API."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = request.POST.get("username", "")
        wait = login_retry_after(request, username)
        if wait is not None:
            context = self.get_context_data(form=self.get_form(), throttled_for=wait)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form: Any) -> HttpResponse:
        record_failed_login(self.request, self.request.POST.get("username", ""))
        return super().form_invalid(form)


def _count_by_campaign(rows: Any) -> dict[int, int]:
    """``{campaign id: number of rows}`` in one grouped query."""
    return dict(
        rows.values("campaign_id")
        .annotate(n=Count("pk"))
        .values_list("campaign_id", "n")
    )


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The caller's campaigns as cards: their roles, progress and where to go next."""
    user = request.user
    manager = is_manager(user)
    campaigns = list(Campaign.objects.visible_to(user).order_by("-created_at", "id"))
    ids = [c.pk for c in campaigns]
    reading = set(
        Campaign.readers.through.objects.filter(
            user=user, campaign_id__in=ids
        ).values_list("campaign_id", flat=True)
    )
    adjudicating = set(
        Campaign.adjudicators.through.objects.filter(
            user=user, campaign_id__in=ids
        ).values_list("campaign_id", flat=True)
    )
    links = CampaignExam.objects.filter(campaign_id__in=ids)
    reads = Assignment.objects.filter(
        campaign_id__in=ids, status=Assignment.Status.SUBMITTED
    )
    exams = _count_by_campaign(links)
    queue = _count_by_campaign(
        links.filter(consensus_state=CampaignExam.ConsensusState.NEEDS_ADJUDICATION)
    )
    submitted = _count_by_campaign(reads)
    mine = _count_by_campaign(reads.filter(reader=user))
    cards = []
    for campaign in campaigns:
        n_exams = exams.get(campaign.pk, 0)
        expected = n_exams * campaign.readers_per_exam
        done = submitted.get(campaign.pk, 0)
        cards.append(
            {
                "campaign": campaign,
                "reader": campaign.pk in reading,
                "adjudicator": campaign.pk in adjudicating,
                "manager": manager,
                "exams": n_exams,
                "reads_expected": expected,
                "reads_submitted": done,
                "percent": round(100 * done / expected) if expected else 0,
                "my_reads": mine.get(campaign.pk, 0),
                "queue": queue.get(campaign.pk, 0),
            }
        )
    return render(request, "frontend/home.html", {"cards": cards})
