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


def run_import(job_id: int) -> None:
    job = _running(job_id, "created_by")
    if job is None:
        return
    params = job.params
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
