"""App configuration for the browser pages."""

from __future__ import annotations

from django.apps import AppConfig


class FrontendConfig(AppConfig):
    name = "frontend"
    verbose_name = "ECG Annotator pages"
