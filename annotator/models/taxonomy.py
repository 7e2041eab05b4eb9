"""Versioned diagnostic taxonomies and their classes."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

_FROZEN_SHAPES: dict[tuple[int, Any], tuple[tuple[str, ...], dict[str, Any]]] = {}


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
        return list(self._shape()[0])

    def exclusive_groups(self) -> dict[str, list[str]]:
        """Group name → codes of which at most one may be chosen."""
        return {group: list(codes) for group, codes in self._shape()[1].items()}

    def _shape(self) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
        # A frozen taxonomy never changes, so its codes are read once per process
        # (every submitted read validates against them).
        key = (self.pk, self.frozen_at)
        if key in _FROZEN_SHAPES:
            return _FROZEN_SHAPES[key]
        rows = list(
            self.classes.order_by("display_order", "code").values_list(
                "code", "exclusive_group"
            )
        )
        groups: dict[str, list[str]] = {}
        for code, group in rows:
            if group:
                groups.setdefault(group, []).append(code)
        shape = (
            tuple(code for code, _ in rows),
            {group: tuple(codes) for group, codes in groups.items()},
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
