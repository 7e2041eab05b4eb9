"""``manage.py agreement --campaign NAME [--bootstrap N]``: the report as JSON."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.jobs import agreement_report
from annotator.models import Campaign


class Command(BaseCommand):
    help = (
        "Print a campaign's inter-rater agreement report (DESIGN section 6) as JSON on "
        "standard output, nothing else."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", required=True)
        parser.add_argument(
            "--bootstrap",
            type=int,
            default=0,
            help="Poisson-bootstrap replicates for 95%% CIs (0: none).",
        )
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        campaign = Campaign.objects.filter(name=options["campaign"]).first()
        if campaign is None:
            raise CommandError(f"No campaign named {options['campaign']!r}.")
        if options["bootstrap"] < 0:
            raise CommandError("--bootstrap must be 0 or more.")
        try:
            report = agreement_report(
                campaign, bootstrap=options["bootstrap"], seed=options["seed"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(report, indent=1, allow_nan=False))
