"""``manage.py load_taxonomy FILE --name NAME --version V``: add a taxonomy version."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotator.taxonomy import TaxonomyError, load_taxonomy


class Command(BaseCommand):
    help = (
        "Load a taxonomy file (CSV or JSON; columns code, name, group, parent, "
        "snomed_ct, shortcut, exclusive_group, definition, synonyms, excludes, "
        "exclusion) as a new taxonomy version. A file with errors loads nothing; "
        "the message names the file, the row and what to fix."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file")
        parser.add_argument("--name", required=True, help="Taxonomy name, e.g. CODE-II")
        parser.add_argument(
            "--taxonomy-version",
            "--tv",
            dest="taxonomy_version",
            default="1.0",
            help="Version label (default 1.0); a name+version pair is loaded once.",
        )
        parser.add_argument("--description", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            taxonomy = load_taxonomy(
                options["file"],
                name=options["name"],
                version=options["taxonomy_version"],
                description=options["description"],
            )
        except TaxonomyError as exc:
            raise CommandError(str(exc)) from exc
        count = taxonomy.classes.count()
        self.stdout.write(
            f"Taxonomy {taxonomy.name!r} version {taxonomy.version!r}: {count} classes "
            f"(id {taxonomy.pk})."
        )
