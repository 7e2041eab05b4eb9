"""Campaigns and the place of each exam in one."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotator.models.exams import Exam
from annotator.models.taxonomy import TaxonomyVersion
from annotator.roles import is_manager


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> CampaignQuerySet:
        """Managers see every campaign; others the ones they read or adjudicate."""
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
