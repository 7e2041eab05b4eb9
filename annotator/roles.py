"""Workflow roles as Django groups, and the role checks; imports no model."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """Django groups that carry the workflow roles; admins are superusers."""

    READER = "reader", _("Reader")
    ADJUDICATOR = "adjudicator", _("Adjudicator")
    MANAGER = "manager", _("Manager")
    # A model's account: its predictions are imported as readings, it never logs
    # in, and its readings are kept apart from the people's (MachineReading).
    MACHINE = "machine", _("Machine reader")


# Model permissions each group gets (managers administer; the others work
# through the API, where querysets are filtered to their assignments).
MANAGER_PERMISSIONS = [
    f"{action}_{model}"
    for model in ("exam", "taxonomyversion", "diagnosticclass", "campaign", "job")
    for action in ("view", "add", "change")
] + [
    "view_patientlink",
    "view_campaignexam",
    "view_assignment",
    "view_decision",
    "view_adjudication",
    "view_labelrevision",
]


def has_role(user: Any, role: Role | str) -> bool:
    """Superusers hold every role; others hold the roles of their groups."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cache = getattr(user, "_role_cache", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._role_cache = cache
    return str(role) in cache


def is_manager(user: Any) -> bool:
    return has_role(user, Role.MANAGER)


def is_machine(user: Any) -> bool:
    """Whether the account is a model's (its group; a machine never logs in)."""
    return user.groups.filter(name=Role.MACHINE).exists()
