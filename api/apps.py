"""App configuration for the REST API."""

from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "ECG Annotator API"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from api.tokens import revoke_on_password_change

        pre_save.connect(
            revoke_on_password_change,
            sender=get_user_model(),
            dispatch_uid="api.tokens.revoke_on_password_change",
        )
