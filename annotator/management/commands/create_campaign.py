"""``manage.py create_campaign NAME --dataset D --readers a,b`` (from a shell)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from annotator import services
from annotator.management.options import refused_as_command_error, taxonomy_by_id
from annotator.models import Exam
from annotator.taxonomy import load_default_taxonomy


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _filters(value: str) -> dict[str, str]:
    """``highpass=0.5,lowpass=40,notch=60`` as a dict of text; the campaign's
    rule checks the names and values."""
    found: dict[str, str] = {}
    for item in _names(value):
        name, sep, setting = (part.strip() for part in item.partition("="))
        if not sep or not name or name in found:
            raise CommandError(
                _(
                    "--filters takes name=value pairs, each name once, e.g. "
                    "highpass=0.5,lowpass=40,notch=60; got %(item)r."
                )
                % {"item": item}
            )
        found[name] = setting
    return found


class Command(BaseCommand):
    help = "Create a labeling campaign over one or more datasets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument(
            "--dataset",
            action="append",
            required=True,
            help="Dataset whose exams join (repeatable).",
        )
        parser.add_argument(
            "--readers", type=_names, required=True, help="Comma-separated usernames."
        )
        parser.add_argument("--adjudicators", type=_names, default=[])
        parser.add_argument("--readers-per-exam", type=int, default=2)
        parser.add_argument(
            "--taxonomy",
            type=int,
            help="Taxonomy version id (default: the built-in 66-class taxonomy).",
        )
        parser.add_argument(
            "--adjudicate-classes",
            type=_names,
            default=[],
            help="Only disagreements on these codes need adjudication.",
        )
        parser.add_argument(
            "--majority",
            action="store_true",
            help="With 3+ readers, a strict majority settles a class.",
        )
        parser.add_argument("--show-machine-statements", action="store_true")
        parser.add_argument(
            "--hide-machine-measurements",
            action="store_true",
            help=_("Readers do not see the machine's measurements (HR, PR, QRS, QT)."),
        )
        parser.add_argument(
            "--hide-acquisition-date",
            action="store_true",
            help="Readers and adjudicators do not see the day of each recording.",
        )
        parser.add_argument(
            "--filters",
            default="",
            help=_(
                "Display filters the viewer starts with, e.g. "
                "highpass=0.5,lowpass=40,notch=60 (Hz)."
            ),
        )
        parser.add_argument("--lease-minutes", type=int)
        parser.add_argument(
            "--calibration-every",
            type=int,
            default=0,
            metavar="N",
            help=_("One claim in N serves a calibration exam (0: none; N at least 2)."),
        )
        parser.add_argument(
            "--reread-every",
            type=int,
            default=0,
            metavar="N",
            help=_(
                "One claim in N serves again one of the reader's own earlier exams "
                "(0: none; N at least 2)."
            ),
        )
        parser.add_argument(
            "--min-read-ms",
            type=int,
            default=2000,
            help=_(
                "Reads submitted sooner than this many ms after the ECG is drawn "
                "are flagged fast (0: none; at most 600000)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        found = {}
        for role in ("readers", "adjudicators"):
            found[role] = list(users.filter(username__in=options[role], is_active=True))
            missing = set(options[role]) - {u.username for u in found[role]}
            if missing:
                raise CommandError(f"Unknown {role}: {', '.join(sorted(missing))}.")
        exams = Exam.objects.filter(dataset__in=options["dataset"]).order_by("pk")
        if not exams.exists():
            raise CommandError(
                f"No exams in dataset(s) {', '.join(options['dataset'])}."
            )
        taxonomy = taxonomy_by_id(options["taxonomy"]) or load_default_taxonomy()
        policy = "classes" if options["adjudicate_classes"] else "any"
        filters = _filters(options["filters"])
        with refused_as_command_error(services.WorkflowError):
            campaign = services.create_campaign(
                name=options["name"],
                taxonomy=taxonomy,
                exams=exams,
                readers=found["readers"],
                adjudicators=found["adjudicators"],
                readers_per_exam=options["readers_per_exam"],
                adjudication_policy=policy,
                adjudication_codes=options["adjudicate_classes"],
                majority_vote=options["majority"],
                show_machine_statements=options["show_machine_statements"],
                show_machine_measurements=not options["hide_machine_measurements"],
                show_acquisition_date=not options["hide_acquisition_date"],
                display_filters=filters,
                lease_minutes=options["lease_minutes"],
                min_read_ms=options["min_read_ms"],
                calibration_every=options["calibration_every"],
                reread_every=options["reread_every"],
            )
        self.stdout.write(
            f"Campaign {campaign.name!r} (id {campaign.pk}): "
            f"{campaign.n_exams} exams, {len(found['readers'])} readers, "
            f"{campaign.readers_per_exam} per exam."
        )
