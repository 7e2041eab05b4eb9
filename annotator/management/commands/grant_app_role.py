"""``manage.py grant_app_role NAME``: the database role the application runs as.

Run it as the role that owns the tables (the one that runs ``migrate``), after
every ``migrate``. It creates ``NAME`` if missing (a login role; its password
from ``--password-env``) and gives it what the application needs and no more:
read and write on the application's tables, but on the label history only
``SELECT`` and ``INSERT``; sequences to insert with; no ``TRUNCATE``, no
``TRIGGER``, no ownership. Owning nothing, the role can neither drop nor
disable the history's triggers nor replace their functions, and (not being a
superuser) cannot ``SET session_replication_role``. PostgreSQL only.
"""

from __future__ import annotations

import os
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction

from annotator.models import LabelRevision

HISTORY = LabelRevision._meta.db_table


def app_tables() -> list[str]:
    """Every table of the installed apps' models (the history included)."""
    tables = {
        model._meta.db_table
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy
    }
    return sorted(tables & set(connection.introspection.table_names()))


class Command(BaseCommand):
    help = "Create or update the least-privilege role the application connects as."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the role's name, e.g. annotator_app")
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="environment variable holding the role's password (else no "
            "password is set, for local trust or certificate authentication)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role is for PostgreSQL.")
        name = options["name"]
        if not name.replace("_", "").isalnum():
            raise CommandError(
                f"{name!r} is not a plain role name (letters, digits, _)."
            )
        if name == connection.settings_dict["USER"]:
            raise CommandError("The application role must not be the owner's role.")
        password = None
        if options["password_env"]:
            password = os.environ.get(options["password_env"])
            if not password:
                raise CommandError(f"${options['password_env']} is empty or unset.")
        role = connection.ops.quote_name(name)
        tables = app_tables()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name])
            if cursor.fetchone() is None:
                cursor.execute(f"CREATE ROLE {role} LOGIN")
            cursor.execute(
                f"ALTER ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOREPLICATION NOBYPASSRLS"
            )
            if password is not None:
                cursor.execute(f"ALTER ROLE {role} PASSWORD %s", [password])
            database = connection.ops.quote_name(connection.settings_dict["NAME"])
            cursor.execute(f"GRANT CONNECT ON DATABASE {database} TO {role}")
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            cursor.execute(f"REVOKE CREATE ON SCHEMA public FROM {role}")
            for table in tables:
                quoted = connection.ops.quote_name(table)
                cursor.execute(f"REVOKE ALL ON {quoted} FROM {role}")
                rights = (
                    "SELECT, INSERT"
                    if table == HISTORY
                    else "SELECT, INSERT, UPDATE, DELETE"
                )
                cursor.execute(f"GRANT {rights} ON {quoted} TO {role}")
            cursor.execute(
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}"
            )
        self.stdout.write(
            f"Role {name}: read and write on {len(tables) - 1} tables, "
            f"SELECT and INSERT only on {HISTORY}."
        )
