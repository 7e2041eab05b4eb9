"""Celery tasks: thin entry points that take ids and call one function of jobs.py.

Tasks acknowledge only when done and are requeued if their worker dies
(settings: acks_late, reject_on_worker_lost); every step is idempotent, so a
redelivered task repeats work without duplicating output. Database connection
errors are retried; any other error marks the job failed with its message.
Imports run one way: services queue these tasks, these call jobs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import chord, group, shared_task
from django.db import InterfaceError, OperationalError

from annotator import jobs
from annotator.models import Job

TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


def _run(job_id: int, step: Callable[..., Any], *args: Any) -> Any:
    try:
        return step(job_id, *args)
    except TRANSIENT:
        raise  # retried by Celery
    except Exception as exc:
        jobs.fail_job(job_id, exc)
        raise


@shared_task(ignore_result=True, **RETRY)
def run_agreement_job_task(job_id: int) -> None:
    """Plan the job, then count its chunks in parallel and merge them."""
    chunks = _run(job_id, jobs.plan_agreement)
    if chunks is None:
        return
    if not chunks:
        agreement_merge_task.delay(job_id)
        return
    header = group(
        agreement_chunk_task.si(job_id, index, lo, hi) for index, lo, hi in chunks
    )
    chord(header)(agreement_merge_task.si(job_id))


@shared_task(**RETRY)
def agreement_chunk_task(job_id: int, index: int, lo: int, hi: int) -> int:
    _run(job_id, jobs.count_agreement_chunk, index, lo, hi)
    return index


@shared_task(ignore_result=True, **RETRY)
def agreement_merge_task(job_id: int) -> None:
    _run(job_id, jobs.merge_agreement)


@shared_task(ignore_result=True, **RETRY)
def run_export_job_task(job_id: int) -> None:
    _run(job_id, jobs.run_export)


@shared_task(ignore_result=True, **RETRY)
def run_import_job_task(job_id: int) -> None:
    from annotator import import_jobs

    _run(job_id, import_jobs.run_import)


# The task that runs each kind of job from its start.
FIRST_TASK = {
    Job.Kind.AGREEMENT: run_agreement_job_task,
    Job.Kind.EXPORT: run_export_job_task,
    Job.Kind.IMPORT: run_import_job_task,
}


def queue(job: Any) -> None:
    """Send the job's first task to the broker (inline without one)."""
    FIRST_TASK[job.kind].delay(job.pk)


@shared_task(ignore_result=True)
def sweep_stalled_jobs_task() -> dict[str, int]:
    """Celery beat, every minute: re-queue stalled jobs, fail the hopeless."""
    return jobs.sweep_stalled(queue=queue)
