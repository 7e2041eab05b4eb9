"""Small permission classes; querysets filtered to the caller do the rest."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from annotator.roles import is_manager


class IsManager(permissions.BasePermission):
    """Managers (and admins) only: campaign creation, jobs, exam browsing at large."""

    message = "Only managers can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_manager(request.user)
