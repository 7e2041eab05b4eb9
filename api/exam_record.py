"""An exam's record over the API (managers): in every campaign, its consensus,
each read, the adjudication, the reference, and the history of every change.

Mixed into ``ExamViewSet``: ``GET /api/exams/{id}/record/``, and
``GET /api/exams/count/`` (how many exams a filter finds). Anyone else gets 404:
the record shows every reader's labels, which readers must not see.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import (
    Adjudication,
    CampaignExam,
    Decision,
    LabelRevision,
    ReferenceLabel,
)
from annotator.roles import is_manager

HISTORY_LIMIT = 500  # history entries per exam and campaign, newest first


class ExamRecordActions:
    """The record and count routes of the exam list."""

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def record(self, request: Request, pk: str | None = None) -> Response:
        """The exam in every campaign: consensus, reads, adjudication, reference
        and history (managers)."""
        if not is_manager(request.user):
            raise NotFound()
        exam = self.get_object()
        return Response({"exam": exam.pk, "campaigns": exam_record(exam.pk)})

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", str),
            OpenApiParameter("exam_id", str),
            OpenApiParameter("exam_id_prefix", str),
        ],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"])
    def count(self, request: Request) -> Response:
        """How many exams the list's filters find (managers)."""
        if not is_manager(request.user):
            raise NotFound()
        queryset = self.filter_queryset(self.get_queryset())
        return Response({"count": queryset.count()})


def exam_record(exam_id: int) -> list[dict[str, Any]]:
    """The exam's record in each campaign it belongs to, by campaign name."""
    links = (
        CampaignExam.objects.filter(exam_id=exam_id)
        .select_related("campaign")
        .order_by("campaign__name")
    )
    out = []
    for link in links:
        campaign = link.campaign
        reads = (
            Decision.objects.filter(
                assignment__campaign=campaign, assignment__exam_id=exam_id
            )
            .select_related("assignment", "reader")
            .order_by("assignment__reader__username", "assignment__kind")
        )
        adjudication = (
            Adjudication.objects.filter(campaign=campaign, exam_id=exam_id)
            .select_related("adjudicator")
            .first()
        )
        reference = (
            ReferenceLabel.objects.filter(campaign=campaign, exam_id=exam_id)
            .values_list("labels", flat=True)
            .first()
        )
        history = (
            LabelRevision.objects.filter(campaign=campaign, exam_id=exam_id)
            .select_related("actor")
            .order_by("-created_at", "-id")[:HISTORY_LIMIT]
        )
        out.append(
            {
                "campaign": campaign.pk,
                "name": campaign.name,
                "consensus_state": link.consensus_state,
                "consensus_labels": link.consensus_labels,
                "disagreeing_classes": link.disagreeing_classes,
                "reads": [
                    {
                        "reader": read.reader.get_username(),
                        "kind": read.assignment.kind,
                        "labels": read.labels,
                        "quality": read.quality,
                        "comment": read.comment,
                        "version": read.version,
                        "fast": read.fast,
                        "submitted_at": read.assignment.submitted_at,
                    }
                    for read in reads
                ],
                "adjudication": None
                if adjudication is None
                else {
                    "adjudicator": adjudication.adjudicator.get_username(),
                    "labels": adjudication.labels,
                    "note": adjudication.note,
                    "version": adjudication.version,
                },
                "reference": reference,
                "history": [
                    {
                        "kind": entry.kind,
                        "actor": entry.actor.get_username(),
                        "version": entry.version,
                        "old_labels": entry.old_labels,
                        "new_labels": entry.new_labels,
                        "source": entry.source,
                        "created_at": entry.created_at,
                    }
                    for entry in history
                ],
            }
        )
    return out
