"""Exams and the patient-pseudonym mapping."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotator.models.paging import id_page
from annotator.roles import is_manager

AGE_CAP = 90  # ages above 89 are identifying (HIPAA Safe Harbor); 90 means "90 or more"


def age_text(age: int | None) -> str:
    """An age as every page shows it: ``"63"``, ``"90+"`` at the cap (stored as
    ``AGE_CAP``, meaning that or older), ``""`` when unknown. The pages' scripts
    say the same with ``ageText`` in dom.js."""
    if age is None:
        return ""
    return f"{AGE_CAP}+" if age >= AGE_CAP else str(age)


class ExamQuerySet(models.QuerySet):
    def visible_to(self, user: Any) -> ExamQuerySet:
        """Managers see every exam; readers the exams they hold or read;
        adjudicators the exams that reached adjudication in their campaigns.

        The reads and campaign links are reached through the exam's reverse
        relations, so exams (the most basic model) import no other model.
        """
        if is_manager(user):
            return self
        held, adjudicable = self._sources(user)
        return self.filter(
            models.Exists(held.filter(exam=models.OuterRef("pk")))
            | models.Exists(adjudicable.filter(exam=models.OuterRef("pk")))
        )

    def visible_ids(
        self,
        user: Any,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int,
    ) -> list[int]:
        """Ids of the first ``limit`` exams ``visible_to(user)`` after ``after``
        (ascending), or the last ones before ``before`` (descending).

        The same rule as ``visible_to``, driven from the user's own claims and
        the adjudication queue of each campaign they adjudicate, each on an
        index in exam order, so a page costs the page, not a walk over every
        exam stored before the user's. Not for managers, who see every exam.
        """
        held, adjudicable = self._sources(user)
        campaigns = adjudicable.model._meta.get_field("campaign").related_model
        adjudicated = campaigns.adjudicators.through.objects.filter(user=user)
        sources = [held] + [
            adjudicable.filter(campaign_id=pk)
            for pk in adjudicated.values_list("campaign_id", flat=True)
        ]
        # An exam read in two of the user's campaigns is one id (distinct).
        ids = {
            exam_id
            for source in sources
            for exam_id in id_page(
                source, "exam_id", after=after, before=before, limit=limit
            )
        }
        return sorted(ids, reverse=before is not None)[:limit]

    def dataset_sizes(self) -> dict[str, int]:
        """Dataset name → number of exams, in name order."""
        rows = self.order_by("dataset").values("dataset").annotate(n=models.Count("pk"))
        return dict(rows.values_list("dataset", "n"))

    def sample_ids(self, n: int, *, seed: int) -> list[int]:
        """Ids of a random sample of ``n`` of these exams, stratified by dataset
        and reproducible from ``seed`` (:mod:`annotator.sampling`)."""
        from annotator import sampling

        shares = sampling.allocate(self.dataset_sizes(), n)
        chosen: list[int] = []
        for dataset, k in shares.items():
            if k:
                ids = self.filter(dataset=dataset).values_list("pk", flat=True)
                chosen += sampling.draw(
                    list(ids.iterator(chunk_size=20_000)), k, seed=seed, stratum=dataset
                ).tolist()
        return sorted(chosen)

    def _sources(self, user: Any) -> tuple[models.QuerySet, models.QuerySet]:
        """What makes an exam visible to a non-manager: their claims and reads,
        and the adjudication queues of the campaigns they adjudicate."""
        meta = self.model._meta
        assignments = meta.get_field("assignments").related_model.objects
        links = meta.get_field("campaign_links").related_model.objects
        held = assignments.filter(reader=user).holding()
        adjudicable = links.filter(campaign__adjudicators=user).adjudication_queue(
            include_adjudicated=True
        )
        return held, adjudicable


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
        # The exam list of one dataset pages by id on this index, whatever
        # the other datasets hold.
        indexes = [models.Index(fields=["dataset", "id"], name="exam_dataset_order")]
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
    def age_text(self) -> str:
        """The age as the pages show it (``age_text``): "90+" at the cap."""
        return age_text(self.age)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_rate

    @property
    def display_key(self) -> str:
        """What readers and adjudicators call the exam: the application's own
        number. The source id can carry the acquisition time (a DICOM SOP
        Instance UID does) or a hospital's numbering, so it is for managers."""
        return f"#{self.pk}"

    @property
    def acquired_on(self) -> datetime.date | None:
        """The day of the recording, in the deployment's time zone: as much
        of the acquisition time as readers may see."""
        if self.acquired_at is None:
            return None
        return timezone.localdate(self.acquired_at)


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
