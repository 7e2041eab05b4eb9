"""``manage.py demo [--no-serve]``: a ready-to-use installation on this machine.

Migrates, makes sure the default taxonomy is there, imports pydicom's real
12-lead sample and synthetic exams, creates the demo users and a demo campaign,
collects static files, then serves on 127.0.0.1:8000 (unless ``--no-serve``),
with a Celery worker (and its beat, for stalled jobs) on the broker that needs
no server, so agreement reports and exports run in the background as in
production. Running it again changes nothing that exists already.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from annotator import celery, services
from annotator.models import Campaign, Exam
from annotator.taxonomy import load_default_taxonomy

DEMO_READERS = ("reader1", "reader2")
DEMO_USERS = {
    "reader1": "reader",
    "reader2": "reader",
    "adjudicator": "adjudicator",
    "manager": "manager",
}
DEMO_CAMPAIGN = "Demo campaign"
SYNTHETIC_DATASET = "synthetic"
SAMPLE_DATASET = "pydicom-sample"


class Command(BaseCommand):
    help = "Set up a demo installation (users, exams, campaign) and serve it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-serve",
            action="store_true",
            help="Set up only; do not start a server.",
        )
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Where to serve.")
        parser.add_argument(
            "--exams", type=int, default=200, help="Synthetic exams (default 200)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        taxonomy = load_default_taxonomy()
        self._import_sample()
        call_command(
            "make_synthetic",
            options["exams"],
            dataset=SYNTHETIC_DATASET,
            seed=0,
            verbosity=0,
        )
        users = self._users()
        if not Campaign.objects.filter(name=DEMO_CAMPAIGN).exists():
            services.create_campaign(
                name=DEMO_CAMPAIGN,
                taxonomy=taxonomy,
                exams=Exam.objects.filter(
                    dataset__in=[SAMPLE_DATASET, SYNTHETIC_DATASET]
                ).order_by("pk"),
                readers=[users[name] for name in DEMO_READERS],
                adjudicators=[users["adjudicator"]],
                readers_per_exam=2,
                created_by=users["manager"],
                description="Two blinded readers per exam; disagreements go to the "
                "adjudicator.",
            )
        campaign = Campaign.objects.get(name=DEMO_CAMPAIGN)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.stdout.write(
            f"Demo ready: {Exam.objects.count()} exams, campaign {campaign.name!r} "
            f"with {campaign.exam_links.count()} exams."
        )
        if not options["no_serve"]:
            worker = self._start_worker()
            # A TERM (not only Ctrl-C) stops the worker with the server.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            self.stdout.write(f"Serving on http://{options['addr']}/ (Ctrl-C stops).")
            try:
                call_command("runserver", options["addr"], use_reloader=False)
            finally:
                if worker is not None:
                    worker.terminate()
                    worker.wait(timeout=30)

    def _start_worker(self) -> subprocess.Popen | None:
        """A Celery worker with beat on the file-based queue; None when a broker
        is configured (its own workers serve it)."""
        if settings.CELERY_BROKER_URL != "filesystem://":
            self.stdout.write(
                "Jobs go to the configured broker: start a worker with "
                "`celery -A annotator worker`."
            )
            return None
        schedule = settings.DATA_DIR / "celerybeat-schedule"
        self.stdout.write("Starting a Celery worker for background jobs.")
        return subprocess.Popen(
            celery.command(
                "worker",
                "--pool",
                "solo",
                "--beat",
                "--schedule",
                str(schedule),
                "--loglevel",
                "WARNING",
            ),
            cwd=settings.BASE_DIR,
        )

    def _import_sample(self) -> None:
        """pydicom ships a real 12-lead ECG; import it when pydicom has it."""
        from pydicom.data import get_testdata_file

        from annotator.ingest.importer import import_exams

        path = get_testdata_file("waveform_ecg.dcm")
        if path:
            import_exams([path], fmt="dicom", dataset=SAMPLE_DATASET)

    def _users(self) -> dict[str, User]:
        """The demo users; a new password only for new users or from DEMO_PASSWORD."""
        given = os.environ.get("DEMO_PASSWORD")
        generated = None
        users = {}
        for username, role in DEMO_USERS.items():
            user, created = User.objects.get_or_create(username=username)
            user.groups.add(Group.objects.get(name=role))
            if role == "manager":
                # The demo's manager also runs the admin (/admin/).
                user.is_staff = user.is_superuser = True
            if given:
                user.set_password(given)
            elif created:
                generated = generated or secrets.token_urlsafe(12)
                user.set_password(generated)
            user.save()
            users[username] = user
        self.stdout.write(
            "Demo users and their roles: "
            + ", ".join(
                f"{name} ({role}{', superuser' if role == 'manager' else ''})"
                for name, role in DEMO_USERS.items()
            )
            + "."
        )
        if generated:
            self.stdout.write(
                f"Demo users {', '.join(DEMO_USERS)} have the password: {generated}\n"
                "(shown once; set DEMO_PASSWORD to choose it)."
            )
        elif not given:
            self.stdout.write(
                "Demo users exist already; their passwords are unchanged "
                "(set DEMO_PASSWORD to reset them)."
            )
        return users
