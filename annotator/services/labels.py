"""Validation of a read (classes, quality flags, comment, measurements, evidence)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, Required, TypedDict

from django.utils.translation import gettext as _

from annotator.models import Campaign, Decision, Exam
from annotator.services.errors import InvalidLabels

MEASUREMENTS = ("RR", "PR", "QRS", "QT", "QTc")  # intervals a reader measures, ms
MAX_INTERVAL_MS = 5000
MAX_EVIDENCE = 200
EVIDENCE_KEYS = ("code", "start", "end", "leads")


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
    measurements: dict[str, Any]
    evidence: list[Any]


def clean_read(campaign: Campaign, exam: Exam, read: ReadInput) -> dict[str, Any]:
    """A read of ``exam`` validated against its campaign, as the Decision's fields."""
    labels = clean_labels(campaign, read["labels"])
    return {
        "labels": labels,
        "quality": clean_quality(read.get("quality", ())),
        "comment": read.get("comment", ""),
        "duration_ms": read.get("duration_ms"),
        "measurements": clean_measurements(read.get("measurements") or {}),
        "evidence": clean_evidence(exam, labels, read.get("evidence") or []),
    }


class InvalidField(InvalidLabels):
    """A refused part of a read; the API shows the message beside ``field``."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def clean_measurements(measurements: Any) -> dict[str, float]:
    """Intervals in ms by name (RR, PR, QRS, QT, QTc), 0 < v ≤ 5000, to 0.1 ms.

    Returned in the order of ``MEASUREMENTS``, so equal reads store equal JSON.
    """
    if not isinstance(measurements, dict):
        raise InvalidField(
            "measurements",
            _("measurements must be an object of intervals in ms ({RR: 800, …})."),
        )
    unknown = sorted(str(k) for k in measurements if k not in MEASUREMENTS)
    if unknown:
        raise InvalidField(
            "measurements",
            _("measurements: %(names)s not measured here; use %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(MEASUREMENTS)},
        )
    cleaned = {}
    for name in MEASUREMENTS:
        if name not in measurements:
            continue
        value = measurements[name]
        if not _is_number(value) or not 0 < value <= MAX_INTERVAL_MS:
            raise InvalidField(
                "measurements",
                _(
                    "measurements.%(name)s must be a number of milliseconds "
                    "between 0 and %(max)s, not %(value)s."
                )
                % {"name": name, "max": MAX_INTERVAL_MS, "value": _shown(value)},
            )
        cleaned[name] = round(float(value), 1)
    return cleaned


def clean_evidence(exam: Exam, labels: list[str], evidence: Any) -> list[dict]:
    """Spans of the tracing where a chosen class is seen.

    Each item is ``{code, start, end, leads}``: ``code`` among the read's
    ``labels``; ``start`` and ``end`` in seconds from the record's start,
    0 ≤ start < end ≤ the record's length, to the millisecond; ``leads`` the
    exam's lead names (no repeats), returned in the exam's lead order.
    """
    if not isinstance(evidence, list):
        raise InvalidField(
            "evidence", _("evidence must be a list of {code, start, end, leads}.")
        )
    if len(evidence) > MAX_EVIDENCE:
        raise InvalidField(
            "evidence",
            _("evidence has %(n)s spans; at most %(max)s are kept per read.")
            % {"n": len(evidence), "max": MAX_EVIDENCE},
        )
    duration = exam.n_samples / exam.sampling_rate
    return [
        _clean_span(f"evidence[{i}]", item, exam, labels, duration)
        for i, item in enumerate(evidence)
    ]


def _clean_span(
    where: str, item: Any, exam: Exam, labels: list[str], duration: float
) -> dict[str, Any]:
    def refuse(message: str, **values: Any) -> InvalidField:
        return InvalidField("evidence", message % {"where": where, **values})

    if not isinstance(item, dict):
        raise refuse(_("%(where)s must be an object {code, start, end, leads}."))
    missing = [k for k in EVIDENCE_KEYS if k not in item]
    if missing:
        raise refuse(
            _("%(where)s lacks %(keys)s; a span is {code, start, end, leads}."),
            keys=", ".join(missing),
        )
    extra = sorted(str(k) for k in item if k not in EVIDENCE_KEYS)
    if extra:
        raise refuse(
            _(
                "%(where)s has unknown keys %(keys)s; "
                "a span is {code, start, end, leads}."
            ),
            keys=", ".join(extra),
        )
    code = item["code"]
    if not isinstance(code, str) or code not in labels:
        raise refuse(
            _("%(where)s.code %(code)s is not among the read's labels (%(labels)s)."),
            code=_shown(code),
            labels=", ".join(labels) or _("none"),
        )
    for key in ("start", "end"):
        if not _is_number(item[key]):
            raise refuse(
                _("%(where)s.%(key)s must be a number of seconds, not %(value)s."),
                key=key,
                value=_shown(item[key]),
            )
    start, end = round(float(item["start"]), 3), round(float(item["end"]), 3)
    if not 0 <= start < end <= duration:
        raise refuse(
            _(
                "%(where)s: the span %(start)s–%(end)s s must start before it "
                "ends, within the record (0–%(duration)s s)."
            ),
            start=_shown(item["start"]),
            end=_shown(item["end"]),
            duration=f"{duration:g}",
        )
    leads = item["leads"]
    if not isinstance(leads, list) or not leads:
        raise refuse(_("%(where)s.leads must be a non-empty list of lead names."))
    order = {name: i for i, name in enumerate(exam.lead_names)}
    for lead in leads:
        if not isinstance(lead, str) or lead not in order:
            raise refuse(
                _("%(where)s.leads: %(lead)s is not a lead of this exam (%(names)s)."),
                lead=_shown(lead),
                names=", ".join(exam.lead_names),
            )
    if len(set(leads)) != len(leads):
        raise refuse(_("%(where)s.leads names a lead twice."))
    return {
        "code": code,
        "start": start,
        "end": end,
        "leads": sorted(leads, key=order.__getitem__),
    }


def _shown(value: Any) -> str:
    """A refused value as the message quotes it ('AF', 12.5, true, null)."""
    if isinstance(value, str):
        return repr(value[:40])
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float):
        return f"{value:g}"
    return type(value).__name__
