"""Reads: validating, submitting, editing and importing decisions."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    Exam,
    LabelRevision,
)
from annotator.services.adjudication import settle_exam
from annotator.services.claims import _take_slot
from annotator.services.errors import (
    Conflict,
    NotFound,
    PreconditionFailed,
)
from annotator.services.labels import clean_labels, clean_quality


@transaction.atomic
def submit_decision(
    *,
    assignment: Assignment,
    reader: AbstractBaseUser,
    labels: Iterable[str],
    quality: Iterable[str] = (),
    comment: str = "",
    duration_ms: int | None = None,
    source: str = "api",
    now: dt.datetime | None = None,
) -> Decision:
    """Record a reader's read of their claimed exam and settle the exam if complete."""
    now = now or timezone.now()
    assignment = (
        # of=self: locking the joined campaign row too would serialize every
        # submit and deadlock with the deferred foreign-key checks at commit.
        Assignment.objects.select_for_update(of=("self",))
        .select_related("campaign__taxonomy")
        .filter(pk=assignment.pk, reader=reader)
        .first()
    )
    if assignment is None:
        raise NotFound("No such assignment among yours.")
    campaign = assignment.campaign
    clean = clean_labels(campaign, labels)
    flags = clean_quality(quality)
    if assignment.status == Assignment.Status.SUBMITTED:
        raise Conflict(
            "This exam already has your decision; edit it with PUT "
            "/api/decisions/{id}/ and its version in If-Match."
        )
    if assignment.status == Assignment.Status.EXPIRED:
        # The lease ran out: the read still counts if the exam has room for it.
        links = CampaignExam.objects.filter(
            campaign=campaign, exam_id=assignment.exam_id
        )
        if not _take_slot(links, campaign.readers_per_exam):
            raise Conflict(
                "Your claim on this exam expired and it went to another reader; "
                "ask for the next exam."
            )
    decision = _record_submission(
        assignment, reader, clean, flags, comment, duration_ms, source, now
    )
    _count_read(campaign, assignment.exam_id)
    return decision


def _count_read(campaign: Campaign, exam_id: int) -> None:
    """One more submitted read of the exam; settle it if its reads are complete."""
    link = CampaignExam.objects.select_for_update().get(
        campaign=campaign, exam_id=exam_id
    )
    # The row lock holds the counter until commit, so it is counted here and
    # written in the same UPDATE as the consensus (no F() update and re-read).
    link.campaign = campaign  # the caller's instance, with its taxonomy loaded
    link.n_submitted += 1
    settle_exam(link, also_save=["n_submitted"], n_reads=link.n_submitted)


# The three writes of a submission in one statement on PostgreSQL: the claim
# becomes submitted, the decision is inserted and so is its first revision.
_SUBMIT_SQL = """
WITH submitted AS (
    UPDATE annotator_assignment SET status = %(submitted)s, submitted_at = %(now)s
    WHERE id = %(assignment)s
    RETURNING id
), decision AS (
    INSERT INTO annotator_decision
        (assignment_id, labels, quality, comment, duration_ms, version,
         created_at, updated_at)
    SELECT id, %(labels)s::jsonb, %(quality)s::jsonb, %(comment)s,
        %(duration_ms)s, 1, %(now)s, %(now)s
    FROM submitted
    RETURNING id
), revision AS (
    INSERT INTO annotator_labelrevision
        (kind, decision_id, campaign_id, exam_id, actor_id, version,
         new_labels, new_quality, note, source, created_at)
    SELECT %(kind)s, id, %(campaign)s, %(exam)s, %(actor)s, 1,
        %(labels)s::jsonb, %(quality)s::jsonb, %(comment)s, %(source)s, %(now)s
    FROM decision
)
SELECT id FROM decision
"""


def _record_submission(
    assignment: Assignment,
    reader: AbstractBaseUser,
    labels: list[str],
    quality: list[str],
    comment: str,
    duration_ms: int | None,
    source: str,
    now: dt.datetime,
) -> Decision:
    """Mark the claim submitted, store the decision and its version-1 revision.

    The caller holds the assignment's lock and has validated everything.
    """
    values = {
        "assignment": assignment,
        "labels": labels,
        "quality": quality,
        "comment": comment,
        "duration_ms": duration_ms,
        "created_at": now,
        "updated_at": now,
    }
    try:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    _SUBMIT_SQL,
                    {
                        "assignment": assignment.pk,
                        "submitted": Assignment.Status.SUBMITTED.value,
                        "now": now,
                        "labels": json.dumps(labels),
                        "quality": json.dumps(quality),
                        "comment": comment,
                        "duration_ms": duration_ms,
                        "kind": LabelRevision.Kind.DECISION.value,
                        "campaign": assignment.campaign_id,
                        "exam": assignment.exam_id,
                        "actor": reader.pk,
                        "source": source,
                    },
                )
                (decision_pk,) = cursor.fetchone()
            decision = Decision(pk=decision_pk, **values)
            decision._state.adding = False
            decision._state.db = connection.alias
            return decision
        Assignment.objects.filter(pk=assignment.pk).update(
            status=Assignment.Status.SUBMITTED, submitted_at=now
        )
        # No savepoint around the insert: a clash ends the whole submission,
        # which the surrounding atomic block rolls back anyway.
        decision = Decision.objects.create(**values)
    except IntegrityError:
        raise Conflict("This exam already has your decision.") from None
    LabelRevision.objects.create(
        kind=LabelRevision.Kind.DECISION,
        decision=decision,
        campaign_id=assignment.campaign_id,
        exam_id=assignment.exam_id,
        actor=reader,
        version=1,
        old_labels=None,
        new_labels=labels,
        old_quality=None,
        new_quality=quality,
        note=comment,
        source=source,
        created_at=now,
    )
    return decision


@transaction.atomic
def edit_decision(
    *,
    decision: Decision,
    reader: AbstractBaseUser,
    expected_version: int,
    labels: Iterable[str],
    quality: Iterable[str] = (),
    comment: str = "",
    duration_ms: int | None = None,
    source: str = "api",
) -> Decision:
    """Change a read; refused unless ``expected_version`` is the stored version."""
    decision = (
        Decision.objects.select_related("assignment__campaign__taxonomy")
        .filter(pk=decision.pk, assignment__reader=reader)
        .first()
    )
    if decision is None:
        raise NotFound("No such decision among yours.")
    assignment = decision.assignment
    campaign = assignment.campaign
    clean = clean_labels(campaign, labels)
    flags = clean_quality(quality)
    link = CampaignExam.objects.select_for_update().get(
        campaign=campaign, exam_id=assignment.exam_id
    )
    if link.consensus_state == CampaignExam.ConsensusState.ADJUDICATED:
        raise Conflict(
            "This exam has been adjudicated; its reads can no longer change."
        )
    now = timezone.now()
    updated = Decision.objects.filter(pk=decision.pk, version=expected_version).update(
        labels=clean,
        quality=flags,
        comment=comment,
        duration_ms=duration_ms if duration_ms is not None else decision.duration_ms,
        version=F("version") + 1,
        updated_at=now,
    )
    if not updated:
        raise PreconditionFailed(
            f"The decision changed since you loaded it (version {decision.version}, "
            f"you sent {expected_version}); reload it and apply your edit again."
        )
    LabelRevision.objects.create(
        kind=LabelRevision.Kind.DECISION,
        decision=decision,
        campaign=campaign,
        exam_id=assignment.exam_id,
        actor=reader,
        version=expected_version + 1,
        old_labels=decision.labels,
        new_labels=clean,
        old_quality=decision.quality,
        new_quality=flags,
        note=comment,
        source=source,
        created_at=now,
    )
    decision.refresh_from_db()
    settle_exam(link)
    return decision


@transaction.atomic
def record_reading(
    *,
    campaign: Campaign,
    exam: Exam,
    reader: AbstractBaseUser,
    labels: Iterable[str],
    quality: Iterable[str] = (),
    comment: str = "",
    source: str = "import",
) -> Decision | None:
    """Store a read made outside this tool (``import_readings``) as a submitted one.

    Returns None when the reader already has the same read of the exam (a
    re-import); a different existing read is a Conflict, never overwritten.
    """
    clean = clean_labels(campaign, labels)
    flags = clean_quality(quality)
    existing = (
        Decision.objects.filter(
            assignment__campaign=campaign,
            assignment__exam=exam,
            assignment__reader=reader,
        )
        .only("labels")
        .first()
    )
    if existing is not None:
        if existing.labels == clean:
            return None
        raise Conflict(
            f"{reader.get_username()} already has a different read of this exam "
            f"({', '.join(existing.labels) or 'no labels'}); it was not changed."
        )
    links = CampaignExam.objects.filter(campaign=campaign, exam=exam)
    if not _take_slot(links, campaign.readers_per_exam):
        raise Conflict(
            f"The exam already has {campaign.readers_per_exam} readers, the campaign's "
            "readers per exam."
        )
    now = timezone.now()
    assignment, _ = Assignment.objects.update_or_create(
        campaign=campaign,
        exam=exam,
        reader=reader,
        defaults={"claimed_at": now, "lease_expires_at": None},
    )
    decision = _record_submission(
        assignment, reader, clean, flags, comment, None, source, now
    )
    _count_read(campaign, exam.pk)
    return decision
