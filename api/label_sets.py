"""A campaign's reference standard, calibration exams and models' readings over
the API (managers).

Mixed into ``CampaignViewSet``: ``/api/campaigns/{id}/reference/``,
``/api/campaigns/{id}/calibration/`` and
``/api/campaigns/{id}/machine-readings/``. Anyone else gets 404, as for a
campaign they cannot see, so a reader never learns that any exists.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import services
from annotator.models import Campaign, Exam
from annotator.roles import is_manager
from api import serializers as s


class LabelSetActions:
    """The reference and machine-readings routes of a campaign."""

    @extend_schema(methods=["GET"], responses={200: s.ReferenceSummarySerializer})
    @extend_schema(
        methods=["PUT"],
        request=s.ReferenceInputSerializer,
        responses={200: s.ReferenceSummarySerializer},
    )
    @action(detail=True, methods=["get", "put"])
    def reference(self, request: Request, pk: str | None = None) -> Response:
        """The campaign's reference standard (managers): what is scored against
        it; PUT stores label sets by exam id, all or nothing, each change kept
        in the history."""
        campaign = self._managed_campaign()
        summary: dict[str, Any] = {}
        if request.method == "PUT":
            payload = s.ReferenceInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            done = services.set_reference_labels(
                campaign=campaign,
                actor=request.user,
                labels=_exam_labels(payload.validated_data["labels"]),
            )
            summary = vars(done)
        return Response(
            {
                "source": services.reference_in_use(campaign),
                "n_exams": campaign.reference_labels.count(),
                **summary,
            }
        )

    @extend_schema(methods=["GET"], responses={200: s.CalibrationSerializer})
    @extend_schema(
        methods=["PUT"],
        request=s.CalibrationInputSerializer,
        responses={200: s.CalibrationSerializer},
    )
    @action(detail=True, methods=["get", "put"])
    def calibration(self, request: Request, pk: str | None = None) -> Response:
        """The campaign's calibration exams (managers) and how often checks are
        served; PUT marks exams with a reference as calibration exams (or,
        ``"calibration": false``, returns them to the pool), all or nothing."""
        campaign = self._managed_campaign()
        summary: dict[str, Any] = {}
        if request.method == "PUT":
            payload = s.CalibrationInputSerializer(data=request.data)
            payload.is_valid(raise_exception=True)
            done = services.set_calibration_exams(
                campaign=campaign,
                exams=_exams(payload.validated_data["exams"]).values(),
                calibration=payload.validated_data["calibration"],
            )
            summary = vars(done)
        return Response(
            {
                "exams": services.calibration_exam_ids(campaign),
                "calibration_every": campaign.calibration_every,
                "reread_every": campaign.reread_every,
                **summary,
            }
        )

    @extend_schema(
        request=s.MachineReadingsInputSerializer,
        responses={200: s.MachineSummarySerializer},
    )
    @action(detail=True, methods=["put"], url_path="machine-readings")
    def machine_readings(self, request: Request, pk: str | None = None) -> Response:
        """Store a model's readings (managers): by exam id, all or nothing; the
        account is created as a machine if new, a person's account is refused."""
        campaign = self._managed_campaign()
        payload = s.MachineReadingsInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        labels = _exam_labels(data["labels"])
        with transaction.atomic():
            machine = services.machine_account(data["machine"])
            done = services.record_machine_readings(
                campaign=campaign, machine=machine, labels=labels, source="api"
            )
        return Response(
            {
                "machine": machine.get_username(),
                "n_exams": campaign.machine_readings.filter(reader=machine).count(),
                **vars(done),
            }
        )

    def _managed_campaign(self) -> Campaign:
        campaign = self.get_object()
        if not is_manager(self.request.user):
            # Readers must not learn that a reference or a model exists.
            raise NotFound()
        return campaign


def _exam_labels(entries: list[dict[str, Any]]) -> list[tuple[Exam, list[str]]]:
    """(exam, labels) from ``[{"exam": id, "labels": [...]}]``; an unknown id is
    refused with 404 (the services refuse exams outside the campaign)."""
    exams = _exams([e["exam"] for e in entries])
    return [(exams[e["exam"]], e["labels"]) for e in entries]


def _exams(ids: list[int]) -> dict[int, Exam]:
    """Exam id → exam; an unknown id is refused with 404, as one outside the
    campaign is by the services."""
    exams = Exam.objects.in_bulk(ids)
    missing = sorted(set(ids) - set(exams))
    if missing:
        raise NotFound(
            _("Not an exam of this campaign: %(ids)s.")
            % {"ids": ", ".join(map(str, missing[:5]))}
        )
    return exams
