"""Versioned diagnostic taxonomies and their classes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ExclusionRule(NamedTuple):
    """Classes ``a`` and ``b`` may not be chosen together (``refuse``), or only
    once the reader confirms (``warn``). ``a`` is the class whose ``excludes``
    names the pair."""

    a: str
    b: str
    severity: str


class _Shape(NamedTuple):
    codes: tuple[str, ...]
    names: dict[str, str]
    groups: dict[str, tuple[str, ...]]
    rules: tuple[ExclusionRule, ...]


_FROZEN_SHAPES: dict[tuple[int, Any], _Shape] = {}
_STRICTER = {"refuse": 1, "warn": 0}


def expand_exclusions(
    rows: Iterable[tuple[str, str, str]],
) -> tuple[ExclusionRule, ...]:
    """Pairs from ``(code, excludes, exclusion)`` rows in display order.

    ``excludes`` is space-separated codes, or ``*`` (every other class) followed by
    ``-CODE`` exceptions; a blank ``exclusion`` means ``refuse``. A excludes B
    makes the pair {A, B}; where two rules name one pair the stricter one wins
    (``refuse`` over ``warn``) and ``a`` stays the first class to name it. Pairs
    are sorted by the display order of ``a``, then ``b``.
    """
    rows = list(rows)
    order = {code: i for i, (code, _, _) in enumerate(rows)}
    pairs: dict[frozenset[str], ExclusionRule] = {}
    for code, excludes, exclusion in rows:
        tokens = excludes.split()
        if not tokens:
            continue
        if tokens[0] == "*":
            kept = {t[1:] for t in tokens[1:] if t.startswith("-")}
            others = [c for c in order if c != code and c not in kept]
        else:
            others = [t for t in tokens if t in order and t != code]
        severity = exclusion or "refuse"
        for other in others:
            key = frozenset((code, other))
            known = pairs.get(key)
            if known is None:
                pairs[key] = ExclusionRule(code, other, severity)
            elif _STRICTER[severity] > _STRICTER[known.severity]:
                pairs[key] = known._replace(severity=severity)
    return tuple(
        sorted(pairs.values(), key=lambda rule: (order[rule.a], order[rule.b]))
    )


class TaxonomyVersion(models.Model):
    """A named, versioned set of diagnostic classes; frozen once labels use it."""

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=32)
    description = models.TextField(blank=True)
    source = models.CharField(
        max_length=255, blank=True, help_text="File it came from."
    )
    frozen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="taxonomy_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None

    def freeze(self) -> None:
        """Mark the version as in use; its classes can no longer change."""
        if self.frozen_at is None:
            TaxonomyVersion.objects.filter(pk=self.pk, frozen_at__isnull=True).update(
                frozen_at=timezone.now()
            )
            self.refresh_from_db(fields=["frozen_at"])

    def codes(self) -> list[str]:
        """Class codes in display order: the column order of tensors and exports."""
        return list(self._shape().codes)

    def exclusive_groups(self) -> dict[str, list[str]]:
        """Group name → codes of which at most one may be chosen."""
        return {group: list(codes) for group, codes in self._shape().groups.items()}

    def exclusion_rules(self) -> list[ExclusionRule]:
        """The classes' ``excludes`` as symmetric pairs, each with its severity.

        The one expansion of the rules: label validation and the API (hence the
        browser's picker) read it from here.
        """
        return list(self._shape().rules)

    def class_names(self) -> dict[str, str]:
        """Code → name, for messages."""
        return dict(self._shape().names)

    def _shape(self) -> _Shape:
        # A frozen taxonomy never changes, so its classes are read once per process
        # (every submitted read validates against them).
        key = (self.pk, self.frozen_at)
        if key in _FROZEN_SHAPES:
            return _FROZEN_SHAPES[key]
        rows = list(
            self.classes.order_by("display_order", "code").values_list(
                "code", "name", "exclusive_group", "excludes", "exclusion"
            )
        )
        groups: dict[str, list[str]] = {}
        for code, _, group, _, _ in rows:
            if group:
                groups.setdefault(group, []).append(code)
        shape = _Shape(
            codes=tuple(row[0] for row in rows),
            names={row[0]: row[1] for row in rows},
            groups={group: tuple(codes) for group, codes in groups.items()},
            rules=expand_exclusions((row[0], row[3], row[4]) for row in rows),
        )
        if self.is_frozen:
            _FROZEN_SHAPES[key] = shape
        return shape


class DiagnosticClass(models.Model):
    taxonomy = models.ForeignKey(
        TaxonomyVersion, on_delete=models.CASCADE, related_name="classes"
    )
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    group = models.CharField(max_length=64)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    snomed_ct = models.CharField(max_length=32, blank=True)
    definition = models.TextField(blank=True)
    display_order = models.PositiveIntegerField(default=0)
    shortcut = models.CharField(max_length=1, blank=True, help_text="Keyboard hint.")
    exclusive_group = models.CharField(
        max_length=64,
        blank=True,
        help_text="Classes sharing a non-empty value are mutually exclusive.",
    )
    synonyms = models.JSONField(
        default=list,
        blank=True,
        help_text="Other words a reader may search for (abbreviations, languages).",
    )
    excludes = models.CharField(
        max_length=2000,
        blank=True,
        help_text="Codes this class excludes, space-separated; '*' every other "
        "class, '-CODE' an exception to '*'.",
    )
    exclusion = models.CharField(
        max_length=8,
        blank=True,
        choices=[("refuse", "Refused"), ("warn", "Warning the reader confirms")],
        help_text="How 'excludes' is enforced (refuse unless 'warn').",
    )

    class Meta:
        ordering = ["taxonomy", "display_order", "code"]
        verbose_name_plural = "diagnostic classes"
        constraints = [
            models.UniqueConstraint(
                fields=["taxonomy", "code"], name="class_code_unique"
            ),
            models.UniqueConstraint(
                fields=["taxonomy", "shortcut"],
                condition=~Q(shortcut=""),
                name="class_shortcut_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.name})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.taxonomy.is_frozen:
            raise ValidationError(
                f"Taxonomy {self.taxonomy} is frozen (labels refer to it); "
                "load a new version instead of editing this one."
            )
        super().save(*args, **kwargs)
