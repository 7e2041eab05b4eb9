"""``manage.py export_labels --campaign NAME --format csv|jsonl --out PATH``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator import exports
from annotator.models import Campaign, Job


class Command(BaseCommand):
    help = "Export a campaign's consensus labels to PATH and PATH.manifest.json."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument("--format", choices=exports.FORMATS, required=True)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument(
            "--include-unresolved",
            action="store_true",
            help="Also export exams without a consensus (empty labels).",
        )
        parser.add_argument(
            "--pseudonymous",
            action="store_true",
            help="Write keyed pseudonyms in place of the source exam ids (to share "
            "outside; managers see the mapping in the admin's exam list).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(name=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign named {options['campaign']!r}.")
        result, manifest = exports.export_to_path(
            campaign,
            options["format"],
            options["out"],
            include_unresolved=options["include_unresolved"],
            pseudonymous=options["pseudonymous"],
            agreement=Job.objects.latest_report(campaign),
        )
        self.stderr.write(
            f"Wrote {result.rows} exams to {options['out']} (sha256 {result.sha256}) "
            f"and {manifest.name}."
        )
