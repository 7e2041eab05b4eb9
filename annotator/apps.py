"""App configuration for the annotator domain."""

from __future__ import annotations

from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "ECG Annotator"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Tasks queued from web processes must use this project's Celery app
        # (broker from settings), not Celery's default one.
        from annotator import celery  # noqa: F401
