"""Views for the browser pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from annotator.models import Campaign
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
