"""Row locks of the workflow, taken in one order everywhere.

The order is: the reader's ``CampaignReader`` row, then assignments, then
campaign-exam links, then the campaign row (its counters) last. Locks on rows
that foreign keys point at are ``FOR NO KEY UPDATE``: they do not block the
``KEY SHARE`` checks PostgreSQL makes for those keys when another transaction
commits, which is what made concurrent sessions of one reader deadlock.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection

from annotator.models import Campaign, CampaignReader
from annotator.services import sql
from annotator.services.errors import NotFound


def for_update(queryset: Any, **options: Any) -> Any:
    """``SELECT … FOR NO KEY UPDATE`` where the database has row locks."""
    if connection.features.has_select_for_update:
        return queryset.select_for_update(no_key=True, **options)
    return queryset


def lock_reader(campaign: Campaign, reader: AbstractBaseUser) -> CampaignReader:
    """Lock the reader's row of the campaign (the membership check too).

    Every transaction that claims or submits for a reader takes this lock
    first, so one reader's claims and submissions run one at a time.
    """
    member = sql.lock_member(campaign.pk, reader.pk)
    if member is None:
        raise NotFound("No such campaign among yours.")
    return member


def skip_locked() -> dict[str, Any]:
    """``SKIP LOCKED`` where the database has it (not SQLite)."""
    if connection.features.has_select_for_update_skip_locked:
        return {"skip_locked": True}
    return {}
