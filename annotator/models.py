"""The domain model: exams, taxonomies, campaigns, reads, adjudications and jobs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

AGE_CAP = 90  # ages above 89 are identifying (HIPAA Safe Harbor); 90 means "90 or more"


class Role(models.TextChoices):
    """Django groups that carry the workflow roles; admins are superusers."""

    READER = "reader", "Reader"
    ADJUDICATOR = "adjudicator", "Adjudicator"
    MANAGER = "manager", "Manager"


# --- Exams ---------------------------------------------------------------------


class ExamQuerySet(models.QuerySet):
    def in_dataset(self, dataset: str) -> ExamQuerySet:
        return self.filter(dataset=dataset)

    def in_campaign(self, campaign: Campaign) -> ExamQuerySet:
        return self.filter(campaign_links__campaign=campaign)

    def visible_to(self, user: Any) -> ExamQuerySet:
        """Managers see every exam; readers the exams they hold or read;
        adjudicators the exams that reached adjudication in their campaigns."""
        from annotator.roles import is_manager

        if is_manager(user):
            return self
        held = Assignment.objects.filter(
            exam=models.OuterRef("pk"),
            reader=user,
            status__in=[Assignment.Status.CLAIMED, Assignment.Status.SUBMITTED],
        )
        adjudicable = CampaignExam.objects.filter(
            exam=models.OuterRef("pk"),
            campaign__adjudicators=user,
            consensus_state__in=[
                CampaignExam.ConsensusState.NEEDS_ADJUDICATION,
                CampaignExam.ConsensusState.ADJUDICATED,
            ],
        )
        return self.filter(models.Exists(held) | models.Exists(adjudicable))


class Exam(models.Model):
    """One 12-lead recording; the signal itself lives in storage at ``signal_key``."""

    class Sex(models.TextChoices):
        FEMALE = "F", "Female"
        MALE = "M", "Male"
        UNKNOWN = "U", "Unknown"

    dataset = models.CharField(max_length=100)
    exam_id = models.CharField(
        max_length=200, help_text="The source's id for the exam."
    )
    patient_pseudonym = models.CharField(max_length=32, db_index=True)
    age = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=f"Years; {AGE_CAP} means {AGE_CAP} or older."
    )
    sex = models.CharField(max_length=1, choices=Sex.choices, default=Sex.UNKNOWN)
    acquired_at = models.DateTimeField(null=True, blank=True)
    sampling_rate = models.FloatField(help_text="Samples per second per lead.")
    n_samples = models.PositiveIntegerField()
    lead_names = models.JSONField(help_text="Lead order of the stored signal.")
    signal_key = models.CharField(max_length=255, unique=True)
    signal_dtype = models.CharField(max_length=8, default="int16")
    signal_gain = models.FloatField(
        default=1.0, help_text="Microvolts per stored integer unit."
    )
    signal_sha256 = models.CharField(max_length=64)
    source_format = models.CharField(max_length=16)
    machine_statements = models.JSONField(default=list, blank=True)
    measurements = models.JSONField(
        default=dict, blank=True, help_text="HR, PR, QRS, QT, QTc, axes, when known."
    )
    notes = models.JSONField(default=list, blank=True, help_text="Importer notes.")
    imported_at = models.DateTimeField(default=timezone.now)

    objects = ExamQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "exam_id"], name="exam_unique_per_dataset"
            ),
            models.CheckConstraint(
                condition=Q(sampling_rate__gt=0), name="exam_sampling_rate_positive"
            ),
            models.CheckConstraint(
                condition=Q(n_samples__gt=0), name="exam_has_samples"
            ),
            models.CheckConstraint(
                condition=Q(age__isnull=True) | Q(age__lte=AGE_CAP),
                name="exam_age_capped",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset}/{self.exam_id}"

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_rate


class PatientLink(models.Model):
    """Maps a source's patient id to the random pseudonym. Managers only.

    Kept apart from ``Exam`` so that nothing that reads exams (API, exports,
    logs) can reach a source patient id by accident.
    """

    dataset = models.CharField(max_length=100)
    source_patient_id = models.CharField(max_length=200)
    pseudonym = models.CharField(max_length=32, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "source_patient_id"], name="patient_link_unique"
            )
        ]

    def __str__(self) -> str:
        return self.pseudonym


# --- Taxonomy ------------------------------------------------------------------


_FROZEN_SHAPES: dict[tuple[int, Any], tuple[tuple[str, ...], dict[str, Any]]] = {}


class TaxonomyVersion(models.Model):
    """A named, versioned set of diagnostic classes; frozen once labels use it."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=32)
    description = models.TextField(blank=True)
    source = models.CharField(
        max_length=255, blank=True, help_text="File it came from."
    )
    frozen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="taxonomy_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def freeze(self) -> None:
        """Mark the version as in use; its classes can no longer change."""
        if self.frozen_at is None:
            TaxonomyVersion.objects.filter(pk=self.pk, frozen_at__isnull=True).update(
                frozen_at=timezone.now()
            )
            self.refresh_from_db(fields=["frozen_at"])

    def codes(self) -> list[str]:
        """Class codes in display order: the column order of tensors and exports."""
        return list(self._shape()[0])

    def exclusive_groups(self) -> dict[str, list[str]]:
        """Group name → codes of which at most one may be chosen."""
        return {group: list(codes) for group, codes in self._shape()[1].items()}

    def _shape(self) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        # A frozen taxonomy never changes, so its codes are read once per process
        # (every submitted read validates against them).
        key = (self.pk, self.frozen_at)
        if key in _FROZEN_SHAPES:
            return _FROZEN_SHAPES[key]
        rows = list(
            self.classes.order_by("display_order", "code").values_list(
                "code", "exclusive_group"
            )
        )
        groups: dict[str, list[str]] = {}
        for code, group in rows:
            if group:
                groups.setdefault(group, []).append(code)
        shape = (
            tuple(code for code, _ in rows),
            {group: tuple(codes) for group, codes in groups.items()},
        )
        if self.is_frozen:
            _FROZEN_SHAPES[key] = shape
        return shape


class DiagnosticClass(models.Model):
    taxonomy = models.ForeignKey(
        TaxonomyVersion, on_delete=models.CASCADE, related_name="classes"
    )
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    group = models.CharField(max_length=64)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    snomed_ct = models.CharField(max_length=32, blank=True)
    definition = models.TextField(blank=True)
    display_order = models.PositiveIntegerField(default=0)
    shortcut = models.CharField(max_length=1, blank=True, help_text="Keyboard hint.")
    exclusive_group = models.CharField(
        max_length=64,
        blank=True,
        help_text="Classes sharing a non-empty value are mutually exclusive.",
    )

    class Meta:
        ordering = ["taxonomy", "display_order", "code"]
        verbose_name_plural = "diagnostic classes"
        constraints = [
            models.UniqueConstraint(
                fields=["taxonomy", "code"], name="class_code_unique"
            ),
            models.UniqueConstraint(
                fields=["taxonomy", "shortcut"],
                condition=~Q(shortcut=""),
                name="class_shortcut_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.taxonomy.is_frozen:
            raise ValidationError(
                f"Taxonomy {self.taxonomy} is frozen (labels refer to it); "
                "load a new version instead of editing this one."
            )
        super().save(*args, **kwargs)


# --- Campaigns and reads -------------------------------------------------------


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> CampaignQuerySet:
        """Managers see every campaign; others the ones they read or adjudicate."""
        from annotator.roles import is_manager

        if is_manager(user):
            return self
        return self.filter(
            models.Exists(
                Campaign.readers.through.objects.filter(
                    campaign=models.OuterRef("pk"), user=user
                )
            )
            | models.Exists(
                Campaign.adjudicators.through.objects.filter(
                    campaign=models.OuterRef("pk"), user=user
                )
            )
        )


class Campaign(models.Model):
    """A labeling project: which exams, which taxonomy, who reads, how blinded."""

    class AdjudicationPolicy(models.TextChoices):
        ANY = "any", "Any disagreement"
        CLASSES = "classes", "Disagreement on chosen classes"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    taxonomy = models.ForeignKey(
        TaxonomyVersion, on_delete=models.PROTECT, related_name="campaigns"
    )
    exams = models.ManyToManyField(
        Exam, through="CampaignExam", related_name="campaigns"
    )
    readers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="reader_campaigns", blank=True
    )
    adjudicators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="adjudicator_campaigns", blank=True
    )
    readers_per_exam = models.PositiveSmallIntegerField(default=2)
    show_machine_statements = models.BooleanField(
        default=False, help_text="Readers see the machine's automatic statements."
    )
    show_other_readers = models.BooleanField(
        default=False, help_text="Readers see other readers' labels (unblinded)."
    )
    adjudication_policy = models.CharField(
        max_length=16,
        choices=AdjudicationPolicy.choices,
        default=AdjudicationPolicy.ANY,
    )
    adjudication_codes = models.JSONField(
        default=list,
        blank=True,
        help_text="Classes that need adjudication (policy 'classes').",
    )
    majority_vote = models.BooleanField(
        default=False,
        help_text="With 3 or more readers, a majority settles a disagreement.",
    )
    lease_minutes = models.PositiveIntegerField(default=30)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(readers_per_exam__gte=1), name="campaign_overlap_positive"
            ),
            models.CheckConstraint(
                condition=Q(lease_minutes__gte=1), name="campaign_lease_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignExam(models.Model):
    """An exam's place in a campaign: how many readers hold it and its consensus state.

    ``n_assigned`` is the claim counter: a claim succeeds only through a
    conditional UPDATE that keeps it at or below the campaign's overlap.
    """

    class ConsensusState(models.TextChoices):
        PENDING = "pending", "Pending reads"
        SINGLE = "single", "Single read (one reader per exam)"
        UNANIMOUS = "unanimous", "Unanimous"
        MAJORITY = "majority", "Majority"
        POLICY = "policy", "Settled by policy (no class needing adjudication differs)"
        NEEDS_ADJUDICATION = "needs_adjudication", "Needs adjudication"
        ADJUDICATED = "adjudicated", "Adjudicated"

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="exam_links"
    )
    exam = models.ForeignKey(
        Exam, on_delete=models.PROTECT, related_name="campaign_links"
    )
    n_assigned = models.PositiveSmallIntegerField(default=0)
    # n_assigned < the campaign's overlap; kept beside the counter so the claim
    # query walks a partial index of open exams only, however large the campaign.
    is_open = models.BooleanField(default=True)
    n_submitted = models.PositiveSmallIntegerField(default=0)
    consensus_state = models.CharField(
        max_length=24, choices=ConsensusState.choices, default=ConsensusState.PENDING
    )
    consensus_labels = models.JSONField(null=True, blank=True)
    disagreeing_classes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "exam"], name="campaign_exam_unique"
            ),
            models.CheckConstraint(
                condition=Q(n_submitted__lte=models.F("n_assigned")),
                name="campaign_exam_submitted_le_assigned",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "consensus_state"]),
            models.Index(
                fields=["campaign", "exam"],
                condition=Q(is_open=True),
                name="campaign_exam_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.exam_id}"


class Assignment(models.Model):
    """One reader holding one exam of a campaign, from claim to submitted read."""

    class Status(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        SUBMITTED = "submitted", "Submitted"
        EXPIRED = "expired", "Lease expired"

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="assignments"
    )
    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, related_name="assignments")
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.CLAIMED
    )
    claimed_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "exam", "reader"], name="assignment_unique_reader"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "reader", "status"]),
            models.Index(fields=["campaign", "reader", "exam"]),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.exam_id}:{self.reader_id}"


class Decision(models.Model):
    """A reader's read of an exam. Every change is recorded in ``LabelRevision``."""

    class Quality(models.TextChoices):
        NOISE = "noise", "Noise / artefact"
        LEAD_REVERSAL = "lead_reversal", "Lead reversal"
        INCOMPLETE = "incomplete", "Incomplete / missing leads"

    assignment = models.OneToOneField(
        Assignment, on_delete=models.PROTECT, related_name="decision"
    )
    labels = models.JSONField(default=list, help_text="Class codes, taxonomy order.")
    quality = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(version__gte=1), name="decision_version_positive"
            )
        ]

    def __str__(self) -> str:
        return f"decision {self.pk} v{self.version}"


class Adjudication(models.Model):
    """The final label set an adjudicator chose for a disagreeing exam."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="adjudications"
    )
    exam = models.ForeignKey(
        Exam, on_delete=models.PROTECT, related_name="adjudications"
    )
    adjudicator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="adjudications"
    )
    labels = models.JSONField(default=list)
    note = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "exam"], name="adjudication_unique"
            )
        ]

    def __str__(self) -> str:
        return f"adjudication {self.campaign_id}:{self.exam_id}"


class LabelRevision(models.Model):
    """Append-only history of every label change (reads and adjudications).

    Rows are written once and never changed: ``save`` refuses updates,
    ``delete`` refuses, and on PostgreSQL a trigger refuses UPDATE and DELETE
    even from raw SQL.
    """

    class Kind(models.TextChoices):
        DECISION = "decision", "Reader decision"
        ADJUDICATION = "adjudication", "Adjudication"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    decision = models.ForeignKey(
        Decision,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revisions",
    )
    adjudication = models.ForeignKey(
        Adjudication,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="revisions",
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="+")
    exam = models.ForeignKey(Exam, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="label_revisions",
    )
    version = models.PositiveIntegerField()
    old_labels = models.JSONField(null=True, blank=True)
    new_labels = models.JSONField()
    old_quality = models.JSONField(null=True, blank=True)
    new_quality = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    source = models.CharField(
        max_length=16, default="api", help_text="api, web, import…"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        kind="decision",
                        decision__isnull=False,
                        adjudication__isnull=True,
                    )
                    | Q(
                        kind="adjudication",
                        decision__isnull=True,
                        adjudication__isnull=False,
                    )
                ),
                name="revision_refers_to_its_kind",
            ),
            models.UniqueConstraint(
                fields=["decision", "version"],
                condition=Q(decision__isnull=False),
                name="revision_decision_version_unique",
            ),
            models.UniqueConstraint(
                fields=["adjudication", "version"],
                condition=Q(adjudication__isnull=False),
                name="revision_adjudication_version_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} revision {self.pk} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise ValidationError(
                "Label history is append-only; revisions cannot change."
            )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ValidationError(
            "Label history is append-only; revisions cannot be deleted."
        )


# --- Background jobs -----------------------------------------------------------


class Job(models.Model):
    """A background job's state; the database, not Celery's results, is the truth."""

    class Kind(models.TextChoices):
        AGREEMENT = "agreement", "Agreement report"
        EXPORT = "export", "Label export"
        IMPORT = "import", "Exam import"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    output_key = models.CharField(max_length=255, blank=True)
    output_sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(progress__gte=0, progress__lte=100),
                name="job_progress_0_100",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}
