"""``manage.py import_readings FILE.csv --campaign NAME``: readings made elsewhere."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.ingest.readings import ReadingsError, import_readings, import_reference
from annotator.management.options import refused_as_command_error, taxonomy_by_id
from annotator.models import Campaign


class Command(BaseCommand):
    help = (
        "Import readings (exam_id, reader, and a 'labels' column of ;-separated codes "
        "or one 0/1 column per class code) into a campaign, created if missing; "
        "with --reference, the campaign's reference standard (no reader column)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--dataset", help="Dataset of the exam ids, if ambiguous.")
        parser.add_argument(
            "--taxonomy", type=int, help="Taxonomy id for a new campaign."
        )
        parser.add_argument(
            "--reference",
            action="store_true",
            help="The file is the campaign's reference standard (gold standard): "
            "one label set per exam, all rows or none.",
        )
        parser.add_argument(
            "--machine",
            action="store_true",
            help="The readers are models (machine accounts): their readings are "
            "counted in agreement and reference scores, never in the consensus, "
            "and never shown to readers.",
        )
        parser.add_argument(
            "--calibration",
            action="store_true",
            help="With --reference: the file's exams also become calibration "
            "exams, served blind among the readers' claims and kept out of the "
            "consensus (exams no reader has claimed yet).",
        )
        parser.add_argument(
            "--by",
            help="Username recorded in the history for a reference import "
            "(default: the campaign's creator).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["calibration"] and not options["reference"]:
            raise CommandError(
                "Calibration exams need a reference: give --calibration with "
                "--reference."
            )
        if options["reference"]:
            if options["machine"]:
                raise CommandError(
                    "A reference standard has no readers; give --reference or "
                    "--machine, not both."
                )
            self._reference(options)
            return
        taxonomy = taxonomy_by_id(options["taxonomy"])
        with refused_as_command_error(ReadingsError):
            summary = import_readings(
                options["file"],
                campaign_name=options["campaign"],
                dataset=options["dataset"],
                taxonomy=taxonomy,
                machine=options["machine"],
            )
        self.stdout.write(summary.as_text())
        if summary.imported == 0 and summary.skipped == 0:
            raise CommandError("No reading was imported.")

    def _reference(self, options: dict[str, Any]) -> None:
        campaign = Campaign.objects.filter(name=options["campaign"]).first()
        if options["by"]:
            actor = get_user_model().objects.filter(username=options["by"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['by']!r}.")
        else:
            actor = campaign.created_by if campaign else None
            if campaign and actor is None:
                raise CommandError(
                    "The campaign has no creator on record; name who imports the "
                    "reference with --by USERNAME."
                )
        with refused_as_command_error(ReadingsError):
            summary = import_reference(
                options["file"],
                campaign_name=options["campaign"],
                dataset=options["dataset"],
                actor=actor,
                calibration=options["calibration"],
            )
        self.stdout.write(summary.as_text())
