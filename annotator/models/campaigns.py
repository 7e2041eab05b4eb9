"""Campaigns, their readers, and the place of each exam in one.

Who may do what in a campaign (read, adjudicate, see the machine's statements
and measurements) and how far it has come are answered here, once, for the API,
the pages, the jobs and the commands. Progress is kept in counters that the
services move in the same transactions that claim, submit and settle, so no page
counts rows.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from annotator.models import fields
from annotator.models.exams import Exam
from annotator.models.taxonomy import TaxonomyVersion
from annotator.roles import is_manager

# The longest minimum reading time a campaign may ask for (10 minutes).
MAX_MIN_READ_MS = 600_000


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> CampaignQuerySet:
        """Managers see every campaign; others the ones they read or adjudicate."""
        if is_manager(user):
            return self
        return self.filter(
            models.Exists(
                CampaignReader.objects.filter(campaign=models.OuterRef("pk"), user=user)
            )
            | models.Exists(
                Campaign.adjudicators.through.objects.filter(
                    campaign=models.OuterRef("pk"), user=user
                )
            )
        )

    def read_by(self, user: Any) -> CampaignQuerySet:
        return self.filter(
            models.Exists(
                CampaignReader.objects.filter(campaign=models.OuterRef("pk"), user=user)
            )
        )

    def with_progress(self, user: Any) -> CampaignQuerySet:
        """Annotate the caller's own counters (``my_reads_submitted``,
        ``my_claims_open``) and roles (``caller_reads``, ``caller_adjudicates``),
        and for managers the reads flagged fast (``n_reads_fast``): one row per
        campaign, whatever its size."""
        mine = CampaignReader.objects.filter(campaign=models.OuterRef("pk"), user=user)
        queryset = self
        if is_manager(user):
            queryset = queryset.annotate(
                n_reads_fast=models.Subquery(
                    _fast_decisions()
                    .filter(assignment__campaign=models.OuterRef("pk"))
                    .values("assignment__campaign")
                    .annotate(n=models.Count("pk"))
                    .values("n")
                )
            )
        return queryset.annotate(
            my_reads_submitted=models.Subquery(mine.values("n_submitted")[:1]),
            my_claims_open=models.Subquery(
                _open_claims(user)
                .filter(campaign=models.OuterRef("pk"))
                .values("campaign")
                .annotate(n=models.Count("pk"))
                .values("n")
            ),
            caller_reads=models.Exists(mine),
            caller_adjudicates=models.Exists(
                Campaign.adjudicators.through.objects.filter(
                    campaign=models.OuterRef("pk"), user=user
                )
            ),
        )

    def exam_list_view(self, user: Any) -> dict[str, bool]:
        """What the exam list outside a campaign shows the user, in one query.

        ``show_machine_statements`` and ``show_machine_measurements``: unless
        the user reads in a campaign that blinds its readers to them.
        ``show_acquisition_date`` (the day): unless a campaign they read or
        adjudicate hides it. ``show_source`` (the source id and the time of
        day): managers only, who see it all.
        """
        if is_manager(user):
            return dict.fromkeys(
                (
                    "show_machine_statements",
                    "show_machine_measurements",
                    "show_acquisition_date",
                    "show_source",
                ),
                True,
            )
        reads = models.Exists(
            CampaignReader.objects.filter(campaign=models.OuterRef("pk"), user=user)
        )
        found = (
            self.visible_to(user)
            .annotate(reads=reads)
            .aggregate(
                blinded=models.Count(
                    "pk", filter=Q(reads=True, show_machine_statements=False)
                ),
                unmeasured=models.Count(
                    "pk", filter=Q(reads=True, show_machine_measurements=False)
                ),
                dateless=models.Count("pk", filter=Q(show_acquisition_date=False)),
            )
        )
        return {
            "show_machine_statements": not found["blinded"],
            "show_machine_measurements": not found["unmeasured"],
            "show_acquisition_date": not found["dateless"],
            "show_source": False,
        }


class Campaign(models.Model):
    """A labeling project: which exams, which taxonomy, who reads, how blinded."""

    class AdjudicationPolicy(models.TextChoices):
        ANY = "any", "Any disagreement"
        CLASSES = "classes", "Disagreement on chosen classes"

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open")
        PAUSED = "paused", _("Paused")
        CLOSED = "closed", _("Closed")

    class ReferenceSource(models.TextChoices):
        IMPORTED = "imported", _("The imported reference standard")
        CONSENSUS = "consensus", _("The adjudicated consensus")

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    taxonomy = models.ForeignKey(
        TaxonomyVersion, on_delete=models.PROTECT, related_name="campaigns"
    )
    exams = models.ManyToManyField(
        Exam, through="CampaignExam", related_name="campaigns"
    )
    readers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="CampaignReader",
        related_name="reader_campaigns",
        blank=True,
    )
    adjudicators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="adjudicator_campaigns", blank=True
    )
    readers_per_exam = models.PositiveSmallIntegerField(default=2)
    status = models.CharField(
        max_length=8,
        choices=Status.choices,
        default=Status.OPEN,
        help_text=_(
            "Only an open campaign hands out exams to read; a paused one keeps "
            "its readers' unfinished claims and hands out no new ones."
        ),
    )
    show_machine_statements = models.BooleanField(
        default=False, help_text="Readers see the machine's automatic statements."
    )
    show_machine_measurements = models.BooleanField(
        default=True,
        help_text=_(
            "Readers see the machine's measurements (heart rate, intervals, axes)."
        ),
    )
    show_machine_readings = models.BooleanField(
        default=False,
        help_text=_(
            "Adjudicators see the models' readings (machine readers) beside the "
            "readers' reads. Readers never see them."
        ),
    )
    show_acquisition_date = models.BooleanField(
        default=True,
        help_text=_(
            "Readers and adjudicators see the day each exam was recorded "
            "(never the time)."
        ),
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
    display_filters = models.JSONField(
        default=dict,
        blank=True,
        help_text=_(
            "Display filters the viewer starts with, e.g. "
            '{"highpass": 0.5, "lowpass": 40, "notch": 60} (Hz); none when empty.'
        ),
    )
    reference_source = models.CharField(
        max_length=16,
        choices=ReferenceSource.choices,
        default=ReferenceSource.IMPORTED,
        help_text=_(
            "What readers are scored against: the reference labels imported for "
            "the campaign (none until some are), or the exams' resolved consensus."
        ),
    )
    calibration_every = models.PositiveSmallIntegerField(
        default=0,
        help_text=_(
            "One claim in this many serves a calibration exam (an exam with a "
            "reference, kept out of the consensus), mixed blind into the queue; "
            "0 serves none."
        ),
    )
    reread_every = models.PositiveSmallIntegerField(
        default=0,
        help_text=_(
            "One claim in this many serves again, blind, one of the reader's own "
            "earlier exams, for intra-rater agreement; 0 serves none."
        ),
    )
    lease_minutes = models.PositiveIntegerField(default=30)
    min_read_ms = models.PositiveIntegerField(
        default=2000,
        help_text=_(
            "Reads submitted sooner than this (ms after the ECG is drawn) are "
            "flagged fast; 0 flags none."
        ),
    )
    created_by = fields.created_by(related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # Progress counters, moved by the services in the transactions that add
    # exams, claim, submit, release and settle (never counted per request).
    n_exams = models.PositiveIntegerField(default=0)
    n_reads_submitted = models.PositiveIntegerField(default=0)
    n_claims_open = models.PositiveIntegerField(default=0)
    n_pending = models.PositiveIntegerField(default=0)
    n_single = models.PositiveIntegerField(default=0)
    n_unanimous = models.PositiveIntegerField(default=0)
    n_majority = models.PositiveIntegerField(default=0)
    n_policy = models.PositiveIntegerField(default=0)
    n_needs_adjudication = models.PositiveIntegerField(default=0)
    n_adjudicated = models.PositiveIntegerField(default=0)
    n_calibration = models.PositiveIntegerField(default=0)

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

    def clean(self) -> None:
        """Rules of the campaign's own fields (the services check the rest)."""
        errors: dict[str, str] = {}
        codes = self.adjudication_codes or []
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            errors["adjudication_codes"] = _("A list of class codes.")
        elif self.adjudication_policy == self.AdjudicationPolicy.CLASSES and not codes:
            errors["adjudication_codes"] = _(
                "Policy 'classes' needs classes to adjudicate."
            )
        if not errors.get("adjudication_codes") and codes and self.taxonomy_id:
            unknown = sorted(set(codes) - set(self.taxonomy.codes()))
            if unknown:
                errors["adjudication_codes"] = _(
                    "Unknown class codes for adjudication: %(codes)s."
                ) % {"codes": ", ".join(unknown)}
        if not 0 <= (self.min_read_ms or 0) <= MAX_MIN_READ_MS:
            errors["min_read_ms"] = _(
                "The minimum reading time is 0 to %(most)s ms."
            ) % {"most": MAX_MIN_READ_MS}
        for field in ("calibration_every", "reread_every"):
            if getattr(self, field) == 1:
                errors[field] = _("One claim in N, with N at least 2 (0 turns it off).")
        try:
            self.display_filters = self.checked_display_filters(self.display_filters)
        except ValidationError as exc:
            errors["display_filters"] = exc.messages[0]
        if errors:
            raise ValidationError(errors)

    def is_fast_read(self, duration_ms: int | None) -> bool:
        """A read submitted sooner than the campaign's minimum reading time."""
        return duration_ms is not None and duration_ms < self.min_read_ms

    @staticmethod
    def checked_display_filters(value: Any) -> dict[str, float | int]:
        """Default display filters as a campaign keeps them: checked by
        ``DisplayFilters`` (the signal endpoint's rule) and normalised, with the
        filters that are off left out (``{}``: the signal as recorded).
        ``ValidationError`` naming the bad filter otherwise."""
        # Imported here: scipy.signal takes half a second to load, which every
        # command and worker would pay on start for a rule few of them check.
        from annotator.filters import DisplayFilters, FilterError

        if not isinstance(value, dict):
            raise ValidationError(
                _("Display filters are an object: highpass, lowpass, notch (Hz)."),
                code="invalid",
            )
        try:
            filters = DisplayFilters.from_values(value)
        except FilterError as exc:
            raise ValidationError(
                _("Display filter %(parameter)s refused: %(reason)s"),
                code="invalid",
                params={"parameter": exc.parameter, "reason": str(exc)},
            ) from None
        return {k: v for k, v in filters.as_dict().items() if v is not None}

    def is_read_by(self, user: Any) -> bool:
        return CampaignReader.objects.filter(campaign=self, user=user).exists()

    def is_adjudicated_by(self, user: Any) -> bool:
        """Managers adjudicate every campaign; others the ones they are named in."""
        return is_manager(user) or self.adjudicators.filter(pk=user.pk).exists()

    def shows_machine_statements_to(self, user: Any, *, reading: bool = False) -> bool:
        """Readers are blinded to the machine's statements unless the campaign
        allows them; adjudicators and managers see them, except while they
        read an exam of the campaign themselves (``reading``): a read is
        blinded as the campaign says, whoever makes it."""
        return self._shows_machine_output_to(
            user, self.show_machine_statements, reading=reading
        )

    def shows_machine_measurements_to(
        self, user: Any, *, reading: bool = False
    ) -> bool:
        """The machine's measurements (heart rate, intervals, axes), by the
        rule of :meth:`shows_machine_statements_to` with the campaign's own
        option (on by default: a number biases a read less than a diagnosis)."""
        return self._shows_machine_output_to(
            user, self.show_machine_measurements, reading=reading
        )

    def _shows_machine_output_to(
        self, user: Any, allowed: bool, *, reading: bool
    ) -> bool:
        if allowed:
            return True
        return not reading and self.is_adjudicated_by(user)

    def state_counts(self) -> dict[str, int]:
        """Consensus state → number of exams, from the counters."""
        return {
            state: getattr(self, state_counter(state))
            for state in CampaignExam.ConsensusState.values
        }

    def progress_for(self, user: Any) -> dict[str, int]:
        """What the caller may know of the campaign's progress.

        Everyone sees the exam and read counts and their own; the consensus
        states only those who adjudicate (they reveal where readers disagree).
        ``with_progress(user)`` annotations are used when present.
        """
        if hasattr(self, "my_reads_submitted"):
            mine = (self.my_reads_submitted or 0, self.my_claims_open or 0)
            adjudicates = is_manager(user) or self.caller_adjudicates
        else:
            submitted = (
                CampaignReader.objects.filter(campaign=self, user=user)
                .values_list("n_submitted", flat=True)
                .first()
            )
            mine = (submitted or 0, _open_claims(user).filter(campaign=self).count())
            adjudicates = self.is_adjudicated_by(user)
        progress = {
            "exams": self.n_exams,
            "reads_submitted": self.n_reads_submitted,
            "claims_open": self.n_claims_open,
            "my_reads_submitted": mine[0],
            "my_claims_open": mine[1],
        }
        if adjudicates:
            progress.update(self.state_counts())
        if is_manager(user):
            progress["reads_fast"] = self.reads_fast()
        return progress

    def reads_fast(self) -> int:
        """Submitted reads flagged fast (sooner than ``min_read_ms``): the
        ``with_progress`` annotation when present, else one COUNT."""
        if hasattr(self, "n_reads_fast"):
            return self.n_reads_fast or 0
        return _fast_decisions().filter(assignment__campaign=self).count()


def _open_claims(user: Any) -> models.QuerySet:
    """The user's unfinished claims (a reader holds at most two per campaign, so
    counting them costs the same in any campaign; on the (campaign, reader,
    status) index)."""
    assignment = apps.get_model("annotator", "Assignment")
    return assignment.objects.filter(reader=user, status=assignment.Status.CLAIMED)


def _fast_decisions() -> models.QuerySet:
    """Reads submitted sooner than their campaign's minimum reading time; for
    managers only (a reader is never told their reads were flagged)."""
    decision = apps.get_model("annotator", "Decision")
    return decision.objects.filter(fast=True)


def state_counter(state: str) -> str:
    """The Campaign counter field of a consensus state."""
    return f"n_{state}"


class CampaignReader(models.Model):
    """A reader's place in a campaign: membership, their counters and cursor.

    Its row is also the lock that serialises one reader's claims (several
    tabs), and no foreign key points at it, so the lock never meets the
    foreign-key checks of concurrent submissions.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    n_submitted = models.PositiveIntegerField(default=0)
    # The highest exam id the reader holds any assignment of: exams above it
    # need no look for an old claim of theirs.
    cursor = models.BigIntegerField(default=0)

    class Meta:
        db_table = "annotator_campaign_readers"
        unique_together = [("campaign", "user")]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.user_id}"


class CampaignExamQuerySet(models.QuerySet):
    def adjudication_queue(self, *, include_adjudicated: bool = False) -> Any:
        """Exams whose reads disagree (and, if asked, those already settled by
        an adjudicator), in exam order on an index that gives that order."""
        state = CampaignExam.ConsensusState
        if include_adjudicated:
            return self.filter(
                consensus_state__in=[state.NEEDS_ADJUDICATION, state.ADJUDICATED]
            ).order_by("exam_id")
        return self.filter(consensus_state=state.NEEDS_ADJUDICATION).order_by("exam_id")

    def resolved(self) -> Any:
        """Exams with consensus labels (single, unanimous, majority, policy or
        adjudicated)."""
        return self.filter(consensus_state__in=CampaignExam.RESOLVED)

    def unresolved(self) -> Any:
        return self.exclude(consensus_state__in=CampaignExam.RESOLVED)

    def in_consensus(self) -> Any:
        """The exams the campaign reads for a consensus: all but the
        calibration exams, which are scored against their reference alone."""
        return self.exclude(consensus_state=CampaignExam.ConsensusState.CALIBRATION)


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
        CALIBRATION = "calibration", "Calibration exam (scored against its reference)"

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

    objects = CampaignExamQuerySet.as_manager()

    RESOLVED = frozenset(
        {
            ConsensusState.SINGLE,
            ConsensusState.UNANIMOUS,
            ConsensusState.MAJORITY,
            ConsensusState.POLICY,
            ConsensusState.ADJUDICATED,
        }
    )

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
            # The adjudication queue pages by exam within a state.
            models.Index(
                fields=["campaign", "consensus_state", "exam"],
                name="campaign_exam_state_order",
            ),
            models.Index(
                fields=["campaign", "exam"],
                condition=Q(consensus_state__in=["needs_adjudication", "adjudicated"]),
                name="campaign_exam_adjudication",
            ),
            models.Index(
                fields=["campaign", "exam"],
                condition=Q(is_open=True),
                name="campaign_exam_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.exam_id}"

    def locks_reads(self, readers_per_exam: int) -> bool:
        """Whether the exam's reads can no longer change."""
        return self.reads_locked(self.consensus_state, readers_per_exam)

    @classmethod
    def reads_locked(cls, consensus_state: str, readers_per_exam: int) -> bool:
        """The rule of ``locks_reads``, for rows that carry the state alone.

        Once every read is in, a read is locked whatever the consensus
        (unanimous, disagreeing or adjudicated), so a refusal never tells a
        reader they were contradicted. With one reader per exam there is no one
        to be blinded from: the read stays editable until adjudicated.
        """
        state = cls.ConsensusState
        if consensus_state == state.ADJUDICATED:
            return True
        return consensus_state != state.PENDING and readers_per_exam > 1
