"""A reader's own reads in a campaign: the "My reads" list and its lock state."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated

from annotator import services
from annotator.models import Campaign, Decision
from api.serializers import DecisionSerializer


class ReadSerializer(DecisionSerializer):
    """A decision with what its reader needs to reopen it: can it still change?

    Built from ``Decision.objects.with_lock_state()`` rows.
    """

    display_key = serializers.SerializerMethodField()
    fast = serializers.BooleanField()
    editable = serializers.SerializerMethodField()
    locked_reason = serializers.SerializerMethodField(
        help_text=_("Why the read can no longer change (empty while editable).")
    )

    def get_display_key(self, decision: Decision) -> str:
        return f"#{decision.assignment.exam_id}"  # Exam.display_key, without the row

    def get_editable(self, decision: Decision) -> bool:
        return not decision.locked

    def get_locked_reason(self, decision: Decision) -> str:
        return services.READS_COMPLETE if decision.locked else ""


class ReadsPagination(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class CampaignReadsView(ListAPIView):
    """The caller's reads in a campaign they read, newest first; ``?q=#123``
    finds the read of one exam."""

    permission_classes = [IsAuthenticated]
    serializer_class = ReadSerializer
    pagination_class = ReadsPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="An exam's number (#123 or 123).")
        ]
    )
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return Decision.objects.none()
        campaign = (
            Campaign.objects.read_by(self.request.user)
            .filter(pk=self.kwargs["pk"])
            .first()
        )
        if campaign is None:
            raise NotFound()
        reads = (
            Decision.objects.of_reader_in(self.request.user, campaign)
            .with_lock_state()
            .select_related("assignment")
        )
        query = self.request.query_params.get("q", "").strip().removeprefix("#")
        if query:
            if not query.isdigit() or len(query) > 12:
                raise ValidationError(
                    {"q": [_("Search by the exam's number, e.g. #123.")]}
                )
            reads = reads.filter(assignment__exam_id=int(query))
        return reads
