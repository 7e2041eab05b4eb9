"""Claiming: a reader's next exam, leases and their expiry.

One path on every database, its statements in ``services/sql.py``. The
invariants hold under concurrency by construction: a claim counts a reader on
an exam only through a conditional UPDATE of its counter (``n_assigned <
overlap``), the unique (campaign, exam, reader) constraint forbids a second
claim of one exam by one reader, and a reader's claims are serialised on
their ``CampaignReader`` row.

Locks are always taken in the same order — the reader's row, then
assignments, then campaign-exam links (in exam order, and a claim keeps a
lock only on the exams it takes or releases), then the campaign row last
(its counters) — and every lock on a row that foreign keys point at is
``FOR NO KEY UPDATE``, which does not block the ``KEY SHARE`` checks that
PostgreSQL runs for those keys at commit. That is what keeps concurrent
sessions of one reader (tabs, scripts) from deadlocking.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _lazy

from annotator.models import Assignment, Campaign, CampaignExam, CampaignReader
from annotator.services import checks, sql
from annotator.services.errors import Conflict
from annotator.services.locks import for_update, lock_reader
from annotator.services.progress import Tally

CLAIM_CANDIDATES = 8  # open exams read per query while waiting for held ones
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
    stale = sql.stale_claims(campaign.pk, now, STALE_BATCH)
    released = 0
    # Their exams' rows are updated in exam order, the order claims walk them.
    for pk, exam_id, kind in sorted(stale, key=lambda row: row[1]):
        # The status filter makes a release happen once, whoever gets here first.
        if Assignment.objects.filter(
            pk=pk, status=Assignment.Status.CLAIMED, lease_expires_at__lte=now
        ).update(status=Assignment.Status.EXPIRED):
            if kind == Assignment.Kind.READ:
                _free_slot(campaign, exam_id)
            released += 1
    tally["n_claims_open"] -= released
    return released


def _free_slot(campaign: Campaign, exam_id: int) -> None:
    """A read's claim of the exam is gone: one more reader may take it."""
    CampaignExam.objects.filter(campaign=campaign, exam_id=exam_id).update(
        n_assigned=F("n_assigned") - 1, is_open=True
    )


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
    try:
        return _claim(campaign, reader, now, lease, after, waiting=False)
    except _NothingFree:
        # Every open exam is held by a claim or a submission in flight. The
        # attempt is rolled back whole, which also drops the locks its search
        # kept on rows it found filled meanwhile, and the claim starts again,
        # this time waiting for the held exams.
        return _claim(campaign, reader, now, lease, after, waiting=True)


# Why a campaign that is not open hands out no new exam, as its readers are told.
_NOT_OPEN = {
    Campaign.Status.DRAFT: _lazy(
        "This campaign is not open yet: its manager opens it when the study starts."
    ),
    Campaign.Status.PAUSED: _lazy(
        "This campaign is paused: no new exam is handed out until its manager "
        "resumes it. Your reads are kept."
    ),
    Campaign.Status.CLOSED: _lazy(
        "This campaign is closed: it hands out no more exams. Your reads are kept."
    ),
}


class _NothingFree(Exception):
    """No open exam is free; the claim must wait for those that are held."""


def _claim(
    campaign: Campaign,
    reader: AbstractBaseUser,
    now: dt.datetime,
    lease: dt.datetime,
    after: int | None,
    *,
    waiting: bool,
) -> Assignment | None:
    with transaction.atomic():
        member = lock_reader(campaign, reader)
        tally = Tally()
        _expire_leases(campaign, now, tally)
        # The oldest unfinished claim (not the one being read), lease renewed.
        assignment = sql.renew_oldest_claim(
            campaign.pk, reader.pk, lease, besides=after or 0
        )
        if assignment is None and campaign.status != Campaign.Status.OPEN:
            raise Conflict(_NOT_OPEN[campaign.status])
        if assignment is None:
            # The reader's next read, counting the one being read (``after``).
            position = member.n_submitted + (1 if after else 0)
            assignment = checks.claim_check(campaign, reader, position, now, lease)
            if assignment is not None:
                tally["n_claims_open"] += 1
            else:
                assignment = _claim_new(
                    campaign, reader, member, now, lease, tally, waiting=waiting
                )
        tally.flush(campaign.pk)
        return assignment


def _claim_new(
    campaign: Campaign,
    reader: AbstractBaseUser,
    member: CampaignReader,
    now: dt.datetime,
    lease: dt.datetime,
    tally: Tally,
    *,
    waiting: bool,
) -> Assignment | None:
    """Claim an open exam: after the reader's cursor first, then from the start.

    Readers walk the campaign in exam order; their cursor (the highest exam
    they hold any assignment of) skips what they read. Exams before it may
    have reopened when a lease expired. Without ``waiting`` only exams no
    other transaction holds are taken, and finding none where the database
    can tell free from held raises _NothingFree.
    """
    cursor = member.cursor
    assignment = _claim_from(
        campaign, reader, now, lease, after=cursor, cursor=cursor, waiting=waiting
    )
    if assignment is None and cursor:
        assignment = _claim_from(
            campaign, reader, now, lease, after=0, cursor=cursor, waiting=waiting
        )
    if assignment is None and not waiting and sql.skips_locked_rows():
        raise _NothingFree
    if assignment is None:
        return None
    tally["n_claims_open"] += 1
    if assignment.exam_id > cursor:
        sql.update_member(member.pk, cursor=assignment.exam_id)
    return assignment


def _claim_from(
    campaign: Campaign,
    reader: AbstractBaseUser,
    now: dt.datetime,
    lease: dt.datetime,
    *,
    after: int,
    cursor: int,
    waiting: bool,
) -> Assignment | None:
    """Claim the first open exam after ``after`` that the reader does not hold:
    one that no other transaction holds, or, ``waiting``, the first that
    still has room once its holder is done."""
    overlap = campaign.readers_per_exam
    take = _take_held if waiting else _take_free
    exam_id = take(campaign.pk, reader.pk, after, overlap)
    if exam_id is None:
        return None
    return _assign(campaign, reader, exam_id, now, lease, fresh=exam_id > cursor)


def _take_free(
    campaign_id: int, reader_id: Any, after: int, overlap: int
) -> int | None:
    """A slot on the first open exam that no other transaction has locked
    (``SKIP LOCKED``, from the partial index of open exams), so concurrent
    readers do not queue behind one another's rows; its id, or None. Without
    row locks (SQLite) candidates come in batches and the counter UPDATE
    decides.

    A locking read keeps the rows it locked and then found filled meanwhile;
    a claim that goes on to wait must hold none of them (two waiting claims
    that each kept such rows waited for each other), which is why finding
    nothing ends the attempt (_NothingFree) rather than waiting in it.
    """
    limit = 1 if sql.skips_locked_rows() else CLAIM_CANDIDATES
    while True:
        batch = sql.open_exams(campaign_id, reader_id, after=after, limit=limit)
        if not batch:
            return None
        for _link, exam_id in batch:
            if sql.take_slot(campaign_id, exam_id, overlap):
                return exam_id
        after = batch[-1][1]


def _take_held(
    campaign_id: int, reader_id: Any, after: int, overlap: int
) -> int | None:
    """Wait for the open exams that other transactions hold, in exam order, and
    take a slot on the first that still has room; its id, or None.

    Candidates are read without a lock; the counter UPDATE waits for each.
    PostgreSQL locks a row it waited for before rechecking it, so each attempt
    runs in a savepoint, rolled back when the exam filled meanwhile: the claim
    keeps a lock only on the exam it takes.
    """
    while True:
        batch = sql.open_exams(
            campaign_id, reader_id, after=after, limit=CLAIM_CANDIDATES, lock=False
        )
        if not batch:
            return None
        for _link, exam_id in batch:
            savepoint = transaction.savepoint_create()
            if sql.take_slot(campaign_id, exam_id, overlap):
                transaction.savepoint_commit(savepoint)
                return exam_id
            transaction.savepoint_rollback(savepoint)
        after = batch[-1][1]


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
            kind=Assignment.Kind.READ,
            status=Assignment.Status.EXPIRED,
        ).update(
            status=Assignment.Status.CLAIMED, claimed_at=now, lease_expires_at=lease
        )
        if revived:
            return Assignment.objects.get(
                campaign=campaign,
                exam_id=exam_id,
                reader_id=reader.pk,
                kind=Assignment.Kind.READ,
            )
    return sql.insert_claim(campaign.pk, exam_id, reader.pk, now, lease)


def release_claims(*, campaign: Campaign, reader: Any, tally: Tally) -> int:
    """Return a reader's unfinished claims to the queue (they leave the campaign)."""
    claims = list(
        for_update(
            Assignment.objects.filter(
                campaign=campaign, reader_id=reader.pk, status=Assignment.Status.CLAIMED
            )
        ).values_list("pk", "exam_id", "kind")
    )
    for pk, exam_id, kind in claims:
        Assignment.objects.filter(pk=pk).update(status=Assignment.Status.EXPIRED)
        if kind == Assignment.Kind.READ:
            _free_slot(campaign, exam_id)
    tally["n_claims_open"] -= len(claims)
    return len(claims)
