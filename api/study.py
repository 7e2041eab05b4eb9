"""Running a campaign over the API (managers): its status and its readers.

Mixed into ``CampaignViewSet``: ``POST /api/campaigns/{id}/status/`` opens,
pauses, resumes or closes it; ``POST /api/campaigns/{id}/readers/`` adds and
removes readers while it runs; ``GET /api/campaigns/{id}/reader-stats/`` says
what each reader is doing (``annotator.activity``). Anyone else gets 404, as
for a campaign they cannot see.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from annotator import activity, services
from annotator.models import Campaign
from annotator.roles import is_manager
from api import serializers as s


class StatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Campaign.Status.choices)


class ReadersInputSerializer(serializers.Serializer):
    add = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list
    )
    remove = serializers.ListField(
        child=serializers.CharField(max_length=150), required=False, default=list
    )


class ReaderStatsSerializer(serializers.Serializer):
    reader = serializers.CharField()
    reads = serializers.IntegerField()
    open_claims = serializers.IntegerField()
    reading = serializers.BooleanField()
    median_ms = serializers.FloatField(allow_null=True)
    reads_per_hour = serializers.FloatField(allow_null=True)
    timed_reads = serializers.IntegerField()
    fast_reads = serializers.IntegerField()
    last_read_at = serializers.DateTimeField(allow_null=True)


class StudyActions:
    """The status and readers routes of a campaign."""

    @extend_schema(request=StatusInputSerializer, responses={200: s.CampaignSerializer})
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request: Request, pk: str | None = None) -> Response:
        """Open, pause, resume or close the campaign (managers)."""
        campaign = self._run_campaign()
        payload = StatusInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.set_campaign_status(
            campaign=campaign, status=payload.validated_data["status"]
        )
        return self._campaign_answer(campaign)

    @extend_schema(
        request=ReadersInputSerializer, responses={200: s.CampaignSerializer}
    )
    @action(detail=True, methods=["post"], url_path="readers")
    def change_readers(self, request: Request, pk: str | None = None) -> Response:
        """Add and remove readers by username (managers). A removed reader's
        unfinished claims go back to the queue; their reads stay."""
        campaign = self._run_campaign()
        payload = ReadersInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        add, remove = payload.validated_data["add"], payload.validated_data["remove"]
        if set(add) & set(remove):
            raise ValidationError({"add": [_("A reader cannot be added and removed.")]})
        users = {
            u.username: u
            for u in get_user_model().objects.filter(username__in=[*add, *remove])
        }
        unknown = sorted((set(add) | set(remove)) - set(users))
        if unknown:
            raise ValidationError(
                {
                    "add": [
                        _("Unknown users: %(names)s.") % {"names": ", ".join(unknown)}
                    ]
                }
            )
        if add:
            services.add_readers(campaign=campaign, readers=[users[n] for n in add])
        if remove:
            services.remove_readers(
                campaign=campaign, readers=[users[n] for n in remove]
            )
        return self._campaign_answer(campaign)

    @extend_schema(responses={200: ReaderStatsSerializer(many=True)})
    @action(detail=True, methods=["get"], url_path="reader-stats")
    def reader_stats(self, request: Request, pk: str | None = None) -> Response:
        """Each reader's reads, pace, median time per read, fast reads and open
        claims, and how many readers have an exam on their screen (managers)."""
        campaign = self._run_campaign()
        return Response(
            {
                "readers": ReaderStatsSerializer(
                    activity.reader_activity(campaign), many=True
                ).data,
                "reading_now": activity.readers_reading(campaign),
            }
        )

    def _run_campaign(self) -> Campaign:
        campaign = self.get_object()
        if not is_manager(self.request.user):
            raise NotFound()
        return campaign

    def _campaign_answer(self, campaign: Campaign) -> Response:
        fresh: Any = self.caller_queryset(self.request.user).get(pk=campaign.pk)
        return Response(
            s.CampaignSerializer(fresh, context=self.get_serializer_context()).data
        )
