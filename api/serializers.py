"""Serializers: the shapes of the API (DESIGN §5). They validate shape only."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotator.models import (
    MAX_MIN_READ_MS,
    Adjudication,
    Assignment,
    Campaign,
    DiagnosticClass,
    Exam,
    Job,
    LabelRevision,
    TaxonomyVersion,
)
from annotator.roles import is_manager
from annotator.taxonomy import COLUMNS

User = get_user_model()
MAX_COMMENT = 5000
MAX_DURATION_MS = 24 * 3600 * 1000
# A database id fits a signed 64-bit integer; larger numbers are refused as
# invalid (400), not passed to the database to overflow there.
MAX_ID = 2**63 - 1


class DiagnosticClassSerializer(serializers.ModelSerializer):
    parent = serializers.SlugRelatedField(slug_field="code", read_only=True)
    synonyms = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = DiagnosticClass
        fields = [*COLUMNS, "display_order"]  # the taxonomy file's, and its order


class ExclusionRuleSerializer(serializers.Serializer):
    """Classes ``a`` and ``b`` are not chosen together: refused, or confirmed."""

    a = serializers.CharField(read_only=True)
    b = serializers.CharField(read_only=True)
    severity = serializers.ChoiceField(choices=["refuse", "warn"], read_only=True)


class TaxonomySerializer(serializers.ModelSerializer):
    n_classes = serializers.IntegerField(read_only=True)

    class Meta:
        model = TaxonomyVersion
        fields = ["id", "name", "version", "description", "frozen_at", "n_classes"]


class TaxonomyDetailSerializer(TaxonomySerializer):
    classes = DiagnosticClassSerializer(many=True, read_only=True)
    # The expanded pairs, so that a browser applies the rules without parsing
    # each class's `excludes`.
    rules = ExclusionRuleSerializer(many=True, read_only=True, source="exclusion_rules")

    class Meta(TaxonomySerializer.Meta):
        fields = [*TaxonomySerializer.Meta.fields, "classes", "rules"]


class ExamSerializer(serializers.ModelSerializer):
    """Exam metadata; the machine's statements (context
    ``show_machine_statements``) and measurements (``show_machine_measurements``)
    only where the caller may see them, each on its own campaign option.

    The source id and the acquisition time to the second are for managers
    (context ``show_source``); everyone else knows the exam by its
    ``display_key`` and at most the day it was recorded (``acquired_on``,
    null where the campaign hides it: context ``show_acquisition_date``).
    """

    display_key = serializers.CharField(read_only=True)
    exam_id = serializers.CharField(
        read_only=True, allow_null=True, help_text="The source's id (managers)."
    )
    acquired_on = serializers.DateField(read_only=True, allow_null=True)
    acquired_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="Managers only."
    )
    duration_s = serializers.FloatField(read_only=True)
    # Fields built from the model once per class: the introspection was most of
    # the cost of serializing the exam of every claim.
    _field_templates: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    class Meta:
        model = Exam
        fields = [
            "id",
            "display_key",
            "exam_id",
            "dataset",
            "patient_pseudonym",
            "age",
            "sex",
            "acquired_on",
            "acquired_at",
            "sampling_rate",
            "n_samples",
            "duration_s",
            "lead_names",
            "machine_statements",
            "measurements",
        ]

    def get_fields(self) -> dict[str, serializers.Field]:
        """The model's fields, built on first use; each instance gets copies."""
        templates = ExamSerializer._field_templates
        if type(self) not in templates:
            templates[type(self)] = super().get_fields()
        return copy.deepcopy(templates[type(self)])

    def to_representation(self, instance: Exam) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("show_source", False):
            data["exam_id"] = None
            data["acquired_at"] = None
            if not self.context.get("show_acquisition_date", True):
                data["acquired_on"] = None
        if not self.context.get("show_machine_statements", True):
            data["machine_statements"] = None
        if not self.context.get("show_machine_measurements", True):
            data["measurements"] = None
        return data


MANAGERS_ONLY = ("min_read_ms", "calibration_every", "reread_every")


class CampaignSerializer(serializers.ModelSerializer):
    taxonomy = serializers.PrimaryKeyRelatedField(read_only=True)
    readers = serializers.SlugRelatedField(
        slug_field="username", many=True, read_only=True
    )
    adjudicators = serializers.SlugRelatedField(
        slug_field="username", many=True, read_only=True
    )
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "description",
            "taxonomy",
            "readers_per_exam",
            "status",
            "readers",
            "adjudicators",
            "show_machine_statements",
            "show_machine_measurements",
            "show_acquisition_date",
            "display_filters",
            "adjudication_policy",
            "adjudication_codes",
            "majority_vote",
            "lease_minutes",
            "min_read_ms",
            "calibration_every",
            "reread_every",
            "created_at",
            "progress",
        ]

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_progress(self, campaign: Campaign) -> dict[str, int]:
        return campaign.progress_for(self.context["request"].user)

    def to_representation(self, instance: Campaign) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Many-to-many rows come back in no fixed order; the lists are sets.
        data["readers"] = sorted(data["readers"])
        data["adjudicators"] = sorted(data["adjudicators"])
        # The threshold that flags a read fast is the managers' (as the count
        # is), and so is how often checks are mixed into the readers' queues.
        if not is_manager(self.context["request"].user):
            for field in MANAGERS_ONLY:
                del data[field]
        return data


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    taxonomy = serializers.PrimaryKeyRelatedField(
        queryset=TaxonomyVersion.objects.all(), required=False
    )
    exams = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        allow_empty=False,
    )
    dataset = serializers.CharField(required=False, max_length=100)
    readers = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    adjudicators = serializers.ListField(
        child=serializers.CharField(), required=False, default=list
    )
    readers_per_exam = serializers.IntegerField(min_value=1, max_value=20, default=2)
    show_machine_statements = serializers.BooleanField(default=False)
    show_machine_measurements = serializers.BooleanField(default=True)
    show_acquisition_date = serializers.BooleanField(default=True)
    show_machine_readings = serializers.BooleanField(
        default=False,
        help_text=_("Adjudicators see the models' readings; readers never do."),
    )
    reference_source = serializers.ChoiceField(
        choices=Campaign.ReferenceSource.choices,
        default=Campaign.ReferenceSource.IMPORTED,
        help_text=_(
            "What readers are scored against: the imported reference standard or "
            "the resolved consensus."
        ),
    )
    display_filters = serializers.DictField(
        required=False,
        default=dict,
        help_text=_(
            'The viewer\'s starting filters, e.g. {"highpass": 0.5, "lowpass": 40, '
            '"notch": 60} (Hz); {} for none.'
        ),
    )
    adjudication_policy = serializers.ChoiceField(
        choices=Campaign.AdjudicationPolicy.choices,
        default=Campaign.AdjudicationPolicy.ANY,
    )
    adjudication_codes = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, default=list
    )
    majority_vote = serializers.BooleanField(default=False)
    lease_minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, required=False
    )
    min_read_ms = serializers.IntegerField(
        min_value=0,
        max_value=MAX_MIN_READ_MS,
        required=False,
        help_text=_(
            "Reads submitted sooner than this (ms after the ECG is drawn) are "
            "flagged fast; 0 flags none. Default 2000."
        ),
    )

    calibration_every = serializers.IntegerField(
        min_value=0,
        max_value=1000,
        default=0,
        help_text=_(
            "One claim in N serves a calibration exam, mixed blind into each "
            "reader's queue (N at least 2); 0 serves none."
        ),
    )
    reread_every = serializers.IntegerField(
        min_value=0,
        max_value=1000,
        default=0,
        help_text=_(
            "One claim in N serves again, blind, one of the reader's own earlier "
            "exams, for intra-rater agreement (N at least 2); 0 serves none."
        ),
    )

    def _users(self, usernames: list[str]) -> list[Any]:
        users = list(User.objects.filter(username__in=usernames, is_active=True))
        missing = sorted(set(usernames) - {u.username for u in users})
        if missing:
            raise serializers.ValidationError(f"Unknown users: {', '.join(missing)}.")
        return users

    def validate_readers(self, value: list[str]) -> list[Any]:
        return self._users(value)

    def validate_adjudicators(self, value: list[str]) -> list[Any]:
        return self._users(value)

    def validate_display_filters(self, value: dict[str, Any]) -> dict[str, Any]:
        return Campaign.checked_display_filters(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("exams" in attrs) == ("dataset" in attrs):
            raise serializers.ValidationError(
                "Give either 'exams' (a list of exam ids) or 'dataset' (a name)."
            )
        if "exams" in attrs:
            ids = set(attrs["exams"])
            found = set(Exam.objects.filter(pk__in=ids).values_list("pk", flat=True))
            missing = sorted(ids - found)
            if missing:
                shown = ", ".join(map(str, missing[:10]))
                raise serializers.ValidationError(
                    {
                        "exams": f"Unknown exam ids: {shown}"
                        + (
                            f" and {len(missing) - 10} more."
                            if len(missing) > 10
                            else "."
                        )
                    }
                )
        elif not Exam.objects.filter(dataset=attrs["dataset"]).exists():
            raise serializers.ValidationError(
                {"dataset": f"No exams in dataset {attrs['dataset']!r}."}
            )
        return attrs


class AssignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Assignment
        fields = ["id", "campaign", "exam", "status", "claimed_at", "lease_expires_at"]


class ClaimRequestSerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=MAX_ID,
        help_text="The claim being read: answer with the one to read after it.",
    )


class ClaimSerializer(serializers.Serializer):
    """The answer of ``POST /api/campaigns/{id}/next/``."""

    assignment = serializers.IntegerField()
    exam = ExamSerializer()
    lease_expires_at = serializers.DateTimeField()
    display_filters = serializers.DictField(
        help_text=_("The campaign's default display filters ({} for none).")
    )


class DecisionInputSerializer(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=100
    )
    quality = serializers.ListField(
        child=serializers.CharField(max_length=32),
        required=False,
        default=list,
        max_length=10,
    )
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_COMMENT
    )
    duration_ms = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_DURATION_MS
    )
    # Shapes only here; the rules (names, ranges, codes, leads) are clean_read's,
    # shared with the import path.
    measurements = serializers.JSONField(
        required=False,
        default=dict,
        help_text=_("Intervals in ms by name: RR, PR, QRS, QT, QTc."),
    )
    evidence = serializers.JSONField(
        required=False,
        default=list,
        help_text=_(
            "Where a chosen class is seen: [{code, start, end (s), leads: [name…]}]."
        ),
    )


class DecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    assignment = serializers.IntegerField(source="assignment_id")
    exam = serializers.IntegerField(source="assignment.exam_id")
    campaign = serializers.IntegerField(source="assignment.campaign_id")
    labels = serializers.ListField(child=serializers.CharField())
    quality = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField()
    measurements = serializers.DictField(child=serializers.FloatField())
    evidence = serializers.ListField(child=serializers.DictField())
    duration_ms = serializers.IntegerField(allow_null=True)
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RevisionSerializer(serializers.ModelSerializer):
    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = LabelRevision
        fields = [
            "version",
            "actor",
            "created_at",
            "old_labels",
            "new_labels",
            "old_quality",
            "new_quality",
            "measurements",
            "evidence",
            "note",
            "source",
        ]


class ReaderDecisionSerializer(serializers.Serializer):
    reader = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    quality = serializers.ListField(child=serializers.CharField())
    comment = serializers.CharField()
    measurements = serializers.DictField(child=serializers.FloatField())
    evidence = serializers.ListField(child=serializers.DictField())


class AdjudicationQueueItemSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    display_key = serializers.CharField()
    acquired_on = serializers.DateField(
        allow_null=True, help_text="Null where the campaign hides it."
    )
    state = serializers.CharField()
    decisions = ReaderDecisionSerializer(many=True)
    disagreeing_classes = serializers.ListField(child=serializers.CharField())
    adjudication = serializers.DictField(allow_null=True)


class AdjudicationInputSerializer(serializers.Serializer):
    labels = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=100
    )
    note = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=MAX_COMMENT
    )


class ReferenceEntrySerializer(serializers.Serializer):
    exam = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The exam's database id."
    )
    labels = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=100
    )


class ReferenceInputSerializer(serializers.Serializer):
    """Reference labels to store (new exams added, changed ones replaced)."""

    labels = ReferenceEntrySerializer(many=True, max_length=50_000, min_length=1)


class MachineReadingsInputSerializer(serializers.Serializer):
    """A model's readings to store (new exams added, changed ones replaced)."""

    machine = serializers.RegexField(
        r"^[\w.@+-]{1,150}$",
        help_text="The model's account name (created as a machine if new).",
    )
    labels = ReferenceEntrySerializer(many=True, max_length=50_000, min_length=1)


class MachineSummarySerializer(serializers.Serializer):
    machine = serializers.CharField()
    n_exams = serializers.IntegerField()
    created = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class CalibrationInputSerializer(serializers.Serializer):
    """Exams to make calibration exams, or (``calibration`` false) to return
    to the pool."""

    exams = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=50_000,
        help_text=_("The exams' database ids."),
    )
    calibration = serializers.BooleanField(default=True)


class CalibrationSerializer(serializers.Serializer):
    exams = serializers.ListField(child=serializers.IntegerField())
    calibration_every = serializers.IntegerField()
    reread_every = serializers.IntegerField()
    marked = serializers.IntegerField(required=False)
    returned = serializers.IntegerField(required=False)
    unchanged = serializers.IntegerField(required=False)


class ReferenceSummarySerializer(serializers.Serializer):
    source = serializers.CharField(allow_null=True)
    n_exams = serializers.IntegerField()
    created = serializers.IntegerField(required=False)
    changed = serializers.IntegerField(required=False)
    unchanged = serializers.IntegerField(required=False)


class AdjudicationSerializer(serializers.ModelSerializer):
    adjudicator = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Adjudication
        fields = [
            "id",
            "campaign",
            "exam",
            "adjudicator",
            "labels",
            "note",
            "version",
            "created_at",
            "updated_at",
        ]


class JobSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    stalled = serializers.BooleanField(source="is_stalled", read_only=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "kind",
            "campaign",
            "params",
            "status",
            "progress",
            "result",
            "output_sha256",
            "error",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "stalled",
        ]


class JobListSerializer(JobSerializer):
    """A job in a list: a short ``summary`` instead of the full result (an agreement
    report can be megabytes; fetch it from the job's detail)."""

    summary = serializers.DictField(read_only=True, allow_null=True)

    class Meta(JobSerializer.Meta):
        fields = [f for f in JobSerializer.Meta.fields if f != "result"] + ["summary"]


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
