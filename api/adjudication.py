"""The adjudication queue's items: the disagreeing exams with everyone's reads."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    MachineReading,
)


def queue_items(campaign: Campaign, links: list[CampaignExam]) -> list[dict[str, Any]]:
    """A page of the queue: each exam with every submitted read and its adjudication.

    Two queries whatever the page size (three where the campaign shows models'
    readings to adjudicators): the reads of the page's exams and their
    adjudications. A read carries its measurements and evidence, which the
    adjudicator sees beside the labels.
    """
    exam_ids = [link.exam_id for link in links]
    decisions: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for d in (
        Decision.objects.filter(
            assignment__campaign=campaign,
            assignment__exam_id__in=exam_ids,
            assignment__kind=Assignment.Kind.READ,
            assignment__status=Assignment.Status.SUBMITTED,
        )
        .select_related("assignment__reader")
        .order_by("assignment__reader__username")
    ):
        decisions[d.assignment.exam_id].append(
            {
                "reader": d.assignment.reader.username,
                "labels": d.labels,
                "quality": d.quality,
                "comment": d.comment,
                "measurements": d.measurements,
                "evidence": d.evidence,
            }
        )
    machines: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if campaign.show_machine_readings:
        for exam_id, name, labels in (
            MachineReading.objects.filter(campaign=campaign, exam_id__in=exam_ids)
            .order_by("reader__username")
            .values_list("exam_id", "reader__username", "labels")
        ):
            machines[exam_id].append(
                {"reader": name, "labels": labels, "machine": True}
            )
    adjudications = {
        a.exam_id: {
            "labels": a.labels,
            "note": a.note,
            "adjudicator": a.adjudicator.username,
            "version": a.version,
        }
        for a in campaign.adjudications.filter(exam_id__in=exam_ids).select_related(
            "adjudicator"
        )
    }
    return [
        {
            "exam": link.exam_id,
            "display_key": link.exam.display_key,
            "acquired_on": link.exam.acquired_on
            if campaign.show_acquisition_date
            else None,
            "state": link.consensus_state,
            "decisions": decisions[link.exam_id],
            # Models' readings, where the campaign shows them to adjudicators.
            "machine_readings": machines[link.exam_id],
            "disagreeing_classes": link.disagreeing_classes,
            "adjudication": adjudications.get(link.exam_id),
        }
        for link in links
    ]
