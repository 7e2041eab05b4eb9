"""Starting background jobs: record the Job, queue its task once committed."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotator import exports, tasks
from annotator.jobs import DEFAULT_BOOTSTRAP, DEFAULT_CHUNK, check_seed
from annotator.models import Campaign, Job

_TASKS = {
    Job.Kind.AGREEMENT: tasks.run_agreement_job_task,
    Job.Kind.EXPORT: tasks.run_export_job_task,
}


@transaction.atomic
def start_job(
    *, kind: str, campaign: Campaign, user: Any, params: dict[str, Any]
) -> Job:
    """Record a job and queue it once the transaction commits.

    Queued after the commit, so a worker never looks for a row it cannot see
    yet; a rolled-back start queues nothing.
    """
    task = _TASKS[kind]
    job = Job.objects.create(
        kind=kind, campaign=campaign, params=params, created_by=user
    )
    transaction.on_commit(lambda: task.delay(job.pk))
    return job


def start_agreement_job(
    *,
    campaign: Campaign,
    user: Any,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
) -> Job:
    """Queue an agreement report of the campaign (DESIGN §6); ValueError for a
    seed the report cannot record."""
    check_seed(seed)
    return start_job(
        kind=Job.Kind.AGREEMENT,
        campaign=campaign,
        user=user,
        params={"bootstrap": bootstrap, "seed": seed, "chunk_size": chunk_size},
    )


def start_export_job(
    *, campaign: Campaign, user: Any, fmt: str, include_unresolved: bool = False
) -> Job:
    """Queue a label export of the campaign; ValueError for an unknown format."""
    if fmt not in exports.FORMATS:
        raise ValueError(f"format must be one of {', '.join(exports.FORMATS)}")
    return start_job(
        kind=Job.Kind.EXPORT,
        campaign=campaign,
        user=user,
        params={"format": fmt, "include_unresolved": include_unresolved},
    )
