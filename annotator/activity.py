"""What each reader of a campaign is doing: reads, pace, time per read, claims.

Read-only figures for the dashboard (``GET /api/campaigns/{id}/reader-stats/``).
A reader's pace comes from the reading time the page records with each read
(``Decision.duration_ms``, from the ECG drawn to the read submitted), over their
latest ``RECENT`` reads, so a long campaign costs no more than a short one:

- ``median_ms``: the median time per read;
- ``reads_per_hour``: 3,600,000 / the mean time per read, i.e. the reads an hour
  of reading at that pace gives (breaks between reads are not counted);
- ``reading``: whether the reader has a claim whose lease runs, i.e. an exam on
  their screen; ``open_claims`` also counts the one the page claims ahead.
"""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from django.db.models import Count, Max
from django.utils import timezone

from annotator.models import Assignment, Campaign, CampaignReader, Decision

RECENT = 1000  # latest reads of a reader that their pace is taken from


def reader_activity(
    campaign: Campaign, *, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """One row per reader of the campaign, by username."""
    now = now or timezone.now()
    claims = Assignment.objects.filter(campaign=campaign)
    open_claims = _by_reader(
        claims.filter(status=Assignment.Status.CLAIMED), Count("pk")
    )
    reading = set(
        claims.filter(status=Assignment.Status.CLAIMED, lease_expires_at__gt=now)
        .values_list("reader_id", flat=True)
        .distinct()
        .order_by()
    )
    last_read = _by_reader(
        claims.filter(status=Assignment.Status.SUBMITTED), Max("submitted_at")
    )
    fast = _by_reader(
        Decision.objects.filter(assignment__campaign=campaign, fast=True), Count("pk")
    )
    rows = []
    members = CampaignReader.objects.filter(campaign=campaign).select_related("user")
    for member in members.order_by("user__username"):
        reader = member.user_id
        times = list(
            Decision.objects.filter(
                reader_id=reader,
                assignment__campaign=campaign,
                duration_ms__isnull=False,
            )
            .order_by("-id")
            .values_list("duration_ms", flat=True)[:RECENT]
        )
        mean = statistics.fmean(times) if times else None
        rows.append(
            {
                "reader": member.user.get_username(),
                "reads": member.n_submitted,
                "open_claims": open_claims.get(reader, 0),
                "reading": reader in reading,
                "median_ms": statistics.median(times) if times else None,
                "reads_per_hour": round(3_600_000 / mean, 1) if mean else None,
                "timed_reads": len(times),
                "fast_reads": fast.get(reader, 0),
                "last_read_at": last_read.get(reader),
            }
        )
    return rows


def _by_reader(rows: Any, aggregate: Any) -> dict[Any, Any]:
    """Reader id → ``aggregate`` over their ``rows`` (one GROUP BY)."""
    return dict(
        rows.values("reader_id")
        .annotate(value=aggregate)
        .values_list("reader_id", "value")
        .order_by()
    )


def readers_reading(campaign: Campaign, *, now: dt.datetime | None = None) -> int:
    """How many readers have an exam on their screen now (a claim whose lease
    runs); a claim made ahead for the next exam is not a second one."""
    return (
        Assignment.objects.filter(
            campaign=campaign,
            status=Assignment.Status.CLAIMED,
            lease_expires_at__gt=now or timezone.now(),
        )
        .values("reader_id")
        .distinct()
        .count()
    )
