"""Consensus of an exam's reads and the adjudication of disagreements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
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
)
from annotator.services.errors import Conflict, NotFound
from annotator.services.labels import clean_labels
from annotator.services.locks import for_update
from annotator.services.progress import Tally

_NOT_SETTLED_BY_READS = frozenset(
    {CampaignExam.ConsensusState.ADJUDICATED, CampaignExam.ConsensusState.CALIBRATION}
)


def settle_exam(
    link: CampaignExam,
    tally: Tally,
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
    loaded, since the exam is pending whatever they say. A change of state is
    added to ``tally``, which the caller writes to the campaign's counters.
    """
    fields = ["consensus_state", "consensus_labels", "disagreeing_classes"]
    # An adjudicated exam keeps its adjudication; a calibration exam has none.
    if link.consensus_state in _NOT_SETTLED_BY_READS:
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
                assignment__kind=Assignment.Kind.READ,
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
    tally.move(before[0], link.consensus_state)


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
    if not campaign.is_adjudicated_by(adjudicator):
        raise NotFound("No such campaign among the ones you adjudicate.")
    link = for_update(CampaignExam.objects.filter(campaign=campaign, exam=exam)).first()
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
    existing = for_update(
        Adjudication.objects.filter(campaign=campaign, exam=exam)
    ).first()
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
    LabelRevision.objects.record(
        of=adjudication,
        actor=adjudicator,
        version=adjudication.version,
        old_labels=old_labels,
        new_labels=clean,
        note=note,
        source=source,
        created_at=now,
    )
    tally = Tally()
    tally.move(link.consensus_state, state.ADJUDICATED)
    link.consensus_state = state.ADJUDICATED
    link.consensus_labels = clean
    link.save(update_fields=["consensus_state", "consensus_labels"])
    tally.flush(campaign.pk)
    return adjudication
