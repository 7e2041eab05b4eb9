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
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.models import Campaign, CampaignExam, Exam, LabelRevision, ReferenceLabel
from annotator.services.errors import InvalidLabels, NotFound
from annotator.services.labels import clean_labels


@dataclass
class ReferenceSummary:
    """What a call to :func:`set_reference_labels` did."""

    created: int = 0
    changed: int = 0
    unchanged: int = 0


@transaction.atomic
def set_reference_labels(
    *,
    campaign: Campaign,
    actor: AbstractBaseUser,
    labels: Iterable[tuple[Exam, Iterable[str]]],
    source: str = "api",
) -> ReferenceSummary:
    """Store (exam, labels) pairs as the campaign's reference; all or nothing.

    Labels are validated as a read's are (the taxonomy's codes, one class per
    exclusive group, the refusing exclusion rules). An exam outside the
    campaign is refused (NotFound), the same exam twice too (InvalidLabels);
    an unchanged label set writes nothing.
    """
    wanted: dict[int, tuple[Exam, list[str]]] = {}
    for exam, codes in labels:
        if exam.pk in wanted:
            raise InvalidLabels(
                _("Exam %(exam)s is given twice.") % {"exam": exam.exam_id}
            )
        wanted[exam.pk] = (exam, clean_labels(campaign, codes))
    inside = set(
        CampaignExam.objects.filter(
            campaign=campaign, exam_id__in=list(wanted)
        ).values_list("exam_id", flat=True)
    )
    strangers = [exam.exam_id for pk, (exam, _c) in wanted.items() if pk not in inside]
    if strangers:
        raise NotFound(
            _("Not an exam of this campaign: %(exams)s.")
            % {"exams": ", ".join(sorted(strangers)[:5])}
        )
    existing = {
        row.exam_id: row
        for row in ReferenceLabel.objects.select_for_update().filter(
            campaign=campaign, exam_id__in=list(wanted)
        )
    }
    summary = ReferenceSummary()
    now = timezone.now()
    for pk, (exam, codes) in sorted(wanted.items()):
        row = existing.get(pk)
        if row is None:
            row = ReferenceLabel.objects.create(
                campaign=campaign,
                exam=exam,
                labels=codes,
                created_at=now,
                updated_at=now,
            )
            old, summary.created = None, summary.created + 1
        elif row.labels == codes:
            summary.unchanged += 1
            continue
        else:
            old = row.labels
            row.labels, row.version, row.updated_at = codes, row.version + 1, now
            row.save(update_fields=["labels", "version", "updated_at"])
            summary.changed += 1
        LabelRevision.objects.record(
            of=row,
            actor=actor,
            version=row.version,
            old_labels=old,
            new_labels=codes,
            source=source,
            created_at=now,
        )
    return summary


def reference_in_use(campaign: Campaign) -> str | None:
    """What the campaign's readers are scored against: "imported", "consensus",
    or None (imported chosen, none imported yet)."""
    if campaign.reference_source == Campaign.ReferenceSource.CONSENSUS:
        return "consensus"
    if ReferenceLabel.objects.filter(campaign=campaign).exists():
        return "imported"
    return None
