"""Views for the browser pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotator.models import Campaign
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
