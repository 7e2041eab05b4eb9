"""Command-line values the management commands share, parsed one way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError

from annotator.models import TaxonomyVersion


def taxonomy_by_id(pk: int | None) -> TaxonomyVersion | None:
    """The taxonomy version ``--taxonomy`` names (None when not given)."""
    if not pk:
        return None
    taxonomy = TaxonomyVersion.objects.filter(pk=pk).first()
    if taxonomy is None:
        raise CommandError(f"No taxonomy with id {pk}.")
    return taxonomy


@contextmanager
def refused_as_command_error(*errors: type[Exception]) -> Iterator[None]:
    """An import's refusal (one of ``errors``) ends the command with its message."""
    try:
        yield
    except errors as exc:
        raise CommandError(str(exc)) from None
