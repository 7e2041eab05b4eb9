"""What ``/api/health/`` checks: the database and the job queue's broker."""

from __future__ import annotations

from django.db import DatabaseError, connection


def database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    return "ok"


def broker() -> str:
    """The broker's state: ok, unreachable, or inline (jobs run in the process)."""
    from annotator.celery import app

    if app.conf.task_always_eager:
        return "inline"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception:
        return "unreachable"
    return "ok"
