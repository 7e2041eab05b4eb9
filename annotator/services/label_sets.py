"""Label sets stored by exam outside the reading workflow: reference standards
and machine readings. One validation and one versioned write for both."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from annotator.models import Campaign, CampaignExam, Exam, LabelRevision
from annotator.services.errors import InvalidLabels, NotFound
from annotator.services.labels import clean_labels


@dataclass
class LabelSetSummary:
    """What a store of label sets did: new exams, replaced ones, unchanged ones."""

    created: int = 0
    changed: int = 0
    unchanged: int = 0


def checked(
    campaign: Campaign, labels: Iterable[tuple[Exam, Iterable[str]]]
) -> dict[int, tuple[Exam, list[str]]]:
    """Exam id → (exam, cleaned labels); refuses an exam given twice
    (InvalidLabels), labels a read could not have, and exams outside the
    campaign (NotFound)."""
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
    strangers = sorted(e.exam_id for pk, (e, _c) in wanted.items() if pk not in inside)
    if strangers:
        raise NotFound(
            _("Not an exam of this campaign: %(exams)s.")
            % {"exams": ", ".join(strangers[:5])}
        )
    return wanted


def store(
    rows: models.QuerySet,
    wanted: dict[int, tuple[Exam, list[str]]],
    *,
    new: Callable[..., Any],
    actor: Any,
    source: str,
) -> LabelSetSummary:
    """Write ``wanted`` over ``rows`` (the existing label sets of these exams,
    locked here): ``new(exam=…, labels=…, created_at=…, updated_at=…)`` creates
    a missing one, a changed one becomes its next version, and each write is
    an entry of the append-only history. Call inside a transaction."""
    existing = {
        row.exam_id: row
        for row in rows.select_for_update().filter(exam_id__in=list(wanted))
    }
    summary = LabelSetSummary()
    now = timezone.now()
    for pk, (exam, codes) in sorted(wanted.items()):
        row = existing.get(pk)
        if row is None:
            row = new(exam=exam, labels=codes, created_at=now, updated_at=now)
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
