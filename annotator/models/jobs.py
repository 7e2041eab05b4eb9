"""Background jobs' state and its lifecycle: start, advance, succeed, fail."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q, Subquery, Value
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from annotator.models import fields
from annotator.models.campaigns import Campaign


def stall_threshold(now: Any = None) -> Any:
    """A running job whose last heartbeat is older than this has stalled."""
    return (now or timezone.now()) - dt.timedelta(
        seconds=settings.ANNOTATOR_JOB_STALL_SECONDS
    )


class JobQuerySet(models.QuerySet):
    def stalled(self, now: Any = None) -> JobQuerySet:
        """Running jobs that have not shown a sign of life for a while: their
        worker died (a kill, a lost machine) or lost its broker."""
        return self.filter(
            status=Job.Status.RUNNING, heartbeat_at__lt=stall_threshold(now)
        )

    def for_list(self) -> JobQuerySet:
        """Jobs for a list: the creator joined, the result never read.

        An agreement report of dozens of readers is megabytes of JSON; a list
        shows each job's ``summary`` instead, which ``succeed`` stores.
        """
        return self.select_related("created_by").defer("result")

    def succeeded_agreements(self, campaign: Campaign) -> JobQuerySet:
        """The campaign's succeeded agreement jobs, the latest first."""
        return self.filter(
            campaign=campaign, kind=Job.Kind.AGREEMENT, status=Job.Status.SUCCEEDED
        ).order_by("-finished_at", "-id")

    def latest_agreement(self, campaign: Campaign) -> JobQuerySet:
        """The campaign's latest succeeded agreement job (none or one).

        Chosen by id in a subquery: sorting the jobs themselves would carry
        every report through the sort (SQLite copies whole rows into it, and
        PostgreSQL computes the selected parts of each report before sorting).
        """
        latest = self.succeeded_agreements(campaign).values("pk")[:1]
        return self.filter(pk=Subquery(latest))

    def with_report_class(self, code: str) -> JobQuerySet:
        """Without the result, but with two parts of it read in the database:
        ``report_readers`` (the names) and ``report_class`` (the entry of class
        ``code``, None when the report has no such class)."""
        return self.defer("result").annotate(
            report_readers=KeyTransform("readers", "result"),
            report_class=KeyTransform(code, KeyTransform("classes", "result")),
        )

    def latest_report(self, campaign: Campaign) -> dict[str, Any] | None:
        """The report of the campaign's latest succeeded agreement job, or None."""
        return self.latest_agreement(campaign).values_list("result", flat=True).first()


class Job(models.Model):
    """A background job's state; the database, not Celery's results, is the truth.

    Every change of state is one conditional UPDATE that names the states it
    may leave, so two runs of the same task (a retry, a redelivery after a
    worker died) cannot move a finished job back or finish it twice.
    """

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
    summary = models.JSONField(null=True, blank=True, editable=False)
    output_key = models.CharField(max_length=255, blank=True)
    output_sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = fields.created_by(related_name="jobs")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Moved by every step of a running job (start, progress); see stalled().
    heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The job list's order, so a cursor page is one index range scan.
            models.Index(fields=["-created_at", "-id"], name="job_list_idx")
        ]
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

    @property
    def is_stalled(self) -> bool:
        return (
            self.status == self.Status.RUNNING
            and self.heartbeat_at is not None
            and self.heartbeat_at < stall_threshold()
        )

    @staticmethod
    def summary_of(kind: str, result: dict[str, Any] | None) -> dict[str, Any] | None:
        """The few numbers a job list shows in place of the result."""
        if not result:
            return None
        if kind == Job.Kind.AGREEMENT:
            return {
                "n_exams": result.get("n_exams"),
                "n_readers": len(result.get("readers", [])),
                "bootstrap": result.get("bootstrap"),
            }
        return {"rows": result.get("rows"), "methods": result.get("methods")}

    def _move(self, allowed: list[str], **changes: Any) -> bool:
        """Apply ``changes`` if the row is still in one of the ``allowed`` states."""
        moved = bool(
            Job.objects.filter(pk=self.pk, status__in=allowed).update(**changes)
        )
        if not moved:
            self.refresh_from_db(fields=["status", "progress", "finished_at"])
            return False
        computed = [k for k, v in changes.items() if hasattr(v, "resolve_expression")]
        for name, value in changes.items():
            if name not in computed:
                setattr(self, name, value)
        if computed:  # read back what the database computed, not the result
            self.refresh_from_db(fields=computed)
        return True

    def start(self) -> bool:
        """Mark a queued (or interrupted) job running; False once it has finished.

        A redelivered task starts the job again: ``attempts`` counts the runs,
        ``started_at`` keeps the first.
        """
        now = timezone.now()
        return self._move(
            [self.Status.QUEUED, self.Status.RUNNING],
            status=self.Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", Value(now)),
            heartbeat_at=now,
        )

    def requeue(self) -> bool:
        """Put a stalled job back in the queue; False if it is not stalled (it
        moved meanwhile, or another retry came first), so a retry is done once.
        The caller sends its task again; the steps are idempotent."""
        moved = bool(
            Job.objects.stalled()
            .filter(pk=self.pk)
            .update(status=self.Status.QUEUED, heartbeat_at=timezone.now())
        )
        self.refresh_from_db(fields=["status", "heartbeat_at", "attempts"])
        return moved

    def fix_plan(self, plan: dict[str, Any]) -> dict[str, Any] | None:
        """Record the plan of a running job unless a concurrent run did first.

        Returns the plan in effect, so two runs of one job count the same
        chunks; None if the job stopped running meanwhile.
        """
        Job.objects.filter(pk=self.pk, status=self.Status.RUNNING).exclude(
            params__has_key="plan"
        ).update(params={**self.params, "plan": plan})
        self.refresh_from_db(fields=["params", "status"])
        return self.params.get("plan")

    def advance(self, pct: float) -> bool:
        """Raise a running job's progress to ``pct`` (clamped to 0-100), never
        lower it: chunks finish in any order. False if the job is not running.

        The in-memory ``progress`` is a lower bound (other runs may be ahead).
        """
        pct = max(0, min(int(pct), 100))
        moved = bool(
            Job.objects.filter(pk=self.pk, status=self.Status.RUNNING).update(
                progress=Greatest("progress", Value(pct)), heartbeat_at=timezone.now()
            )
        )
        if moved:
            self.progress = max(self.progress, pct)
        return moved

    def succeed(
        self, *, result: dict[str, Any], output_key: str = "", sha256: str = ""
    ) -> bool:
        """Finish a running job with its result; False if it was not running."""
        return self._move(
            [self.Status.RUNNING],
            status=self.Status.SUCCEEDED,
            progress=100,
            result=result,
            summary=self.summary_of(self.kind, result),
            output_key=output_key,
            output_sha256=sha256,
            error="",
            finished_at=timezone.now(),
        )

    def fail(self, error: str) -> bool:
        """Finish an unfinished job as failed, for a person to read; False if it
        had finished already (a late error never undoes a success)."""
        return self._move(
            [self.Status.QUEUED, self.Status.RUNNING],
            status=self.Status.FAILED,
            error=error,
            finished_at=timezone.now(),
        )
