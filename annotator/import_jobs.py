"""The import job: exams from an upload's folder or a server folder, in a worker.

Started by ``services.start_import_job``. The job runs ``import_exams`` (the
command's path) with its progress, stores the summary as its result and every
rejection with its reason as a CSV (its output, to download), and removes the
upload's folder once done (a server folder is left as it was).
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from annotator import storage, uploads
from annotator.ingest.importer import ImportSummary, import_exams
from annotator.jobs import _running
from annotator.models import Job


def run_import(job_id: int) -> None:
    job = _running(job_id, "created_by")
    if job is None:
        return
    params = job.params
    if params.get("csv") in uploads.CSV_KINDS:
        _run_readings(job)
        return
    upload = params.get("upload")
    folder = (
        uploads.folder_of(upload) if upload else uploads.server_folder(params["folder"])
    )
    files = max(sum(1 for path in folder.rglob("*") if path.is_file()), 1)

    def progress(summary: ImportSummary) -> None:
        job.advance(min(95, 5 + 90 * summary.processed / files))

    try:
        summary = import_exams(
            [folder],
            fmt=params.get("format") or "auto",
            dataset=params.get("dataset") or None,
            progress=progress,
        )
    finally:
        if upload:
            shutil.rmtree(folder, ignore_errors=True)
    key = f"jobs/{job_id}/rejections.csv"
    storage.overwrite(key, rejections_csv(summary, folder).encode())
    job.succeed(
        result={
            "imported": summary.imported,
            "skipped": summary.skipped,
            "rejected": len(summary.rejected),
            "rejections": [
                {"file": _shown(r.source, folder), "reason": r.reason}
                for r in summary.rejected[:100]
            ],
        },
        output_key=key,
    )


def _run_readings(job: Job) -> None:
    """A readings, machine readings or reference CSV into the job's campaign:
    the command's functions, all or nothing where the command's are."""
    from annotator.ingest.readings import (
        ReadingsError,
        import_readings,
        import_reference,
    )

    params = job.params
    folder = uploads.folder_of(params["upload"])
    (path,) = [p for p in folder.rglob("*") if p.is_file()]
    name = job.campaign.name
    try:
        if params["csv"] == "reference":
            done = import_reference(
                path,
                campaign_name=name,
                actor=job.created_by,
                calibration=bool(params.get("calibration")),
            )
            problems: list[str] = []
            counts = {
                "imported": done.created + done.changed,
                "skipped": done.unchanged,
            }
        else:
            done = import_readings(
                path, campaign_name=name, machine=params["csv"] == "machine"
            )
            problems = done.problems
            counts = {"imported": done.imported, "skipped": done.skipped}
    except ReadingsError as refused:
        done, problems, counts = None, [str(refused)], {"imported": 0, "skipped": 0}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["file", "exam_id", "reason"])
    for problem in problems:
        writer.writerow([path.name, "", problem])
    key = f"jobs/{job.pk}/rejections.csv"
    storage.overwrite(key, out.getvalue().encode())
    job.succeed(
        result={
            **counts,
            "rejected": len(problems),
            "rejections": [{"file": path.name, "reason": p} for p in problems[:100]],
            "summary": done.as_text() if done is not None else problems[0],
        },
        output_key=key,
    )


def rejections_csv(summary: ImportSummary, folder: Path) -> str:
    """``file, exam_id, reason`` of every rejection, files relative to the folder."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["file", "exam_id", "reason"])
    for rejection in summary.rejected:
        writer.writerow(
            [
                _shown(rejection.source, folder),
                rejection.exam_id or "",
                rejection.reason,
            ]
        )
    return out.getvalue()


def _shown(source: object, folder: Path) -> str:
    text = str(source)
    root = str(folder.resolve())
    return text[len(root) + 1 :] if text.startswith(root + "/") else Path(text).name
