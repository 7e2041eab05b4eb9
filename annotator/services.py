"""Every write that spans models: campaigns, claims, decisions, adjudications.

Views and commands call these; nothing else saves a Decision, Assignment,
Adjudication or CampaignExam. Each function is atomic, and the invariants that
matter under concurrency (overlap, one read per reader, versions) are enforced
by conditional UPDATEs and database constraints, not by reading then writing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from annotator import consensus
from annotator.models import (
    Adjudication,
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    Exam,
    LabelRevision,
    TaxonomyVersion,
)
from annotator.roles import has_role

CLAIM_CANDIDATES = 8  # open exams tried per claim before concluding none is left
CREATE_BATCH = 5000


class WorkflowError(Exception):
    """A request the workflow refuses; the message tells a person what to do."""

    status = 400


class NotFound(WorkflowError):
    status = 404


class Conflict(WorkflowError):
    status = 409


class PreconditionFailed(WorkflowError):
    status = 412


class InvalidLabels(WorkflowError):
    status = 400


# --- Campaigns -------------------------------------------------------------------


@transaction.atomic
def create_campaign(
    *,
    name: str,
    taxonomy: TaxonomyVersion,
    exams: Iterable[Exam] | Any,
    readers: Sequence[AbstractBaseUser],
    adjudicators: Sequence[AbstractBaseUser] = (),
    readers_per_exam: int = 2,
    created_by: AbstractBaseUser | None = None,
    **options: Any,
) -> Campaign:
    """Create a campaign over ``exams`` (a queryset or a list) and freeze its taxonomy.

    ``options`` are further Campaign fields (blinding, adjudication policy,
    majority vote, lease minutes, description).
    """
    if readers_per_exam < 1:
        raise WorkflowError("readers_per_exam must be at least 1.")
    if len(readers) < readers_per_exam:
        raise WorkflowError(
            f"{readers_per_exam} readers per exam needs at least that many readers "
            f"in the pool; {len(readers)} given."
        )
    overlap = set(u.pk for u in readers) & set(u.pk for u in adjudicators)
    if overlap:
        raise WorkflowError("An adjudicator cannot also read in the same campaign.")
    codes = set(taxonomy.codes())
    unknown = sorted(set(options.get("adjudication_codes") or []) - codes)
    if unknown:
        raise InvalidLabels(
            f"Unknown class codes for adjudication: {', '.join(unknown)}."
        )
    campaign = Campaign.objects.create(
        name=name,
        taxonomy=taxonomy,
        readers_per_exam=readers_per_exam,
        created_by=created_by,
        lease_minutes=options.pop("lease_minutes", None) or _default_lease(),
        **options,
    )
    campaign.readers.set(readers)
    campaign.adjudicators.set(adjudicators)
    add_exams(campaign=campaign, exams=exams)
    return campaign


@transaction.atomic
def add_exams(*, campaign: Campaign, exams: Iterable[Exam] | Any) -> int:
    """Add exams (a queryset or a list) to a campaign; ones already in it are kept.

    Also freezes the campaign's taxonomy, since labels will now refer to it.
    Returns how many exams were added.
    """
    exam_ids = (
        exams.values_list("pk", flat=True).iterator(chunk_size=CREATE_BATCH)
        if hasattr(exams, "values_list")
        else (e.pk for e in exams)
    )
    before = campaign.exam_links.count()
    batch: list[CampaignExam] = []
    for exam_id in exam_ids:
        batch.append(CampaignExam(campaign=campaign, exam_id=exam_id))
        if len(batch) >= CREATE_BATCH:
            CampaignExam.objects.bulk_create(batch, ignore_conflicts=True)
            batch.clear()
    CampaignExam.objects.bulk_create(batch, ignore_conflicts=True)
    campaign.taxonomy.freeze()
    return campaign.exam_links.count() - before


def _default_lease() -> int:
    from django.conf import settings

    return settings.ANNOTATOR_LEASE_MINUTES


# --- Claiming --------------------------------------------------------------------


# Leases run out rarely, but every claim looks: a plain statement on the
# (status, lease_expires_at) index, without the ORM's per-query compilation.
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


# --- Decisions -------------------------------------------------------------------


def clean_labels(campaign: Campaign, labels: Iterable[str]) -> list[str]:
    """Validate codes against the campaign's taxonomy; taxonomy order, no repeats."""
    order = {code: i for i, code in enumerate(campaign.taxonomy.codes())}
    given = set(labels)
    unknown = sorted(c for c in given if c not in order)
    chosen = sorted((c for c in given if c in order), key=order.__getitem__)
    if unknown:
        raise InvalidLabels(
            f"Unknown class code(s) for taxonomy {campaign.taxonomy}: "
            f"{', '.join(unknown)}."
        )
    for group, members in campaign.taxonomy.exclusive_groups().items():
        clash = [c for c in chosen if c in members]
        if len(clash) > 1:
            raise InvalidLabels(
                f"{' and '.join(clash)} are mutually exclusive ({group}); choose one."
            )
    return chosen


def clean_quality(quality: Iterable[str]) -> list[str]:
    flags = sorted(set(quality))
    unknown = [q for q in flags if q not in Decision.Quality.values]
    if unknown:
        raise InvalidLabels(
            f"Unknown quality flag(s): {', '.join(unknown)}; "
            f"use {', '.join(Decision.Quality.values)}."
        )
    return flags


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


# --- Consensus and adjudication --------------------------------------------------


def settle_exam(
    link: CampaignExam,
    *,
    also_save: Sequence[str] = (),
    n_reads: int | None = None,
) -> None:
    """Recompute an exam's consensus state from its reads (call inside a transaction).

    Pending until the overlap is read; then unanimous, settled by majority or
    by policy, or queued for adjudication with the disagreeing classes. An
    adjudicated exam keeps its adjudication. ``also_save`` names fields the
    caller changed on ``link``, written in the same UPDATE. ``n_reads`` is the
    number of submitted reads when the caller knows it exactly (it holds the
    link's lock and keeps its counter): below the overlap the reads are not
    loaded, since the exam is pending whatever they say.
    """
    fields = ["consensus_state", "consensus_labels", "disagreeing_classes"]
    if link.consensus_state == CampaignExam.ConsensusState.ADJUDICATED:
        if also_save:
            link.save(update_fields=list(also_save))
        return
    before = [getattr(link, name) for name in fields]
    campaign = link.campaign
    reads: list[list[str]] = []
    if n_reads is None or n_reads >= campaign.readers_per_exam:
        reads = list(
            Decision.objects.filter(
                assignment__campaign=campaign,
                assignment__exam_id=link.exam_id,
                assignment__status=Assignment.Status.SUBMITTED,
            ).values_list("labels", flat=True)
        )
    state = CampaignExam.ConsensusState
    if len(reads) < campaign.readers_per_exam:
        link.consensus_state, link.consensus_labels = state.PENDING, None
        link.disagreeing_classes = []
    else:
        codes = campaign.taxonomy.codes()
        policy_codes = (
            campaign.adjudication_codes
            if campaign.adjudication_policy == Campaign.AdjudicationPolicy.CLASSES
            else None
        )
        outcome = consensus.settle_reads(
            reads, codes, majority=campaign.majority_vote, adjudicate_only=policy_codes
        )
        link.consensus_state = outcome.method
        link.consensus_labels = outcome.labels
        link.disagreeing_classes = outcome.disagreeing
    # Unchanged values are not written again (a first read leaves it pending).
    changed = [
        name
        for name, old in zip(fields, before, strict=True)
        if getattr(link, name) != old
    ]
    if also_save or changed:
        link.save(update_fields=[*also_save, *changed])


@transaction.atomic
def adjudicate(
    *,
    campaign: Campaign,
    exam: Exam,
    adjudicator: AbstractBaseUser,
    labels: Iterable[str],
    note: str = "",
    source: str = "api",
) -> Adjudication:
    """Record the final labels of a disagreeing exam (again to revise them)."""
    if not (
        campaign.adjudicators.filter(pk=adjudicator.pk).exists()
        or has_role(adjudicator, "manager")
    ):
        raise NotFound("No such campaign among the ones you adjudicate.")
    link = (
        CampaignExam.objects.select_for_update()
        .filter(campaign=campaign, exam=exam)
        .first()
    )
    if link is None:
        raise NotFound("No such exam in this campaign.")
    state = CampaignExam.ConsensusState
    if link.consensus_state not in {state.NEEDS_ADJUDICATION, state.ADJUDICATED}:
        raise Conflict(
            f"This exam does not need adjudication (its state is "
            f"{link.get_consensus_state_display().lower()})."
        )
    clean = clean_labels(campaign, labels)
    now = timezone.now()
    existing = (
        Adjudication.objects.select_for_update()
        .filter(campaign=campaign, exam=exam)
        .first()
    )
    if existing is None:
        adjudication = Adjudication.objects.create(
            campaign=campaign,
            exam=exam,
            adjudicator=adjudicator,
            labels=clean,
            note=note,
            created_at=now,
            updated_at=now,
        )
        old_labels = None
    else:
        old_labels = existing.labels
        Adjudication.objects.filter(pk=existing.pk).update(
            adjudicator=adjudicator,
            labels=clean,
            note=note,
            version=F("version") + 1,
            updated_at=now,
        )
        adjudication = Adjudication.objects.get(pk=existing.pk)
    LabelRevision.objects.create(
        kind=LabelRevision.Kind.ADJUDICATION,
        adjudication=adjudication,
        campaign=campaign,
        exam=exam,
        actor=adjudicator,
        version=adjudication.version,
        old_labels=old_labels,
        new_labels=clean,
        note=note,
        source=source,
        created_at=now,
    )
    link.consensus_state = state.ADJUDICATED
    link.consensus_labels = clean
    link.save(update_fields=["consensus_state", "consensus_labels"])
    return adjudication
