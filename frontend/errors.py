"""Error responses: JSON under /api/, the site's own pages everywhere else.

DRF answers the errors its views raise (``api.errors.exception_handler``); these
handlers answer the rest: an /api/ address no route matches, and an exception no
view handled. A page keeps Django's own handlers (400.html, 403.html, 404.html,
500.html); only the API path is told apart.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": _("Bad request.")}, status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        detail = _("You do not have permission to perform this action.")
        return JsonResponse({"detail": detail}, status=403)
    return defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        # The API's words for anything not found (api/errors.py).
        return JsonResponse({"detail": _("Not found.")}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500: no database or context processor is touched (it may be what failed)."""
    if _is_api(request):
        detail = _("The server could not finish this request. Try again in a moment.")
        return JsonResponse({"detail": detail}, status=500)
    return defaults.server_error(request)
