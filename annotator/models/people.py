"""What managers do to accounts: created, roles given or taken, deactivated, links."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AccountEvent(models.Model):
    """One change a manager made to an account, kept and listed (never edited)."""

    class Action(models.TextChoices):
        CREATED = "created", _("Account created")
        ROLE_GIVEN = "role_given", _("Role given")
        ROLE_TAKEN = "role_taken", _("Role taken")
        DEACTIVATED = "deactivated", _("Deactivated")
        REACTIVATED = "reactivated", _("Reactivated")
        PASSWORD_LINK = "password_link", _("Set-password link made")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="account_events",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="account_event_recent")
        ]

    def __str__(self) -> str:
        when = f"{self.created_at:%Y-%m-%d %H:%M}"
        return f"{when} {self.actor_id} {self.action} {self.subject_id}"
