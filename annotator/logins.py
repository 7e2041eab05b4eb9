"""Failed logins: counted by django-axes, in the database, for every way in.

Axes' authentication backend guards the admin's login, the login page and the
token endpoint alike, and its database handler counts failures in one row per
(username, address) under a row lock. On top of it, this module adds:

- **a ceiling per address** (``LoginGuardHandler``): guesses spread over many
  usernames from one address stop once they pass ``LOGIN_ADDRESS_LIMIT`` in the
  cool-off window, while the per-(username, address) limit stays low, so a
  reader is never locked out of their own machine by guesses made elsewhere,
  and a hospital behind one address is not locked out by one user's typos;
- **one attempt at a time per (username, address)** (``SerialisedLogins``):
  on PostgreSQL a transaction-scoped advisory lock makes the check, the
  password test and the recording of a failure one step, so forty
  simultaneous guesses get exactly the failure limit through, not more;
- **one answer when locked out** (``locked_out``): 429 with ``Retry-After``,
  JSON for the API and the login page with a message for the browser.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import connection, transaction
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _


def address_limit() -> int:
    return settings.ANNOTATOR_LOGIN_ADDRESS_LIMIT


def cooloff_seconds() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds())


class LoginGuardBackend(AxesStandaloneBackend):
    """Axes' check before the password test, for every login made by a request.

    A login without a request (the test client, a shell) has no address to
    count and is not a guess from outside; it goes to the next backend.
    """

    def authenticate(self, request: Any = None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


class LoginGuardHandler(AxesDatabaseHandler):
    """Axes' database handler, plus a ceiling on failures from one address."""

    def is_locked(self, request: Any, credentials: dict | None = None) -> bool:
        if super().is_locked(request, credentials):
            return True
        return address_failures(request.axes_ip_address) >= address_limit()


def address_failures(address: str | None) -> int:
    """Failed logins from ``address`` within the cool-off window, any username."""
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    total = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gte=since
    ).aggregate(n=Sum("failures_since_start"))["n"]
    return total or 0


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """What a locked-out login attempt gets (axes' ``AXES_LOCKOUT_CALLABLE``)."""
    wait = cooloff_seconds()
    message = _("Too many failed logins; try again later.")
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": message}, status=429)
    else:
        response = render(
            request,
            "registration/login.html",
            {
                "throttled_minutes": max(1, round(wait / 60)),
                # Unbound: no field errors, but the username typed stays.
                "form": AuthenticationForm(
                    request, initial={"username": _username(request)}
                ),
            },
            status=429,
        )
    response["Retry-After"] = str(wait)
    return response


def _login_paths() -> set[str]:
    return {reverse("login"), reverse("admin:login"), reverse("api-token")}


def _username(request: HttpRequest) -> str:
    if request.content_type == "application/json":
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return ""
        value = body.get("username", "") if isinstance(body, dict) else ""
        return value if isinstance(value, str) else ""
    return request.POST.get("username", "")


class SerialisedLogins:
    """Middleware: login attempts for one (username, address) run one at a time.

    Without it, simultaneous guesses all pass the failure check before any of
    them is recorded. On PostgreSQL the attempt holds an advisory lock for its
    transaction (keyed by a hash, so no name is stored in the lock table);
    other databases run it as it comes (SQLite lets one writer in at a time).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.paths: set[str] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or connection.vendor != "postgresql":
            return self.get_response(request)
        if self.paths is None:
            self.paths = _login_paths()
        if request.path not in self.paths:
            return self.get_response(request)
        address = request.META.get("REMOTE_ADDR", "")
        digest = hashlib.sha256(
            f"{_username(request).lower()}\0{address}".encode()
        ).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
            return self.get_response(request)
