"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from annotator.roles import is_manager


def app(request: HttpRequest) -> dict[str, Any]:
    import plotly

    return {
        "plotly_version": plotly.__version__,
        "is_manager": is_manager(request.user) if hasattr(request, "user") else False,
    }
