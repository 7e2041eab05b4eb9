"""ECG Annotator: the Django project package and the domain app."""

from __future__ import annotations

from annotator.celery import app as celery_app

__all__ = ["celery_app"]
