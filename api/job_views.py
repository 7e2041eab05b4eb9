"""Background jobs over the API: start, follow and download jobs; agreement reports."""

from __future__ import annotations

import os
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import exports, reports, services
from annotator.jobs import DEFAULT_CHUNK, MAX_SEED
from annotator.models import Campaign, Job
from annotator.roles import is_manager
from api.permissions import IsManager
from api.serializers import JobListSerializer, JobSerializer


class AgreementRequestSerializer(serializers.Serializer):
    bootstrap = serializers.IntegerField(min_value=0, max_value=2000, default=200)
    seed = serializers.IntegerField(min_value=0, max_value=MAX_SEED, default=0)
    chunk_size = serializers.IntegerField(
        min_value=100, max_value=1_000_000, default=DEFAULT_CHUNK
    )


class ExportRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=exports.FORMATS, default="csv")
    include_unresolved = serializers.BooleanField(default=False)
    pseudonymous = serializers.BooleanField(
        default=False,
        help_text="Keyed pseudonyms in place of the source exam ids, for sharing.",
    )


def _campaign(request: Request, pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.visible_to(request.user), pk=pk)


class StartJobView(APIView):
    """Start a job of a campaign (managers): validate, call its service, 202."""

    permission_classes = [IsAuthenticated, IsManager]
    request_serializer: type[serializers.Serializer]

    def start(self, campaign: Campaign, user: Any, data: dict[str, Any]) -> Job:
        raise NotImplementedError

    def post(self, request: Request, pk: int) -> Response:
        campaign = _campaign(request, pk)
        payload = self.request_serializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job = self.start(campaign, request.user, dict(payload.validated_data))
        job.refresh_from_db()
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(request=AgreementRequestSerializer, responses={202: JobSerializer})
class AgreementJobView(StartJobView):
    """Start an agreement job for a campaign (managers)."""

    request_serializer = AgreementRequestSerializer

    def start(self, campaign: Campaign, user: Any, data: dict[str, Any]) -> Job:
        return services.start_agreement_job(campaign=campaign, user=user, **data)


@extend_schema(request=ExportRequestSerializer, responses={202: JobSerializer})
class ExportJobView(StartJobView):
    """Start a label export job for a campaign (managers)."""

    request_serializer = ExportRequestSerializer

    def start(self, campaign: Campaign, user: Any, data: dict[str, Any]) -> Job:
        return services.start_export_job(
            campaign=campaign,
            user=user,
            fmt=data["format"],
            include_unresolved=data["include_unresolved"],
            pseudonymous=data["pseudonymous"],
        )


class JobPagination(CursorPagination):
    """Pages by cursor on the list index, newest first, with the filtered total.

    A cursor page is one index range scan however deep it is (no OFFSET), and
    stays put while new jobs arrive; ``count`` is one COUNT of the jobs the
    filters match, which the jobs page shows.
    """

    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(
        self, queryset: QuerySet, request: Request, view: Any = None
    ) -> list[Any] | None:
        self.count = queryset.count()
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data = {"count": self.count, **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"] = {
            "count": {"type": "integer", "example": 123},
            **paginated["properties"],
        }
        paginated["required"] = ["count", *paginated.get("required", [])]
        return paginated


class JobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Jobs, their state and progress, and their output (managers)."""

    permission_classes = [IsAuthenticated, IsManager]
    pagination_class = JobPagination
    queryset = Job.objects.select_related("created_by").order_by("-created_at", "-id")
    filterset_fields = ["campaign", "kind", "status"]

    def get_queryset(self) -> QuerySet:
        if self.action == "list":
            return Job.objects.for_list()
        return super().get_queryset()

    def get_serializer_class(self) -> type:
        return JobListSerializer if self.action == "list" else JobSerializer

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Re-queue a stalled job (its worker stopped answering); 409 otherwise."""
        job = services.retry_job(job=self.get_object())
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={200: OpenApiResponse(description="The job's output file")},
    )
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> Any:
        """The export (its manifest with ``?file=manifest``) or the report."""
        job = self.get_object()
        if job.status != Job.Status.SUCCEEDED or not job.output_key:
            raise ValidationError(
                {
                    "detail": f"The job is {job.get_status_display().lower()}; "
                    "its output is ready when it has succeeded."
                }
            )
        key = job.output_key
        if request.query_params.get("file") == "manifest":
            if job.kind != Job.Kind.EXPORT:
                raise NotFound("Only export jobs have a manifest.")
            key += ".manifest.json"
        if not default_storage.exists(key):
            raise NotFound("The output file is missing from storage.")
        name = os.path.basename(key)
        content_type = {
            ".csv": "text/csv",
            ".jsonl": "application/x-ndjson",
            ".json": "application/json",
        }.get(os.path.splitext(name)[1], "application/octet-stream")
        response = FileResponse(
            default_storage.open(key, "rb"),
            as_attachment=True,
            filename=(
                f"campaign-{job.campaign_id}-job-{job.pk}-{name}"
                if job.campaign_id
                else f"job-{job.pk}-{name}"
            ),
            content_type=content_type,
        )
        if key == job.output_key and job.output_sha256:
            response["Digest"] = f"sha-256={job.output_sha256}"
        return response


# --- Agreement reports for the dashboard ---------------------------------------------


def _managed_campaign(request: Request, pk: int) -> Campaign:
    """The campaign, for a manager; anyone else is told there is no such campaign
    (the same 404 as an unknown id, so an id reveals nothing)."""
    campaign = None
    if is_manager(request.user):
        campaign = Campaign.objects.visible_to(request.user).filter(pk=pk).first()
    if campaign is None:
        raise NotFound()
    return campaign


def _no_report() -> Response:
    # Returned, not raised: the API's handler words every raised 404 alike.
    return Response(
        {
            "detail": _(
                "This campaign has no agreement report yet: start an agreement "
                "job and wait for it to succeed."
            )
        },
        status=status.HTTP_404_NOT_FOUND,
    )


class CampaignReportView(APIView):
    """The campaign's latest agreement report without the per-pair Cohen's kappa
    (managers); ``report/pairs/`` gives those one class at a time."""

    @extend_schema(
        responses={
            200: OpenApiResponse(
                description="The report (DESIGN §6) without `cohen_kappa`, "
                "plus `job`: {id, finished_at, params}"
            ),
            404: OpenApiResponse(description="No such campaign, or no report yet"),
        }
    )
    def get(self, request: Request, pk: int) -> Response:
        campaign = _managed_campaign(request, pk)
        job = Job.objects.latest_agreement(campaign).first()
        if job is None:
            return _no_report()
        document = reports.without_pairs(job.result)
        document["job"] = {
            "id": job.pk,
            "finished_at": serializers.DateTimeField().to_representation(
                job.finished_at
            ),
            "params": job.params,
        }
        return Response(document)


class KappaMatrixSerializer(serializers.Serializer):
    readers = serializers.ListField(child=serializers.CharField())
    code = serializers.CharField()
    kappa = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(allow_null=True))
    )


class CampaignReportPairsView(APIView):
    """Cohen's kappa of every reader pair for one class of the latest report, as
    a square matrix in the report's reader order (diagonal null) (managers)."""

    @extend_schema(
        parameters=[OpenApiParameter("code", str, required=True)],
        responses={
            200: KappaMatrixSerializer,
            400: inline_serializer("UnknownCode", {"code": serializers.CharField()}),
            404: OpenApiResponse(description="No such campaign, or no report yet"),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        campaign = _managed_campaign(request, pk)
        code = request.query_params.get("code", "").strip()
        if not code:
            raise ValidationError({"code": _("Name the class: ?code=CODE.")})
        job = Job.objects.latest_agreement(campaign).with_report_class(code).first()
        if job is None:
            return _no_report()
        if not isinstance(job.report_class, dict):
            raise ValidationError(
                {"code": _("The latest report has no class %(code)s.") % {"code": code}}
            )
        readers = job.report_readers or []
        return Response(
            {
                "readers": readers,
                "code": code,
                "kappa": reports.pair_matrix(
                    readers, job.report_class.get(reports.PAIRS) or {}
                ),
            }
        )
