"""The People page (managers) and the set-password page a new account's link opens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import gettext as _

from annotator import services
from annotator.models import AccountEvent
from annotator.roles import Role, is_manager
from frontend.forms import NewAccountForm

RECENT_EVENTS = 50


@login_required
def people(request: HttpRequest) -> HttpResponse:
    """Accounts and their roles; new accounts; role, activation and link changes."""
    if not is_manager(request.user):
        raise Http404(_("People are for managers."))
    form = NewAccountForm()
    if request.method == "POST":
        form = _act(request)
        if form is None:
            return redirect("people")
    accounts = (
        get_user_model()
        .objects.exclude(groups__name=Role.MACHINE)
        .prefetch_related("groups")
        .order_by("username")
    )
    rows = [
        {
            "user": user,
            "roles": {group.name for group in user.groups.all()},
        }
        for user in accounts
    ]
    events = AccountEvent.objects.select_related("actor", "subject")[:RECENT_EVENTS]
    return render(
        request,
        "frontend/people.html",
        {
            "form": form,
            "rows": rows,
            "roles": [(role.value, role.label) for role in services.PEOPLE_ROLES],
            "events": events,
        },
    )


def _act(request: HttpRequest) -> NewAccountForm | None:
    """Do what the POST asks; the form again (with its errors) or None."""
    action = request.POST.get("action")
    if action == "create":
        form = NewAccountForm(request.POST)
        if not form.is_valid():
            return form
        try:
            user = services.create_account(actor=request.user, **form.cleaned_data)
        except services.AccountRefused as refused:
            form.add_error(refused.field, str(refused))
            return form
        _link(request, user)
        return None
    pk = request.POST.get("user", "")
    if not pk.isdigit():
        raise Http404(_("No such account."))
    subject = get_object_or_404(
        get_user_model().objects.exclude(groups__name=Role.MACHINE), pk=int(pk)
    )
    try:
        if action in {"give", "take"}:
            services.set_role(
                actor=request.user,
                user=subject,
                role=request.POST.get("role", ""),
                on=action == "give",
            )
        elif action in {"deactivate", "reactivate"}:
            services.set_active(
                actor=request.user, user=subject, active=action == "reactivate"
            )
        elif action == "link":
            _link(request, subject)
        else:
            messages.error(request, _("Unknown action."))
    except services.WorkflowError as refused:
        messages.error(request, str(refused))
    return None


def _link(request: HttpRequest, user: Any) -> None:
    uid, token = services.password_link(actor=request.user, user=user)
    url = request.build_absolute_uri(reverse("set-password", args=[uid, token]))
    messages.success(
        request,
        _("Set-password link for %(name)s (works once; copy it now): %(url)s")
        % {"name": user.get_username(), "url": url},
        extra_tags=f"link {url}",
    )


set_password = auth_views.PasswordResetConfirmView.as_view(
    template_name="registration/set-password.html",
    success_url=reverse_lazy("set-password-done"),
    post_reset_login=False,
)
set_password_done = auth_views.PasswordResetCompleteView.as_view(
    template_name="registration/set-password-done.html"
)
