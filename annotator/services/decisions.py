"""Reads: submitting, editing and importing decisions.

A submission takes its locks in the order of ``claims``: the reader's row,
their assignment, the exam's link, the campaign row (counters) last.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Unpack

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    Exam,
    LabelRevision,
)
from annotator.services import sql
from annotator.services.adjudication import settle_exam
from annotator.services.errors import (
    AlreadySubmitted,
    Conflict,
    NotFound,
    PreconditionFailed,
)
from annotator.services.labels import ReadInput, clean_read
from annotator.services.locks import for_update, lock_reader
from annotator.services.progress import Tally


@transaction.atomic
def submit_decision(
    *,
    assignment: Assignment,
    reader: AbstractBaseUser,
    source: str = "api",
    now: dt.datetime | None = None,
    **read: Unpack[ReadInput],
) -> Decision:
    """Record a reader's read of their claimed exam and settle the exam if complete."""
    now = now or timezone.now()
    # The reader's row first (through the assignment's campaign), as a claim
    # does; a reader no longer in the campaign has no assignment to submit.
    member_id = sql.lock_member_of_claim(assignment.pk, reader.pk)
    assignment = (
        for_update(
            Assignment.objects.filter(pk=assignment.pk, reader_id=reader.pk),
            of=("self",),
        )
        .select_related("campaign__taxonomy", "exam")
        .first()
    )
    if member_id is None or assignment is None:
        raise NotFound("No such assignment among yours.")
    campaign = assignment.campaign
    values = clean_read(campaign, assignment.exam, read)
    values["fast"] = campaign.is_fast_read(values["duration_ms"])
    tally = Tally()
    if assignment.status == Assignment.Status.SUBMITTED:
        raise AlreadySubmitted(
            "This exam already has your read (submitted in another tab or window)."
        )
    if assignment.status == Assignment.Status.EXPIRED and assignment.is_check:
        pass  # a check holds no slot of the exam: the late read is kept
    elif assignment.status == Assignment.Status.EXPIRED:
        # The lease ran out: the read still counts if the exam has room for it.
        if not sql.take_slot(
            campaign.pk, assignment.exam_id, campaign.readers_per_exam
        ):
            raise Conflict(
                "Your claim on this exam expired and it went to another reader; "
                "ask for the next exam."
            )
    else:
        tally["n_claims_open"] -= 1
    decision = _record_submission(assignment, reader, values, source, now)
    if assignment.is_check:
        tally["n_reads_submitted"] += 1  # counted as any read; the link is not
    else:
        _count_read(campaign, assignment.exam_id, tally)
    sql.update_member(member_id, submitted=1)
    tally.flush(campaign.pk)
    return decision


def _count_read(campaign: Campaign, exam_id: int, tally: Tally) -> None:
    """One more submitted read of the exam; settle it if its reads are complete."""
    link = sql.lock_link(campaign.pk, exam_id)
    if link.consensus_state == CampaignExam.ConsensusState.CALIBRATION:
        raise Conflict(
            _(
                "This is a calibration exam: it is scored against its reference "
                "and takes no reads for the consensus."
            )
        )
    # The row lock holds the counter until commit, so it is counted here and
    # written in the same UPDATE as the consensus (no F() update and re-read).
    link.campaign = campaign  # the caller's instance, with its taxonomy loaded
    link.n_submitted += 1
    tally["n_reads_submitted"] += 1
    settle_exam(link, tally, also_save=["n_submitted"], n_reads=link.n_submitted)


def _record_submission(
    assignment: Assignment,
    reader: AbstractBaseUser,
    values: dict[str, Any],
    source: str,
    now: dt.datetime,
) -> Decision:
    """Mark the claim submitted, store the decision and its version-1 revision.

    The caller holds the assignment's lock and has validated ``values``.
    """
    sql.mark_submitted(assignment.pk, now)
    try:
        # No savepoint around the insert: a clash ends the whole submission,
        # which the surrounding atomic block rolls back anyway.
        decision = Decision.objects.create(
            assignment=assignment,
            reader_id=reader.pk,
            created_at=now,
            updated_at=now,
            **values,
        )
    except IntegrityError:
        raise Conflict("This exam already has your decision.") from None
    _revise(decision, reader, None, values, source, now)
    return decision


def _revise(
    decision: Decision,
    reader: AbstractBaseUser,
    before: Decision | None,
    values: dict[str, Any],
    source: str,
    now: dt.datetime,
) -> None:
    """The history entry of a read's new version (``before``: the old one)."""
    LabelRevision.objects.record(
        of=decision,
        actor=reader,
        version=before.version + 1 if before else 1,
        old_labels=before.labels if before else None,
        new_labels=values["labels"],
        old_quality=before.quality if before else None,
        new_quality=values["quality"],
        fast=values.get("fast", False),
        measurements=values["measurements"],
        evidence=values["evidence"],
        note=values["comment"],
        source=source,
        created_at=now,
    )


READS_COMPLETE = (
    "Every read of this exam is in and it has been settled; "
    "your read can no longer change."
)


def _stale(decision: Decision, expected_version: int) -> PreconditionFailed:
    return PreconditionFailed(
        f"The decision changed since you loaded it (version {decision.version}, "
        f"you sent {expected_version}); reload it and apply your edit again."
    )


@transaction.atomic
def edit_decision(
    *,
    decision: Decision,
    reader: AbstractBaseUser,
    expected_version: int,
    source: str = "api",
    **read: Unpack[ReadInput],
) -> Decision:
    """Change a read; refused unless ``expected_version`` is the stored version.

    The answer never depends on what other readers read: the version is
    checked first, then ``CampaignExam.locks_reads`` refuses with one message
    whatever the consensus.
    """
    decision = (
        Decision.objects.select_related(
            "assignment__campaign__taxonomy", "assignment__exam"
        )
        .filter(pk=decision.pk, reader_id=reader.pk)
        .first()
    )
    if decision is None:
        raise NotFound("No such decision among yours.")
    if decision.version != expected_version:
        raise _stale(decision, expected_version)
    assignment = decision.assignment
    campaign = assignment.campaign
    values = clean_read(campaign, assignment.exam, read)
    if values["duration_ms"] is None:
        values["duration_ms"] = decision.duration_ms  # an edit keeps the time
    link = None
    if not assignment.is_check:  # a check read feeds no consensus: never locked
        link = sql.lock_link(campaign.pk, assignment.exam_id)
        link.campaign = campaign
        if link.locks_reads(campaign.readers_per_exam):
            raise Conflict(READS_COMPLETE)
    now = timezone.now()
    updated = Decision.objects.filter(pk=decision.pk, version=expected_version).update(
        version=F("version") + 1, updated_at=now, **values
    )
    if not updated:  # another edit won the race since it was loaded
        decision.refresh_from_db(fields=["version"])
        raise _stale(decision, expected_version)
    _revise(decision, reader, decision, values, source, now)
    decision.refresh_from_db()
    if link is not None:
        tally = Tally()
        settle_exam(link, tally)
        tally.flush(campaign.pk)
    return decision


@transaction.atomic
def record_reading(
    *,
    campaign: Campaign,
    exam: Exam,
    reader: AbstractBaseUser,
    source: str = "import",
    **read: Unpack[ReadInput],
) -> Decision | None:
    """Store a read made outside this tool (``import_readings``) as a submitted one.

    Returns None when the reader already has the same read of the exam (a
    re-import); a different existing read is a Conflict, never overwritten.
    The reader must be one of the campaign's readers.
    """
    member = lock_reader(campaign, reader)
    values = clean_read(campaign, exam, read)
    existing = (
        Decision.objects.filter(
            assignment__campaign=campaign,
            assignment__exam=exam,
            assignment__kind=Assignment.Kind.READ,
            reader_id=reader.pk,
        )
        .only("labels")
        .first()
    )
    if existing is not None:
        if existing.labels == values["labels"]:
            return None
        raise Conflict(
            f"{reader.get_username()} already has a different read of this exam "
            f"({', '.join(existing.labels) or 'no labels'}); it was not changed."
        )
    tally = Tally()
    held = Assignment.objects.filter(
        campaign=campaign,
        exam=exam,
        reader_id=reader.pk,
        kind=Assignment.Kind.READ,
        status=Assignment.Status.CLAIMED,
    ).exists()
    if held:
        tally["n_claims_open"] -= 1  # the open claim becomes this read
    elif not sql.take_slot(campaign.pk, exam.pk, campaign.readers_per_exam):
        raise Conflict(
            f"The exam already has {campaign.readers_per_exam} readers, the campaign's "
            "readers per exam."
        )
    now = timezone.now()
    assignment, _ = Assignment.objects.update_or_create(
        campaign=campaign,
        exam=exam,
        reader_id=reader.pk,
        kind=Assignment.Kind.READ,
        defaults={"claimed_at": now, "lease_expires_at": None},
    )
    decision = _record_submission(assignment, reader, values, source, now)
    _count_read(campaign, exam.pk, tally)
    sql.update_member(member.pk, submitted=1, cursor=exam.pk)
    tally.flush(campaign.pk)
    return decision
