"""Validation of a read (class codes, quality flags, comment) against its campaign."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Required, TypedDict

from django.utils.translation import gettext as _

from annotator.models import Campaign, Decision
from annotator.services.errors import InvalidLabels


def clean_labels(campaign: Campaign, labels: Iterable[str]) -> list[str]:
    """Validate codes against the campaign's taxonomy; taxonomy order, no repeats.

    Refuses unknown codes, two classes of one exclusive group, and any pair of the
    taxonomy's ``refuse`` exclusion rules; ``warn`` pairs are the reader's call.
    """
    taxonomy = campaign.taxonomy
    order = {code: i for i, code in enumerate(taxonomy.codes())}
    given = set(labels)
    unknown = sorted(c for c in given if c not in order)
    chosen = sorted((c for c in given if c in order), key=order.__getitem__)
    if unknown:
        raise InvalidLabels(
            f"Unknown class code(s) for taxonomy {campaign.taxonomy}: "
            f"{', '.join(unknown)}."
        )
    for group, members in taxonomy.exclusive_groups().items():
        clash = [c for c in chosen if c in members]
        if len(clash) > 1:
            raise InvalidLabels(
                f"{' and '.join(clash)} are mutually exclusive ({group}); choose one."
            )
    given = set(chosen)
    refused = [
        rule
        for rule in taxonomy.exclusion_rules()
        if rule.severity == "refuse" and rule.a in given and rule.b in given
    ]
    if refused:
        names = taxonomy.class_names()
        raise InvalidLabels(
            " ".join(
                _("%(a_name)s (%(a)s) excludes %(b_name)s (%(b)s); remove one.")
                % {"a": r.a, "a_name": names[r.a], "b": r.b, "b_name": names[r.b]}
                for r in refused
            )
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


class ReadInput(TypedDict, total=False):
    """What a reader sends for a read; the keyword arguments of the read services."""

    labels: Required[Iterable[str]]
    quality: Iterable[str]
    comment: str
    duration_ms: int | None


def clean_read(campaign: Campaign, read: ReadInput) -> dict[str, Any]:
    """A read validated against its campaign, as the Decision's fields."""
    return {
        "labels": clean_labels(campaign, read["labels"]),
        "quality": clean_quality(read.get("quality", ())),
        "comment": read.get("comment", ""),
        "duration_ms": read.get("duration_ms"),
    }
