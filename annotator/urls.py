"""Top-level URL routes: the API, the admin and the browser pages."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

urlpatterns = [
    path("api/", include("api.urls")),
    # The pages' strings in the reader's language (gettext() in the scripts).
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["frontend"]),
        name="javascript-catalog",
    ),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
]

handler400 = "frontend.errors.bad_request"
handler403 = "frontend.errors.permission_denied"
handler404 = "frontend.errors.page_not_found"
handler500 = "frontend.errors.server_error"
