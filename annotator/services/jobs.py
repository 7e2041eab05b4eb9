"""Starting background jobs: record the Job, queue its task once committed."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotator import exports, tasks
from annotator.jobs import DEFAULT_BOOTSTRAP, DEFAULT_CHUNK, check_seed
from annotator.models import Campaign, Job
from annotator.services.errors import Conflict, Unavailable

QUEUE_DOWN = (
    "The job queue cannot be reached, so the job was not started; "
    "try again once it is back."
)


def _send(job: Job) -> None:
    """Queue the job's task; if the broker cannot be reached, the job fails
    with the reason (no job waits as "queued" for a message never sent)."""
    try:
        tasks.queue(job)
    except Exception as exc:
        job.fail(f"{QUEUE_DOWN} ({type(exc).__name__})")
        raise Unavailable(QUEUE_DOWN) from exc


@transaction.atomic
def start_job(
    *, kind: str, campaign: Campaign, user: Any, params: dict[str, Any]
) -> Job:
    """Record a job and queue it once the transaction commits.

    Queued after the commit, so a worker never looks for a row it cannot see
    yet; a rolled-back start queues nothing.
    """
    if kind not in tasks.FIRST_TASK:
        raise ValueError(f"No task runs {kind!r} jobs.")
    job = Job.objects.create(
        kind=kind, campaign=campaign, params=params, created_by=user
    )
    transaction.on_commit(lambda: _send(job))
    return job


def retry_job(*, job: Job) -> Job:
    """Re-queue a stalled job (managers' Retry); Conflict unless it is stalled,
    so two retries at once queue it once."""
    if not job.requeue():
        raise Conflict(
            f"This job is {job.get_status_display().lower()}, not stalled; "
            "only a job whose worker stopped answering can be retried."
        )
    _send(job)
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
    *,
    campaign: Campaign,
    user: Any,
    fmt: str,
    include_unresolved: bool = False,
    pseudonymous: bool = False,
) -> Job:
    """Queue a label export of the campaign; ValueError for an unknown format."""
    if fmt not in exports.FORMATS:
        raise ValueError(f"format must be one of {', '.join(exports.FORMATS)}")
    return start_job(
        kind=Job.Kind.EXPORT,
        campaign=campaign,
        user=user,
        params={
            "format": fmt,
            "include_unresolved": include_unresolved,
            "pseudonymous": pseudonymous,
        },
    )


def start_import_job(
    *,
    user: Any,
    dataset: str,
    fmt: str = "auto",
    upload: str | None = None,
    folder: str | None = None,
) -> Job:
    """Queue an import of exams from an upload's folder (its key) or from a
    folder under the server's import root (its relative path)."""
    from annotator import uploads
    from annotator.ingest import FORMATS

    if (upload is None) == (folder is None):
        raise ValueError("give an upload or a server folder")
    if fmt != "auto" and fmt not in FORMATS:
        raise ValueError(f"format must be auto or one of {', '.join(FORMATS)}")
    if upload is not None:
        uploads.folder_of(upload)
    else:
        uploads.server_folder(folder)
    params = {"format": fmt, "dataset": dataset}
    params |= {"upload": upload} if upload is not None else {"folder": folder}
    return start_job(kind=Job.Kind.IMPORT, campaign=None, user=user, params=params)


def start_readings_import_job(
    *,
    user: Any,
    campaign: Campaign,
    upload: str,
    kind: str,
    calibration: bool = False,
) -> Job:
    """Queue an import of an uploaded CSV into ``campaign``: readers' readings
    (``kind`` "readings"), a model's ("machine") or the reference standard
    ("reference", its exams made calibration exams with ``calibration``)."""
    from annotator import uploads

    if kind not in uploads.CSV_KINDS:
        raise ValueError(f"kind must be one of {', '.join(uploads.CSV_KINDS)}")
    uploads.folder_of(upload)
    return start_job(
        kind=Job.Kind.IMPORT,
        campaign=campaign,
        user=user,
        params={"csv": kind, "upload": upload, "calibration": calibration},
    )
