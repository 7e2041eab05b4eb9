"""``manage.py import_readings FILE.csv --campaign NAME``: readings made elsewhere."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.ingest.readings import ReadingsError, import_readings
from annotator.management.options import refused_as_command_error, taxonomy_by_id


class Command(BaseCommand):
    help = (
        "Import readings (exam_id, reader, and a 'labels' column of ;-separated codes "
        "or one 0/1 column per class code) into a campaign, created if missing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--dataset", help="Dataset of the exam ids, if ambiguous.")
        parser.add_argument(
            "--taxonomy", type=int, help="Taxonomy id for a new campaign."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        taxonomy = taxonomy_by_id(options["taxonomy"])
        with refused_as_command_error(ReadingsError):
            summary = import_readings(
                options["file"],
                campaign_name=options["campaign"],
                dataset=options["dataset"],
                taxonomy=taxonomy,
            )
        self.stdout.write(summary.as_text())
        if summary.imported == 0 and summary.skipped == 0:
            raise CommandError("No reading was imported.")
