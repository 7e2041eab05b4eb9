"""Claiming: a reader's next exam, leases and their expiry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
)
from annotator.services.errors import (
    NotFound,
)

CLAIM_CANDIDATES = 8  # open exams tried per claim before concluding none is left


_STALE_CLAIMS_SQL = """
SELECT id, exam_id FROM annotator_assignment
WHERE campaign_id = %s AND status = %s AND lease_expires_at <= %s
ORDER BY id LIMIT 500
"""

# The reader's unfinished claim (the oldest, should there be several) and
# cursor: the highest exam they hold any assignment of, claimed, read or expired.
_READER_STATE_SQL = """
SELECT
    (SELECT id FROM annotator_assignment
     WHERE campaign_id = %(campaign)s AND reader_id = %(reader)s
       AND status = %(claimed)s AND id <> %(after)s
     ORDER BY claimed_at, id LIMIT 1),
    (SELECT MAX(exam_id) FROM annotator_assignment
     WHERE campaign_id = %(campaign)s AND reader_id = %(reader)s)
"""

# The whole claim of a new exam in one statement on PostgreSQL: lock the first
# open exam after the reader's cursor that they do not hold (skipping rows that
# concurrent claims have locked), count the reader on it only while it has room,
# and insert the claim. The reader holds nothing above their cursor, so there is
# no expired claim of theirs to revive; the counter guard and the unique
# (campaign, exam, reader) constraint stay the final word, as in the ORM path.
_CLAIM_SQL = """
WITH slot AS (
    UPDATE annotator_campaignexam
    SET n_assigned = n_assigned + 1, is_open = n_assigned + 1 < %(overlap)s
    WHERE id = (
        SELECT id FROM annotator_campaignexam
        WHERE campaign_id = %(campaign)s AND is_open AND exam_id > %(after)s
          AND exam_id NOT IN (
              SELECT exam_id FROM annotator_assignment
              WHERE campaign_id = %(campaign)s AND reader_id = %(reader)s
                AND status IN (%(claimed)s, %(submitted)s) AND exam_id > %(after)s
          )
        ORDER BY exam_id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) AND n_assigned < %(overlap)s
    RETURNING exam_id
)
INSERT INTO annotator_assignment
    (campaign_id, exam_id, reader_id, status, claimed_at, lease_expires_at)
SELECT %(campaign)s, exam_id, %(reader)s, %(claimed)s, %(now)s, %(lease)s FROM slot
RETURNING id, campaign_id, exam_id, reader_id, status, claimed_at,
    lease_expires_at, submitted_at
"""


def expire_leases(*, campaign: Campaign, now: dt.datetime | None = None) -> int:
    """Return abandoned claims to the queue; returns how many were released.

    A claim whose lease has run out is marked expired and its exam's counter
    goes down, so another reader (or the same one) can take it.
    """
    return len(_expire_leases(campaign, now or timezone.now()))


def _expire_leases(campaign: Campaign, now: dt.datetime) -> list[int]:
    """Release the campaign's claims whose lease ran out; their ids."""
    released: list[int] = []
    with connection.cursor() as cursor:
        cursor.execute(
            _STALE_CLAIMS_SQL,
            [
                campaign.pk,
                Assignment.Status.CLAIMED.value,
                connection.ops.adapt_datetimefield_value(now),
            ],
        )
        stale = cursor.fetchall()
    for pk, exam_id in stale:
        with transaction.atomic():
            # The status filter makes a release happen once, whoever gets here first.
            if Assignment.objects.filter(
                pk=pk, status=Assignment.Status.CLAIMED, lease_expires_at__lte=now
            ).update(status=Assignment.Status.EXPIRED):
                CampaignExam.objects.filter(campaign=campaign, exam_id=exam_id).update(
                    n_assigned=F("n_assigned") - 1, is_open=True
                )
                released.append(pk)
    return released


def claim_next(
    *,
    campaign: Campaign,
    reader: AbstractBaseUser,
    now: dt.datetime | None = None,
    after: int | None = None,
) -> Assignment | None:
    """Give ``reader`` their next exam of ``campaign``, or None when none is left.

    The reader's unfinished claim comes back first (with a renewed lease).
    ``after`` (the id of the claim being read) asks for the claim to read next,
    so a page can fetch the next ECG ahead: another unfinished claim if there
    is one, else a new one. A reader thus holds at most two claims at once.
    Otherwise an open exam is claimed by a conditional UPDATE of its counter
    (``n_assigned < overlap``), so no exam ever has more readers than the
    overlap, on any database; on PostgreSQL ``SKIP LOCKED`` also keeps
    concurrent readers from queueing behind one another's rows.
    """
    now = now or timezone.now()
    lease = now + dt.timedelta(minutes=campaign.lease_minutes)
    with transaction.atomic():
        # One claim at a time per reader: two tabs must not take two exams.
        # Locking the reader's row through the campaign's reader list makes the
        # lock the membership check too: one query on every claim, not two.
        member = (
            get_user_model()
            ._default_manager.select_for_update(of=("self",))
            .filter(pk=reader.pk, reader_campaigns=campaign)
            .values_list("pk", flat=True)
            .first()
        )
        if member is None:
            raise NotFound("No such campaign among yours.")
        _expire_leases(campaign, now)
        # A statement of its own, after the lock: under READ COMMITTED it sees
        # what another tab committed while this one waited for the lock.
        with connection.cursor() as db:
            db.execute(
                _READER_STATE_SQL,
                {
                    "campaign": campaign.pk,
                    "reader": reader.pk,
                    "claimed": Assignment.Status.CLAIMED.value,
                    "after": after or 0,
                },
            )
            current_pk, cursor = db.fetchone()
        if current_pk is not None:
            current = Assignment.objects.get(pk=current_pk)
            current.lease_expires_at = lease
            current.save(update_fields=["lease_expires_at"])
            return current
        # Readers walk the campaign in exam order; their cursor skips what they read.
        cursor = cursor or 0
        assignment = _claim_from(
            campaign, reader, now, lease, after=cursor, cursor=cursor
        )
        if assignment is None and cursor:
            # Exams before the cursor may have reopened when a lease expired.
            assignment = _claim_from(
                campaign, reader, now, lease, after=0, cursor=cursor
            )
        return assignment


def _claim_from(
    campaign: Campaign,
    reader: AbstractBaseUser,
    now: dt.datetime,
    lease: dt.datetime,
    *,
    after: int,
    cursor: int,
) -> Assignment | None:
    """Claim the first open exam after ``after`` that the reader does not hold.

    ``cursor`` is the highest exam the reader has any assignment of, so exams
    above it need no look for an old (expired) claim of the reader's to revive.
    """
    overlap = campaign.readers_per_exam
    if after >= cursor and connection.vendor == "postgresql":
        claimed = _claim_in_one_statement(campaign, reader, now, lease, after=after)
        if claimed is not None:
            return claimed
        # Nothing open and unlocked above the cursor (or a counter out of step
        # with is_open): the general walk below decides.
    # Only the reader's exams the candidates can reach: the subquery stays a
    # few rows however many exams the reader has read.
    mine = Assignment.objects.filter(
        campaign=campaign,
        reader=reader,
        status__in=[Assignment.Status.CLAIMED, Assignment.Status.SUBMITTED],
        exam_id__gt=after,
    ).values("exam_id")
    while True:
        candidates = (
            CampaignExam.objects.filter(
                campaign=campaign, is_open=True, exam_id__gt=after
            )
            .exclude(exam_id__in=mine)
            .order_by("exam_id")
        )
        if connection.features.has_select_for_update_skip_locked:
            candidates = candidates.select_for_update(skip_locked=True, of=("self",))
        batch = list(candidates.values_list("pk", "exam_id")[:CLAIM_CANDIDATES])
        if not batch:
            return None
        for link_pk, exam_id in batch:
            if _take_slot(CampaignExam.objects.filter(pk=link_pk), overlap):
                return _assign(
                    campaign, reader, exam_id, now, lease, fresh=exam_id > cursor
                )
        after = batch[-1][1]


def _claim_in_one_statement(
    campaign: Campaign,
    reader: AbstractBaseUser,
    now: dt.datetime,
    lease: dt.datetime,
    *,
    after: int,
) -> Assignment | None:
    """PostgreSQL: ``_CLAIM_SQL``; the new claim, or None if it took nothing."""
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "campaign": campaign.pk,
                "reader": reader.pk,
                "after": after,
                "overlap": campaign.readers_per_exam,
                "claimed": Assignment.Status.CLAIMED.value,
                "submitted": Assignment.Status.SUBMITTED.value,
                "now": now,
                "lease": lease,
            },
        )
        row = cursor.fetchone()
        if row is None:
            return None
        columns = [column.name for column in cursor.description]
    assignment = Assignment.from_db(connection.alias, columns, row)
    assignment.campaign, assignment.reader = campaign, reader
    return assignment


def _take_slot(links: Any, overlap: int) -> bool:
    """Count one more reader on an exam if it has room; False if it is full.

    The single conditional UPDATE is the whole guard: two readers racing for
    the last slot cannot both see ``n_assigned < overlap`` succeed.
    """
    return bool(
        links.filter(n_assigned__lt=overlap).update(
            n_assigned=F("n_assigned") + 1,
            is_open=Case(
                When(n_assigned__gte=overlap - 1, then=Value(False)),
                default=Value(True),
            ),
        )
    )


def _assign(
    campaign: Campaign,
    reader: AbstractBaseUser,
    exam_id: int,
    now: dt.datetime,
    lease: dt.datetime,
    *,
    fresh: bool = False,
) -> Assignment:
    """Create the claim, or revive the reader's own expired claim of this exam.

    ``fresh`` says the reader has no assignment of the exam at all (it lies
    above their cursor), so there is nothing to revive and the insert is all.
    """
    if not fresh:
        revived = Assignment.objects.filter(
            campaign=campaign,
            exam_id=exam_id,
            reader=reader,
            status=Assignment.Status.EXPIRED,
        ).update(
            status=Assignment.Status.CLAIMED, claimed_at=now, lease_expires_at=lease
        )
        if revived:
            return Assignment.objects.get(
                campaign=campaign, exam_id=exam_id, reader=reader
            )
    return Assignment.objects.create(
        campaign=campaign,
        exam_id=exam_id,
        reader=reader,
        claimed_at=now,
        lease_expires_at=lease,
    )
