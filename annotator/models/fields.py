"""Field kinds that several models declare the same way."""

from __future__ import annotations

from django.conf import settings
from django.db import models


def created_by(related_name: str) -> models.ForeignKey:
    """Who made the row. Optional (commands and imports make rows too), and
    kept, emptied, when that account is deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
    )
