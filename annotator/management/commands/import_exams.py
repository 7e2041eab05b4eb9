"""``manage.py import_exams PATH...``: import ECG files or folders as exams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.ingest import FORMATS
from annotator.ingest.importer import ImportSummary, import_exams
from annotator.management.options import refused_as_command_error


class Command(BaseCommand):
    help = (
        "Import ECG exams from WFDB records, CODE-15%-style HDF5, DICOM waveforms "
        "or .npy + JSON sidecars. Folders are read recursively. Progress goes to "
        "stderr, the summary to stdout; the exit status is 1 when every exam was "
        "rejected."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
        parser.add_argument(
            "--format",
            dest="fmt",
            choices=["auto", *FORMATS],
            default="auto",
            help="Input format (default: detect each file).",
        )
        parser.add_argument(
            "--dataset",
            help="Dataset name (default: each PATH's folder name or file stem).",
        )
        parser.add_argument(
            "--unit",
            default="mV",
            help="Unit of CODE-15%% tracings: mV (default), uV, V, or microvolts "
            "per stored value. Other formats state their own units.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Exams per database transaction (default ANNOTATOR_IMPORT_BATCH).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        unit: str | float = options["unit"]
        try:
            unit = float(unit)
        except ValueError:
            if unit.strip().lower() not in {"uv", "µv", "mv", "v"}:
                raise CommandError(
                    f"--unit must be uV, mV, V or a number, not {unit!r}"
                ) from None
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")

        def progress(summary: ImportSummary) -> None:
            if options["verbosity"] >= 1:
                self.stderr.write(summary.progress_line())

        with refused_as_command_error(ValueError):
            summary = import_exams(
                options["paths"],
                fmt=options["fmt"],
                dataset=options["dataset"],
                unit=unit,
                batch_size=options["batch_size"],
                progress=progress,
            )
        self.stdout.write(summary.as_text())
        if summary.rejected and not (summary.imported or summary.skipped):
            raise CommandError("every exam was rejected", returncode=1)
        if not summary.processed:
            raise CommandError("no exam files found", returncode=1)
