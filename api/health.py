"""What ``/api/health/`` checks: the database and the job queue's broker."""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError, connection


def database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return "ok"


def broker() -> str:
    """ "ok", "unreachable", or "inline" when jobs run in the process (no broker)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "inline"
    from annotator.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return "unreachable"
    return "ok"
