"""The pages that set a study up from the browser (managers): a new campaign."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from annotator import services
from annotator.models import Campaign
from annotator.roles import is_manager
from frontend.forms import NewCampaignForm


@login_required
def new_campaign(request: HttpRequest) -> HttpResponse:
    """A new campaign: "Preview" counts the chosen exams, "Create" makes it
    through the campaign service, whose refusals go next to their field."""
    if not is_manager(request.user):
        # As every route of study setup: 404 to anyone else (nothing to learn).
        raise Http404(_("New campaigns are for managers."))
    preview = None
    if request.method == "POST":
        form = NewCampaignForm(request.POST, request.FILES)
        if form.is_valid():
            if request.POST.get("action") == "create":
                created = _create(request, form)
                if created is not None:
                    return redirect("dashboard", pk=created.pk)
            if form.is_valid():
                preview = form.preview()
    else:
        form = NewCampaignForm()
    return render(
        request, "frontend/campaign-new.html", {"form": form, "preview": preview}
    )


def _create(request: HttpRequest, form: NewCampaignForm) -> Campaign | None:
    options = form.options()
    try:
        with transaction.atomic():
            return services.create_campaign(
                exams=form.exams(),
                created_by=request.user,
                **options,
            )
    except services.CampaignRefused as refused:
        field = refused.field if refused.field in form.fields else None
        form.add_error(field, str(refused))
    except services.WorkflowError as refused:
        form.add_error(None, str(refused))
    return None
