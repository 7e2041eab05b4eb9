"""The Celery application; configured from Django settings (``CELERY_*``)."""

from __future__ import annotations

import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def command(*arguments: str) -> list[str]:
    """The command line of this app's ``celery`` program (a worker, beat), run
    by the interpreter running this: ``command("worker", "--pool", "solo")``."""
    return [sys.executable, "-m", "celery", "-A", "annotator", *arguments]
