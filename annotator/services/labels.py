"""Validation of a read's class codes and quality flags against its campaign."""

from __future__ import annotations

from collections.abc import Iterable

from annotator.models import Campaign, Decision
from annotator.services.errors import InvalidLabels


def clean_labels(campaign: Campaign, labels: Iterable[str]) -> list[str]:
    """Validate codes against the campaign's taxonomy; taxonomy order, no repeats."""
    order = {code: i for i, code in enumerate(campaign.taxonomy.codes())}
    given = set(labels)
    unknown = sorted(c for c in given if c not in order)
    chosen = sorted((c for c in given if c in order), key=order.__getitem__)
    if unknown:
        raise InvalidLabels(
            f"Unknown class code(s) for taxonomy {campaign.taxonomy}: "
            f"{', '.join(unknown)}."
        )
    for group, members in campaign.taxonomy.exclusive_groups().items():
        clash = [c for c in chosen if c in members]
        if len(clash) > 1:
            raise InvalidLabels(
                f"{' and '.join(clash)} are mutually exclusive ({group}); choose one."
            )
    return chosen


def clean_quality(quality: Iterable[str]) -> list[str]:
    flags = sorted(set(quality))
    unknown = [q for q in flags if q not in Decision.Quality.values]
    if unknown:
        raise InvalidLabels(
            f"Unknown quality flag(s): {', '.join(unknown)}; "
            f"use {', '.join(Decision.Quality.values)}."
        )
    return flags
