"""Creating and changing campaigns: their exams, readers and options."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotator.models import (
    Campaign,
    CampaignExam,
    Exam,
    TaxonomyVersion,
)
from annotator.services.errors import (
    InvalidLabels,
    WorkflowError,
)

CREATE_BATCH = 5000


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
