"""Claiming: a reader's next exam, leases and their expiry.

One ORM path on every database. The invariants hold under concurrency by
construction: a claim counts a reader on an exam only through a conditional
UPDATE of its counter (``n_assigned < overlap``), the unique (campaign, exam,
reader) constraint forbids a second claim of one exam by one reader, and a
reader's claims are serialised on their ``CampaignReader`` row.

Locks are always taken in the same order — the reader's row, then
assignments, then campaign-exam links, then the campaign row last (its
counters) — and every lock on a row that foreign keys point at is
``FOR NO KEY UPDATE``, which does not block the ``KEY SHARE`` checks that
PostgreSQL runs for those keys at commit. That is what keeps concurrent
sessions of one reader (tabs, scripts) from deadlocking.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from annotator.models import Assignment, Campaign, CampaignExam, CampaignReader
from annotator.services.locks import for_update, lock_reader, skip_locked
from annotator.services.progress import Tally

CLAIM_CANDIDATES = 8  # open exams tried per claim before concluding none is left
STALE_BATCH = 500  # expired leases released per claim, at most


def expire_leases(*, campaign: Campaign, now: dt.datetime | None = None) -> int:
    """Return abandoned claims to the queue; returns how many were released.

    A claim whose lease has run out is marked expired and its exam's counter
    goes down, so another reader (or the same one) can take it.
    """
    with transaction.atomic():
        tally = Tally()
        released = _expire_leases(campaign, now or timezone.now(), tally)
        tally.flush(campaign.pk)
    return released


def _expire_leases(campaign: Campaign, now: dt.datetime, tally: Tally) -> int:
    """Release the campaign's claims whose lease ran out (inside a transaction).

    Claims locked by a submission in progress are skipped: that submission
    decides their fate, and waiting for it could close a cycle of locks.
    """
    stale = list(
        for_update(
            Assignment.objects.filter(
                campaign=campaign,
                status=Assignment.Status.CLAIMED,
                lease_expires_at__lte=now,
            ).order_by("id"),
            **skip_locked(),
        ).values_list("pk", "exam_id")[:STALE_BATCH]
    )
    released = 0
    for pk, exam_id in stale:
        # The status filter makes a release happen once, whoever gets here first.
        if Assignment.objects.filter(
            pk=pk, status=Assignment.Status.CLAIMED, lease_expires_at__lte=now
        ).update(status=Assignment.Status.EXPIRED):
            CampaignExam.objects.filter(campaign=campaign, exam_id=exam_id).update(
                n_assigned=F("n_assigned") - 1, is_open=True
            )
            released += 1
    tally["n_claims_open"] -= released
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
    Concurrent sessions of one reader may be handed the same unfinished claim;
    the second submission of it is refused (409).
    """
    now = now or timezone.now()
    lease = now + dt.timedelta(minutes=campaign.lease_minutes)
    with transaction.atomic():
        member = lock_reader(campaign, reader)
        tally = Tally()
        _expire_leases(campaign, now, tally)
        assignment = _renew_current(campaign, reader, lease, after)
        if assignment is None:
            assignment = _claim_new(campaign, reader, member, now, lease, tally)
        tally.flush(campaign.pk)
        return assignment


def _renew_current(
    campaign: Campaign, reader: AbstractBaseUser, lease: dt.datetime, after: int | None
) -> Assignment | None:
    """The reader's oldest unfinished claim (other than ``after``), lease renewed."""
    current = (
        Assignment.objects.filter(
            campaign=campaign, reader_id=reader.pk, status=Assignment.Status.CLAIMED
        )
        .exclude(pk=after or 0)
        .order_by("claimed_at", "id")
        .first()
    )
    if current is None:
        return None
    # Conditional, so a claim submitted a moment ago is not handed out again
    # as if it were open; the reader's lock makes that rare.
    if not Assignment.objects.filter(
        pk=current.pk, status=Assignment.Status.CLAIMED
    ).update(lease_expires_at=lease):
        return _renew_current(campaign, reader, lease, after)
    current.lease_expires_at = lease
    return current


def _claim_new(
    campaign: Campaign,
    reader: AbstractBaseUser,
    member: CampaignReader,
    now: dt.datetime,
    lease: dt.datetime,
    tally: Tally,
) -> Assignment | None:
    """Claim an open exam: after the reader's cursor first, then from the start.

    Readers walk the campaign in exam order; their cursor (the highest exam
    they hold any assignment of) skips what they read. Exams before it may
    have reopened when a lease expired.
    """
    cursor = member.cursor
    assignment = _claim_from(campaign, reader, now, lease, after=cursor, cursor=cursor)
    if assignment is None and cursor:
        assignment = _claim_from(campaign, reader, now, lease, after=0, cursor=cursor)
    if assignment is None:
        return None
    tally["n_claims_open"] += 1
    if assignment.exam_id > cursor:
        CampaignReader.objects.filter(pk=member.pk).update(cursor=assignment.exam_id)
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

    Candidates come from the partial index of open exams, locked with
    ``SKIP LOCKED`` where the database has it so concurrent readers do not
    queue behind one another's rows; the conditional counter UPDATE decides.
    """
    overlap = campaign.readers_per_exam
    # Only the reader's exams the candidates can reach: the subquery stays a
    # few rows however many exams the reader has read.
    mine = (
        Assignment.objects.filter(
            campaign=campaign, reader_id=reader.pk, exam_id__gt=after
        )
        .holding()
        .values("exam_id")
    )
    while True:
        candidates = for_update(
            CampaignExam.objects.filter(
                campaign=campaign, is_open=True, exam_id__gt=after
            )
            .exclude(exam_id__in=mine)
            .order_by("exam_id"),
            of=("self",),
            **skip_locked(),
        )
        batch = list(candidates.values_list("pk", "exam_id")[:CLAIM_CANDIDATES])
        if not batch:
            return None
        for link_pk, exam_id in batch:
            if take_slot(CampaignExam.objects.filter(pk=link_pk), overlap):
                return _assign(
                    campaign, reader, exam_id, now, lease, fresh=exam_id > cursor
                )
        after = batch[-1][1]


def take_slot(links: Any, overlap: int) -> bool:
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
            reader_id=reader.pk,
            status=Assignment.Status.EXPIRED,
        ).update(
            status=Assignment.Status.CLAIMED, claimed_at=now, lease_expires_at=lease
        )
        if revived:
            return Assignment.objects.get(
                campaign=campaign, exam_id=exam_id, reader_id=reader.pk
            )
    return Assignment.objects.create(
        campaign=campaign,
        exam_id=exam_id,
        reader_id=reader.pk,
        claimed_at=now,
        lease_expires_at=lease,
    )


def release_claims(*, campaign: Campaign, reader: Any, tally: Tally) -> int:
    """Return a reader's unfinished claims to the queue (they leave the campaign)."""
    claims = list(
        for_update(
            Assignment.objects.filter(
                campaign=campaign, reader_id=reader.pk, status=Assignment.Status.CLAIMED
            )
        ).values_list("pk", "exam_id")
    )
    for pk, exam_id in claims:
        Assignment.objects.filter(pk=pk).update(status=Assignment.Status.EXPIRED)
        CampaignExam.objects.filter(campaign=campaign, exam_id=exam_id).update(
            n_assigned=F("n_assigned") - 1, is_open=True
        )
    tally["n_claims_open"] -= len(claims)
    return len(claims)
