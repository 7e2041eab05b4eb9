"""A campaign's reference standard: one label set per exam, and what it scores.

Reference labels come from elsewhere (a gold standard read by a panel; the
CODE-test ``gold_standard.csv``) and are never shown to readers. Each new or
changed label set is a new version with its entry in the append-only history,
so replacing a reference can be audited like any read. The agreement report
scores readers against the imported labels, or, when the campaign says so,
against the exams' resolved consensus (``Campaign.reference_source``).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from annotator.models import Campaign, Exam, ReferenceLabel
from annotator.services import label_sets
from annotator.services.label_sets import LabelSetSummary

ReferenceSummary = LabelSetSummary


@transaction.atomic
def set_reference_labels(
    *,
    campaign: Campaign,
    actor: AbstractBaseUser,
    labels: Iterable[tuple[Exam, Iterable[str]]],
    source: str = "api",
) -> LabelSetSummary:
    """Store (exam, labels) pairs as the campaign's reference; all or nothing.

    Labels are validated as a read's are (the taxonomy's codes, one class per
    exclusive group, the refusing exclusion rules). An exam outside the
    campaign is refused (NotFound), the same exam twice too (InvalidLabels);
    an unchanged label set writes nothing.
    """
    wanted = label_sets.checked(campaign, labels)
    return label_sets.store(
        ReferenceLabel.objects.filter(campaign=campaign),
        wanted,
        new=lambda **values: ReferenceLabel.objects.create(campaign=campaign, **values),
        actor=actor,
        source=source,
    )


def reference_in_use(campaign: Campaign) -> str | None:
    """What the campaign's readers are scored against: "imported", "consensus",
    or None (imported chosen, none imported yet)."""
    if campaign.reference_source == Campaign.ReferenceSource.CONSENSUS:
        return "consensus"
    if ReferenceLabel.objects.filter(campaign=campaign).exists():
        return "imported"
    return None
