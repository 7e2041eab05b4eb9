"""API views: check rights, validate shape, call a service, answer. No rules here."""

from __future__ import annotations

from typing import Any

import django_filters
from django.contrib.auth import authenticate, user_logged_in
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator import services
from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    Exam,
    TaxonomyVersion,
)
from annotator.models.paging import id_page
from annotator.roles import is_manager
from api import health, tokens
from api import serializers as s
from api.adjudication import queue_items
from api.errors import PreconditionRequired
from api.exam_record import ExamRecordActions
from api.label_sets import LabelSetActions
from api.permissions import IsManager
from api.reads import ReadSerializer
from api.study import StudyActions


class TokenView(APIView):
    """Exchange a username and password for a token (``Authorization: Token …``)."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenSerializer,
            400: OpenApiResponse(description="Wrong credentials"),
            429: OpenApiResponse(description="Too many failures"),
        },
    )
    def post(self, request: Request) -> Response:
        payload = s.TokenRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        # The Django request, so that axes marks a lockout where its middleware
        # looks for it (a locked-out attempt then answers 429, not 400).
        user = authenticate(
            request._request,
            username=payload.validated_data["username"],
            password=payload.validated_data["password"],
        )
        if user is None:
            return Response(
                {"detail": "Wrong username or password."},
                status=status.HTTP_400_BAD_REQUEST,
            )
        # A token is a login: its signal clears this address's failures for
        # the user (axes) and records the login time, as the login page does.
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        token = tokens.issue(user)
        return Response(
            {"token": token.key, "expires_at": token.created + tokens.lifetime()}
        )

    def get_authenticate_header(self, request: Request) -> str:
        return "Token"  # so a refused revocation answers 401, not 403

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        """Revoke the token the request is made with (it stops working at once)."""
        auth = tokens.ExpiringTokenAuthentication().authenticate(request)
        if auth is None:
            raise NotAuthenticated("Send the token to revoke in Authorization.")
        auth[1].delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class TaxonomyViewSet(viewsets.ReadOnlyModelViewSet):
    """Taxonomy versions and their classes (any signed-in user)."""

    permission_classes = [IsAuthenticated]
    queryset = TaxonomyVersion.objects.annotate(n_classes=Count("classes")).order_by(
        "pk"
    )

    def get_serializer_class(self) -> type:
        if self.action == "retrieve":
            return s.TaxonomyDetailSerializer
        return s.TaxonomySerializer

    def get_queryset(self) -> Any:
        if self.action == "retrieve":
            return self.queryset.prefetch_related("classes__parent")
        return self.queryset


class NarrowedCursorPagination(CursorPagination):
    """Cursor pages by id, for lists a view can narrow to the page first.

    A view with ``narrow_page(queryset, cursor, limit)`` gives the rows the
    page can show (``limit`` counts the paginator's offset and the one extra
    row it reads to know of a next page); the paginator then pages those. For
    filters PostgreSQL would otherwise meet by walking the primary key.
    """

    ordering = "id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None
    ) -> list[Any] | None:
        narrow = getattr(view, "narrow_page", None)
        size = self.get_page_size(request)
        if narrow is not None and size:
            cursor = self.decode_cursor(request) or Cursor(0, False, None)
            queryset = narrow(queryset, cursor, cursor.offset + size + 1)
        return super().paginate_queryset(queryset, request, view)


def cursor_bounds(cursor: Cursor) -> dict[str, int | None]:
    """``after`` / ``before`` of a cursor page on ids (None: from the start)."""
    position = int(cursor.position) if cursor.position is not None else None
    if cursor.reverse:
        return {"after": None, "before": position}
    return {"after": position, "before": None}


def page_ids(queryset: Any, cursor: Cursor, limit: int) -> list[int]:
    """The ids a cursor page of ``queryset`` can show, by a query for ids alone."""
    return id_page(queryset, "pk", limit=limit, **cursor_bounds(cursor))


class ExamFilter(django_filters.FilterSet):
    """The exam list's filters: a dataset, a source id, or the start of one."""

    exam_id_prefix = django_filters.CharFilter(
        field_name="exam_id", lookup_expr="startswith", max_length=200
    )

    class Meta:
        model = Exam
        fields = ["dataset", "exam_id"]


class ExamPagination(NarrowedCursorPagination):
    """Cursor pages: no COUNT over millions of rows, stable under inserts."""


class QueuePagination(CursorPagination):
    """The adjudication queue in exam order, by cursor (no OFFSET walk).

    The total comes from the campaign's counters, not from counting rows; the
    campaign's default ``display_filters`` come with every page.
    """

    ordering = "exam_id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def __init__(self, count: int, display_filters: dict[str, Any]) -> None:
        self.head = {"count": count, "display_filters": display_filters}

    def get_paginated_response(self, data: Any) -> Response:
        response = super().get_paginated_response(data)
        response.data = {**self.head, **response.data}
        return response

    def get_paginated_response_schema(self, schema: dict) -> dict:
        paged = super().get_paginated_response_schema(schema)
        paged["properties"] = {
            "count": {"type": "integer"},
            "display_filters": {"type": "object", "additionalProperties": {}},
            **paged["properties"],
        }
        return paged


class DecisionPagination(NarrowedCursorPagination):
    """Decisions newest last, by cursor on (reader, id) or the primary key."""


class CallerQuerysetMixin:
    """Viewsets whose rows depend on the caller; the schema generator has none."""

    model: type

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return self.model.objects.none()
        return self.caller_queryset(self.request.user)


class ExamViewSet(
    ExamRecordActions, CallerQuerysetMixin, viewsets.ReadOnlyModelViewSet
):
    """Exams the caller may see; machine statements only where not blinded."""

    model = Exam
    permission_classes = [IsAuthenticated]
    serializer_class = s.ExamSerializer
    pagination_class = ExamPagination
    filterset_class = ExamFilter
    filterset_fields = ["dataset", "exam_id", "exam_id_prefix"]

    def caller_queryset(self, user: Any) -> Any:
        return Exam.objects.visible_to(user)

    def filter_queryset(self, queryset: Any) -> Any:
        # The source id is for managers: a reader who could filter by it would
        # learn which exam a guessed id is.
        for name in ("exam_id", "exam_id_prefix"):
            if name in self.request.query_params and not is_manager(self.request.user):
                raise ValidationError(
                    {name: [_("Only managers look exams up by their source id.")]}
                )
        return super().filter_queryset(queryset)

    def narrow_page(self, queryset: Any, cursor: Cursor, limit: int) -> Any:
        """Only the exams the page can show. A reader's or adjudicator's
        unfiltered list finds them from their claims and queues
        (``visible_ids``) rather than by walking every exam in id order and
        testing each; a manager's filtered one, from an index on the filter."""
        user = self.request.user
        filtered = any(
            name in self.request.query_params for name in self.filterset_fields
        )
        if is_manager(user):
            if not filtered:
                return queryset  # every exam: the primary key gives the page
            return queryset.filter(pk__in=page_ids(queryset, cursor, limit))
        if filtered:
            return queryset
        ids = Exam.objects.visible_ids(user, limit=limit, **cursor_bounds(cursor))
        return queryset.filter(pk__in=ids)

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context.update(Campaign.objects.exam_list_view(self.request.user))
        return context


class CampaignViewSet(
    LabelSetActions,
    StudyActions,
    CallerQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Campaigns the caller reads, adjudicates or (managers) runs."""

    model = Campaign
    serializer_class = s.CampaignSerializer

    def get_permissions(self) -> list[Any]:
        # Creating is for managers; everything else is filtered to the caller.
        if self.action == "create":
            return [IsAuthenticated(), IsManager()]
        return [IsAuthenticated()]

    def caller_queryset(self, user: Any) -> Any:
        return (
            Campaign.objects.visible_to(user)
            .with_progress(user)
            .prefetch_related("readers", "adjudicators")
            .order_by("-created_at", "id")
        )

    @extend_schema(
        request=s.CampaignCreateSerializer, responses={201: s.CampaignSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = s.CampaignCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        taxonomy = data.pop("taxonomy", None) or _default_taxonomy()
        exams = (
            Exam.objects.filter(pk__in=data.pop("exams")).order_by("pk")
            if "exams" in data
            else Exam.objects.filter(dataset=data.pop("dataset")).order_by("pk")
        )
        campaign = services.create_campaign(
            taxonomy=taxonomy, exams=exams, created_by=request.user, **data
        )
        return Response(
            s.CampaignSerializer(campaign, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=s.ClaimRequestSerializer,
        responses={
            200: s.ClaimSerializer,
            204: OpenApiResponse(description="Nothing left"),
        },
    )
    @action(detail=True, methods=["post"])
    def next(self, request: Request, pk: str | None = None) -> Response:
        """Claim the caller's next exam (an unfinished claim first); 204 when done."""
        campaign = self._read_campaign()
        payload = s.ClaimRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        assignment = services.claim_next(
            campaign=campaign,
            reader=request.user,
            after=payload.validated_data["after"],
        )
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        context = {
            "show_machine_statements": campaign.shows_machine_statements_to(
                request.user, reading=True
            ),
            "show_machine_measurements": campaign.shows_machine_measurements_to(
                request.user, reading=True
            ),
            "show_acquisition_date": campaign.show_acquisition_date,
        }
        return Response(
            {
                "assignment": assignment.pk,
                "exam": s.ExamSerializer(assignment.exam, context=context).data,
                "lease_expires_at": assignment.lease_expires_at,
                "display_filters": campaign.display_filters,
            }
        )

    def _read_campaign(self) -> Campaign:
        """The campaign if the caller reads it, else what ``get_object`` answers.

        Claiming is the hot path: one query on the reader list replaces the
        visibility filter, the role lookup and the prefetches of every reader
        and adjudicator. Anyone else takes the general path, so the answers
        (404 for a campaign one cannot see) stay the same.
        """
        try:
            campaign = (
                Campaign.objects.read_by(self.request.user)
                .filter(pk=self.kwargs[self.lookup_url_kwarg or "pk"])
                .first()
            )
        except (TypeError, ValueError, DjangoValidationError):
            campaign = None
        if campaign is None:
            return self.get_object()
        self.check_object_permissions(self.request, campaign)
        return campaign

    @extend_schema(responses={200: s.AdjudicationQueueItemSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def adjudication(self, request: Request, pk: str | None = None) -> Response:
        """The disagreement queue (adjudicated exams too, with ``?state=all``)."""
        campaign = self._adjudicated_campaign()
        everything = request.query_params.get("state") == "all"
        links = (
            CampaignExam.objects.filter(campaign=campaign)
            .adjudication_queue(include_adjudicated=everything)
            .select_related("exam")
        )
        count = campaign.n_needs_adjudication
        if everything:
            count += campaign.n_adjudicated
        paginator = QueuePagination(count, campaign.display_filters)
        page = paginator.paginate_queryset(links, request, view=self)
        return paginator.get_paginated_response(queue_items(campaign, page))

    @extend_schema(
        request=s.AdjudicationInputSerializer, responses={200: s.AdjudicationSerializer}
    )
    @action(detail=True, methods=["post"], url_path=r"adjudication/(?P<exam_pk>\d+)")
    def adjudicate(
        self, request: Request, pk: str | None = None, exam_pk: str = ""
    ) -> Response:
        """Record the final labels for a disagreeing exam (its database id)."""
        campaign = self._adjudicated_campaign()
        exam = get_object_or_404(Exam, pk=exam_pk, campaign_links__campaign=campaign)
        payload = s.AdjudicationInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        adjudication = services.adjudicate(
            campaign=campaign,
            exam=exam,
            adjudicator=request.user,
            **payload.validated_data,
        )
        return Response(s.AdjudicationSerializer(adjudication).data)

    def _adjudicated_campaign(self) -> Campaign:
        campaign = self.get_object()
        if not campaign.is_adjudicated_by(self.request.user):
            # Readers must not learn that a queue exists: same answer as a foreign id.
            raise NotFound()
        return campaign


def _default_taxonomy() -> TaxonomyVersion:
    from annotator.taxonomy import load_default_taxonomy

    return load_default_taxonomy()


class AssignmentViewSet(
    CallerQuerysetMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The caller's own claims; submitting a decision on one."""

    model = Assignment
    permission_classes = [IsAuthenticated]
    serializer_class = s.AssignmentSerializer

    def caller_queryset(self, user: Any) -> Any:
        return Assignment.objects.filter(reader=user).select_related("exam", "campaign")

    @extend_schema(
        request=s.DecisionInputSerializer, responses={201: s.DecisionSerializer}
    )
    @action(detail=True, methods=["post"])
    def decision(self, request: Request, pk: str | None = None) -> Response:
        """Submit the read of a claimed exam."""
        payload = s.DecisionInputSerializer(data=request.data)
        if not payload.is_valid():
            # Someone else's or an unknown id answers 404 before any complaint
            # about the body, as it always did.
            self.get_object()
            raise ValidationError(payload.errors)
        # The service loads and locks the caller's assignment itself, so the
        # usual get_object (a join with the exam and campaign) is skipped here;
        # a foreign or unknown id gets the same 404 as from get_object.
        try:
            stub = Assignment(pk=int(self.kwargs[self.lookup_url_kwarg or "pk"]))
        except ValueError:
            raise NotFound() from None
        try:
            decision = services.submit_decision(
                assignment=stub, reader=request.user, **payload.validated_data
            )
        except services.NotFound:
            raise NotFound() from None
        response = Response(
            s.DecisionSerializer(decision).data, status=status.HTTP_201_CREATED
        )
        response["ETag"] = f'"{decision.version}"'
        return response


class DecisionViewSet(
    CallerQuerysetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own decisions (managers: all), editable with If-Match."""

    model = Decision
    permission_classes = [IsAuthenticated]
    serializer_class = s.DecisionSerializer
    pagination_class = DecisionPagination

    def caller_queryset(self, user: Any) -> Any:
        decisions = Decision.objects.select_related("assignment").order_by("pk")
        if self.action == "retrieve":
            decisions = decisions.with_lock_state()
        if self.action in {"list", "retrieve", "history"} and is_manager(user):
            return decisions
        return decisions.filter(reader_id=user.pk)

    def narrow_page(self, queryset: Any, cursor: Cursor, limit: int) -> Any:
        """A reader's page: its ids first, read from the (reader, id) index
        alone, so PostgreSQL never walks every decision in id order to find
        one reader's (it may, when the reader holds many of them)."""
        if is_manager(self.request.user):
            return queryset
        return queryset.filter(pk__in=page_ids(queryset, cursor, limit))

    @extend_schema(responses={200: ReadSerializer})
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        decision = self.get_object()
        response = Response(ReadSerializer(decision).data)
        response["ETag"] = f'"{decision.version}"'
        return response

    @extend_schema(
        request=s.DecisionInputSerializer, responses={200: s.DecisionSerializer}
    )
    def update(self, request: Request, pk: str | None = None) -> Response:
        """Edit a decision: ``If-Match`` must carry its current version."""
        decision = self.get_object()
        if decision.reader_id != request.user.pk:
            raise PermissionDenied("Only the reader who made a decision can edit it.")
        expected = _if_match_version(request)
        payload = s.DecisionInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        decision = services.edit_decision(
            decision=decision,
            reader=request.user,
            expected_version=expected,
            **payload.validated_data,
        )
        response = Response(self.get_serializer(decision).data)
        response["ETag"] = f'"{decision.version}"'
        return response

    @extend_schema(responses={200: s.RevisionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        """Every version of the decision: who, when, old and new labels."""
        decision = self.get_object()
        revisions = decision.revisions.select_related("actor").order_by("version")
        return Response(s.RevisionSerializer(revisions, many=True).data)


def _if_match_version(request: Request) -> int:
    header = request.headers.get("If-Match")
    if not header:
        raise PreconditionRequired()
    value = header.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        raise PreconditionRequired(
            f"If-Match must carry the decision's version (its ETag), not {header!r}."
        ) from None


class HealthView(APIView):
    """Health for load balancers and people: the database and the job queue.

    200 when both answer (or jobs run inline, without a broker), else 503,
    with each part's state.
    """

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []

    @extend_schema(
        responses={
            200: OpenApiResponse(description="Healthy"),
            503: OpenApiResponse(description="A part is down"),
        }
    )
    def get(self, request: Request) -> Response:
        parts = {"database": health.database(), "broker": health.broker()}
        healthy = all(state in {"ok", "inline"} for state in parts.values())
        return Response(
            {"status": "ok" if healthy else "unavailable", **parts},
            status=status.HTTP_200_OK
            if healthy
            else status.HTTP_503_SERVICE_UNAVAILABLE,
        )
