"""Reads: claims, decisions, adjudications and the append-only label history."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from annotator.models.campaigns import Campaign, CampaignExam
from annotator.models.exams import Exam


class AssignmentStatus(models.TextChoices):
    CLAIMED = "claimed", "Claimed"
    SUBMITTED = "submitted", "Submitted"
    EXPIRED = "expired", "Lease expired"


class AssignmentKind(models.TextChoices):
    READ = "read", "Read (for the consensus)"
    CALIBRATION = "calibration", "Calibration exam (scored against its reference)"
    REREAD = "reread", "Re-read of the reader's own exam (intra-rater agreement)"


# A claim the reader still holds or has read; an expired one is neither.
HOLDING = (AssignmentStatus.CLAIMED, AssignmentStatus.SUBMITTED)


class AssignmentQuerySet(models.QuerySet):
    def holding(self) -> AssignmentQuerySet:
        """Claims a reader still holds or has read (not the expired ones)."""
        return self.filter(status__in=HOLDING)


class Assignment(models.Model):
    """One reader holding one exam of a campaign, from claim to submitted read.

    Most claims are reads for the consensus. The others (``kind``), mixed blind
    into the queue, check the reader: a calibration exam, scored against its
    reference, or a re-read of one of the reader's own exams. They never count
    on the exam's link (claims, reads, consensus) and look the same to the
    reader in every payload.
    """

    Status = AssignmentStatus
    Kind = AssignmentKind

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
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        default=Kind.READ,
        db_default=Kind.READ,
    )
    claimed_at = models.DateTimeField(default=timezone.now)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "exam", "reader", "kind"],
                name="assignment_unique_reader_kind",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "reader", "status"]),
            models.Index(fields=["campaign", "reader", "exam"]),
            # The exams a reader holds or read, across campaigns, in exam order
            # (their exam list); partial, so the page is read from the index.
            models.Index(
                fields=["reader", "exam"],
                condition=Q(status__in=HOLDING),
                name="assignment_reader_holding",
            ),
            models.Index(fields=["status", "lease_expires_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.exam_id}:{self.reader_id}"

    @property
    def is_check(self) -> bool:
        """A calibration exam or a re-read: outside the exam's consensus."""
        return self.kind != AssignmentKind.READ


class DecisionQuerySet(models.QuerySet):
    def of_reader_in(self, reader: Any, campaign: Campaign) -> DecisionQuerySet:
        """One reader's reads in one campaign, newest first."""
        return self.filter(reader_id=reader.pk, assignment__campaign=campaign).order_by(
            "-id"
        )

    def with_lock_state(self) -> DecisionQuerySet:
        """Annotate what ``Decision.locked`` needs: the exam's consensus state
        in the read's campaign and the campaign's readers per exam."""
        link = CampaignExam.objects.filter(
            campaign_id=OuterRef("assignment__campaign_id"),
            exam_id=OuterRef("assignment__exam_id"),
        )
        return self.annotate(
            link_state=Subquery(link.values("consensus_state")[:1]),
            link_readers=F("assignment__campaign__readers_per_exam"),
            read_kind=F("assignment__kind"),
        )


class Decision(models.Model):
    """A reader's read of an exam. Every change is recorded in ``LabelRevision``."""

    class Quality(models.TextChoices):
        NOISE = "noise", "Noise / artefact"
        LEAD_REVERSAL = "lead_reversal", "Lead reversal"
        INCOMPLETE = "incomplete", "Incomplete / missing leads"

    assignment = models.OneToOneField(
        Assignment, on_delete=models.PROTECT, related_name="decision"
    )
    # The assignment's reader, copied so a reader's reads page on one index
    # (reader, id) instead of joining every assignment.
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="decisions",
        db_index=False,
    )
    labels = models.JSONField(default=list, help_text="Class codes, taxonomy order.")
    quality = models.JSONField(default=list, blank=True)
    comment = models.TextField(blank=True)
    measurements = models.JSONField(
        default=dict,
        db_default=models.Value({}, output_field=models.JSONField()),
        blank=True,
        help_text="Intervals the reader measured, in ms: RR, PR, QRS, QT, QTc.",
    )
    evidence = models.JSONField(
        default=list,
        db_default=models.Value([], output_field=models.JSONField()),
        blank=True,
        help_text="Where a chosen class is seen: {code, start, end (s), leads}.",
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Submitted sooner than the campaign's minimum reading time (kept, not refused).
    fast = models.BooleanField(default=False, db_default=False)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = DecisionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(version__gte=1), name="decision_version_positive"
            )
        ]
        indexes = [models.Index(fields=["reader", "id"], name="decision_reader_order")]

    def __str__(self) -> str:
        return f"decision {self.pk} v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.reader_id is None and self.assignment_id is not None:
            self.reader_id = self.assignment.reader_id
        super().save(*args, **kwargs)

    @property
    def locked(self) -> bool:
        """Whether the read can no longer change (from ``with_lock_state``).

        A calibration read or a re-read never feeds a consensus, so nothing
        settles it: it stays editable, as a read of a pending exam does.
        """
        if self.read_kind != AssignmentKind.READ:
            return False
        return CampaignExam.reads_locked(self.link_state, self.link_readers)


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


class _LabelSet(models.Model):
    """One exam's label set kept outside the reading workflow, versioned; every
    version is an entry of the label history."""

    labels = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True
        ordering = ["id"]


class ReferenceLabel(_LabelSet):
    """An exam's label set in the campaign's reference standard (a gold standard
    read elsewhere). One per exam and campaign; every version is in the history."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="reference_labels"
    )
    exam = models.ForeignKey(
        Exam, on_delete=models.PROTECT, related_name="reference_labels"
    )

    class Meta(_LabelSet.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "exam"], name="reference_label_unique"
            )
        ]

    def __str__(self) -> str:
        return f"reference {self.campaign_id}:{self.exam_id}"


class MachineReading(_LabelSet):
    """A model's reading of an exam: its predicted classes, imported.

    Kept apart from the people's reads: no claim, no slot of the overlap, no
    part in the consensus or the adjudication queue, and no route a reader or
    adjudicator uses shows it. The agreement report counts it as a reader,
    marked as a machine.
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="machine_readings"
    )
    exam = models.ForeignKey(
        Exam, on_delete=models.PROTECT, related_name="machine_readings"
    )
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta(_LabelSet.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "exam", "reader"], name="machine_reading_unique"
            )
        ]

    def __str__(self) -> str:
        return f"machine reading {self.campaign_id}:{self.exam_id}:{self.reader_id}"


class LabelRevisionQuerySet(models.QuerySet):
    def record(
        self,
        *,
        of: Decision | Adjudication | ReferenceLabel | MachineReading,
        actor: Any,
        version: int,
        old_labels: list[str] | None,
        new_labels: list[str],
        old_quality: list[str] | None = None,
        new_quality: list[str] | None = None,
        measurements: dict[str, float] | None = None,
        evidence: list[dict[str, Any]] | None = None,
        fast: bool = False,
        note: str = "",
        source: str = "api",
        created_at: Any = None,
    ) -> LabelRevision:
        """Append one entry to the history: the only way a revision is written.

        ``of`` is the decision or adjudication that changed; its campaign and
        exam are taken from it (a decision's through its assignment, which the
        caller has loaded).
        """
        if isinstance(of, Decision):
            assignment = of.assignment
            target = {
                "kind": LabelRevision.Kind.DECISION,
                "decision": of,
                "campaign_id": assignment.campaign_id,
                "exam_id": assignment.exam_id,
            }
        elif isinstance(of, MachineReading):
            target = {
                "kind": LabelRevision.Kind.MACHINE,
                "machine_reading": of,
                "campaign_id": of.campaign_id,
                "exam_id": of.exam_id,
            }
        elif isinstance(of, ReferenceLabel):
            target = {
                "kind": LabelRevision.Kind.REFERENCE,
                "reference": of,
                "campaign_id": of.campaign_id,
                "exam_id": of.exam_id,
            }
        else:
            target = {
                "kind": LabelRevision.Kind.ADJUDICATION,
                "adjudication": of,
                "campaign_id": of.campaign_id,
                "exam_id": of.exam_id,
            }
        return self.create(
            **target,
            actor=actor,
            version=version,
            old_labels=old_labels,
            new_labels=new_labels,
            old_quality=old_quality,
            new_quality=new_quality if new_quality is not None else [],
            measurements=measurements or {},
            evidence=evidence or [],
            fast=fast,
            note=note,
            source=source,
            created_at=created_at or timezone.now(),
        )


_TARGETS = ("decision", "adjudication", "reference", "machine_reading")


def _revision_of(model: type[models.Model]) -> models.ForeignKey:
    """A revision's link to what changed: one of them is set, by its kind."""
    return models.ForeignKey(
        model, null=True, blank=True, on_delete=models.PROTECT, related_name="revisions"
    )


def _refers_to(kind: str, field: str) -> Q:
    """A revision of ``kind`` points at its ``field`` and at nothing else."""
    return Q(
        kind=kind,
        **{f"{name}__isnull": name != field for name in _TARGETS},
    )


class LabelRevision(models.Model):
    """Append-only history of every label change (reads and adjudications).

    Rows are written once and never changed: ``save`` refuses updates,
    ``delete`` refuses, and on PostgreSQL a trigger refuses UPDATE and DELETE
    even from raw SQL.
    """

    class Kind(models.TextChoices):
        DECISION = "decision", "Reader decision"
        ADJUDICATION = "adjudication", "Adjudication"
        REFERENCE = "reference", "Reference standard"
        MACHINE = "machine", "Machine reading"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    decision = _revision_of(Decision)
    adjudication = _revision_of(Adjudication)
    reference = _revision_of(ReferenceLabel)
    machine_reading = _revision_of(MachineReading)
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
    # The version's measurements and evidence (reads only), as stored; the
    # database defaults keep rows written outside the ORM complete.
    measurements = models.JSONField(
        default=dict,
        db_default=models.Value({}, output_field=models.JSONField()),
        blank=True,
    )
    evidence = models.JSONField(
        default=list,
        db_default=models.Value([], output_field=models.JSONField()),
        blank=True,
    )
    fast = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Submitted within the campaign's minimum time.",
    )
    note = models.TextField(blank=True)
    source = models.CharField(
        max_length=16, default="api", help_text="api, web, import…"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = LabelRevisionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=_refers_to("decision", "decision")
                | _refers_to("adjudication", "adjudication")
                | _refers_to("reference", "reference")
                | _refers_to("machine", "machine_reading"),
                name="revision_refers_to_its_kind",
            ),
            models.UniqueConstraint(
                fields=["decision", "version"],
                condition=Q(decision__isnull=False),
                name="revision_decision_version_unique",
            ),
            models.UniqueConstraint(
                fields=["machine_reading", "version"],
                condition=Q(machine_reading__isnull=False),
                name="revision_machine_version_unique",
            ),
            models.UniqueConstraint(
                fields=["reference", "version"],
                condition=Q(reference__isnull=False),
                name="revision_reference_version_unique",
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
