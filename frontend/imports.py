"""The Imports page (managers): exams uploaded from the browser or taken from a
server folder, each import run as a job whose summary the page shows."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from annotator import services, uploads
from annotator.ingest import FORMATS
from annotator.models import Campaign, Job
from annotator.roles import is_manager


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    if not is_manager(request.user):
        raise Http404(_("Imports are for managers."))
    limit = settings.ANNOTATOR_UPLOAD_MAX_MB * 2**20
    if request.method == "POST":
        # Refused before the body is read: a file over the limit is not stored.
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > limit:
            messages.error(
                request,
                _("The upload is larger than the limit of %(mb)s MB.")
                % {"mb": settings.ANNOTATOR_UPLOAD_MAX_MB},
            )
            return redirect("imports")
        _start(request, limit)
        return redirect("imports")
    return render(
        request,
        "frontend/imports.html",
        {
            "formats": ["auto", *FORMATS],
            "folders": uploads.server_folders(),
            "import_root": bool(uploads.import_root()),
            "max_mb": settings.ANNOTATOR_UPLOAD_MAX_MB,
            "campaigns": Campaign.objects.order_by("name"),
        },
    )


def _start(request: HttpRequest, limit: int) -> None:
    dataset = (request.POST.get("dataset") or "").strip()
    fmt = request.POST.get("format") or "auto"
    try:
        if request.POST.get("action") == "csv":
            job = _start_csv(request, limit)
        elif request.POST.get("action") == "folder":
            folder = request.POST.get("folder") or ""
            job = services.start_import_job(
                user=request.user,
                dataset=dataset or folder.rsplit("/", 1)[-1],
                fmt=fmt,
                folder=folder,
            )
        else:
            files = request.FILES.getlist("files")
            if not files:
                raise uploads.UploadRefused(_("Choose the files to upload."))
            if not dataset:
                raise uploads.UploadRefused(_("Name the dataset the exams go into."))
            key, folder_path = uploads.new_folder()
            uploads.store(files, folder_path, max_bytes=limit)
            job = services.start_import_job(
                user=request.user, dataset=dataset, fmt=fmt, upload=key
            )
    except (uploads.UploadRefused, ValueError, services.WorkflowError) as refused:
        messages.error(request, str(refused))
        return
    messages.success(
        request, _("Import job #%(id)s started.") % {"id": job.pk}, extra_tags="job"
    )


def _start_csv(request: HttpRequest, limit: int) -> Job:
    """A readings or reference CSV for one campaign, uploaded and imported."""
    pk = request.POST.get("campaign", "")
    campaign = Campaign.objects.filter(pk=int(pk)).first() if pk.isdigit() else None
    if campaign is None:
        raise uploads.UploadRefused(_("Choose the campaign the file is for."))
    files = request.FILES.getlist("files")
    if len(files) != 1:
        raise uploads.UploadRefused(_("Choose one CSV file."))
    key, folder = uploads.new_folder()
    stored = uploads.store(files, folder, max_bytes=limit)
    if len(stored) != 1 or not stored[0].lower().endswith(".csv"):
        uploads.discard(key)
        raise uploads.UploadRefused(
            _("Readings and reference standards are CSV files.")
        )
    return services.start_readings_import_job(
        user=request.user,
        campaign=campaign,
        upload=key,
        kind=request.POST.get("kind") or "readings",
        calibration=request.POST.get("calibration") == "on",
    )
