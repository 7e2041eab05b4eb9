"""SQL that only PostgreSQL runs (triggers, functions), as a migration operation.

The leading underscore keeps Django's migration loader from taking this
module for a migration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import migrations


def _on_postgres(sql: str) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


def postgres_sql(forward: str, backward: str) -> migrations.RunPython:
    """Run ``forward`` on PostgreSQL (``backward`` when unapplied); elsewhere nothing."""
    return migrations.RunPython(_on_postgres(forward), _on_postgres(backward))
