"""Readings made elsewhere (a CSV) joining a campaign, so agreement covers them too.

Columns: ``exam_id``, ``reader``, and either ``labels`` (class codes separated
by semicolons) or one 0/1 column per class code; optional ``dataset``,
``quality`` (semicolon-separated flags) and ``comment``. Unknown exam ids,
readers and codes are reported row by row, never guessed.

A reference standard (:func:`import_reference`) has the same columns without
``reader``: one label set per exam of an existing campaign, taken all or
nothing.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction

from annotator.models import Campaign, Exam, Role, TaxonomyVersion

# The service modules themselves, not the package: the package imports the
# job queue, whose import job imports this module.
from annotator.services.campaigns import add_readers, create_campaign
from annotator.services.checks import set_calibration_exams
from annotator.services.decisions import record_reading
from annotator.services.errors import WorkflowError
from annotator.services.labels import clean_labels
from annotator.services.machines import machine_account, record_machine_readings
from annotator.services.reference import set_reference_labels
from annotator.taxonomy import load_default_taxonomy

META_COLUMNS = {"exam_id", "reader", "labels", "dataset", "quality", "comment"}


class ReadingsError(ValueError):
    """A readings file that cannot be used at all; nothing was imported."""


@dataclass
class ReadingsSummary:
    campaign: str
    campaign_created: bool = False
    imported: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)
    new_readers: list[str] = field(default_factory=list)
    refused_readers: dict[str, str] = field(default_factory=dict)  # name → why

    def as_text(self) -> str:
        lines = [
            f"Campaign {self.campaign!r}"
            + (" (created)" if self.campaign_created else "")
            + f": {self.imported} readings imported, {self.skipped} already present, "
            f"{len(self.problems)} rejected."
        ]
        if self.new_readers:
            lines.append(
                "New reader accounts (cannot log in): " + ", ".join(self.new_readers)
            )
        lines += [f"  rejected: {p}" for p in self.problems]
        return "\n".join(lines)


def _read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ReadingsError(f"{path.name}: cannot read the file ({exc})") from exc


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(";") if v.strip()]


def import_readings(
    path: str | Path,
    *,
    campaign_name: str,
    dataset: str | None = None,
    taxonomy: TaxonomyVersion | None = None,
    machine: bool = False,
) -> ReadingsSummary:
    """Import a readings CSV into campaign ``campaign_name`` (created if missing).

    With ``machine`` the readers are models (machine accounts, created as
    needed) and the campaign must exist: their readings are kept apart from
    the people's (:mod:`annotator.services.machines`).
    """
    path = Path(path)
    columns, rows = _read_rows(path)
    for required in ("exam_id", "reader"):
        if required not in columns:
            raise ReadingsError(f"{path.name}: missing column {required!r}")
    campaign = Campaign.objects.filter(name=campaign_name).first()
    if machine:
        if campaign is None:
            raise ReadingsError(
                f"No campaign named {campaign_name!r}: a model's readings join an "
                "existing campaign."
            )
        return _import_machine_readings(path, columns, rows, campaign, dataset)
    taxonomy = campaign.taxonomy if campaign else (taxonomy or load_default_taxonomy())
    code_columns = _code_columns(path, columns, set(taxonomy.codes()), taxonomy)
    if not rows:
        raise ReadingsError(f"{path.name}: no readings")

    summary = ReadingsSummary(campaign=campaign_name)
    exams = _resolve_exams(rows, dataset=dataset, campaign=campaign, summary=summary)
    if not exams:
        raise ReadingsError(
            f"{path.name}: none of its exam ids is known; "
            + "; ".join(summary.problems[:5])
        )
    if campaign is None:
        per_exam = Counter(
            exams[r["exam_id"]].pk for r in rows if r.get("exam_id") in exams
        )
        readers = _readers({r["reader"] for r in rows if r.get("reader")}, summary)
        campaign = create_campaign(
            name=campaign_name,
            taxonomy=taxonomy,
            exams=sorted(
                {e.pk: e for e in exams.values()}.values(), key=lambda e: e.pk
            ),
            readers=list(readers.values()),
            readers_per_exam=max(per_exam.values(), default=1),
            description=f"Readings imported from {path.name}.",
        )
        summary.campaign_created = True
    else:
        readers = _readers({r["reader"] for r in rows if r.get("reader")}, summary)
        # The campaign's rules apply (an adjudicator cannot become a reader).
        try:
            add_readers(campaign=campaign, readers=list(readers.values()))
        except WorkflowError as exc:
            raise ReadingsError(f"{path.name}: {exc}") from exc

    for number, row in enumerate(rows, start=2):
        where = f"row {number}"
        exam = exams.get(row.get("exam_id", ""))
        reader = readers.get(row.get("reader", ""))
        if exam is None or reader is None:
            name = row.get("reader", "")
            if name in summary.refused_readers:
                summary.problems.append(f"{where}: reader {name!r} was refused")
            elif reader is None:
                summary.problems.append(f"{where}: no reader name")
            continue  # unknown exam ids were reported once already
        try:
            labels = _row_labels(row, code_columns)
            with transaction.atomic():
                decision = record_reading(
                    campaign=campaign,
                    exam=exam,
                    reader=reader,
                    labels=labels,
                    quality=_split(row.get("quality")),
                    comment=row.get("comment") or "",
                )
        except (WorkflowError, ValueError) as exc:
            summary.problems.append(f"{where} (exam {exam.exam_id}): {exc}")
            continue
        if decision is None:
            summary.skipped += 1
        else:
            summary.imported += 1
    return summary


def _import_machine_readings(
    path: Path,
    columns: list[str],
    rows: list[dict[str, str]],
    campaign: Campaign,
    dataset: str | None,
) -> ReadingsSummary:
    """Each model's rows as its machine readings; bad rows reported, not stored."""
    taxonomy = campaign.taxonomy
    code_columns = _code_columns(path, columns, set(taxonomy.codes()), taxonomy)
    if not rows:
        raise ReadingsError(f"{path.name}: no readings")
    summary = ReadingsSummary(campaign=campaign.name)
    exams = _resolve_exams(rows, dataset=dataset, campaign=campaign, summary=summary)
    by_machine: dict[str, list[tuple[Exam, list[str]]]] = {}
    machines: dict[str, object] = {}
    for number, row in enumerate(rows, start=2):
        name, exam = (
            (row.get("reader") or "").strip(),
            exams.get(row.get("exam_id", "")),
        )
        if exam is None:
            continue  # reported once already
        if not name:
            summary.problems.append(f"row {number}: no reader name")
            continue
        if name not in machines and name not in summary.refused_readers:
            try:
                existed = get_user_model().objects.filter(username=name).exists()
                machines[name] = machine_account(name)
                if not existed:
                    summary.new_readers.append(name)
            except WorkflowError as exc:
                summary.refused_readers[name] = str(exc)
                summary.problems.append(f"reader {name!r} refused: {exc}")
        if name in summary.refused_readers:
            continue
        try:
            labels = clean_labels(campaign, _row_labels(row, code_columns))
        except (WorkflowError, ValueError) as exc:
            summary.problems.append(f"row {number} (exam {exam.exam_id}): {exc}")
            continue
        by_machine.setdefault(name, []).append((exam, labels))
    for name, readings in by_machine.items():
        try:
            done = record_machine_readings(
                campaign=campaign, machine=machines[name], labels=readings
            )
        except WorkflowError as exc:
            summary.problems.append(f"reader {name!r}: {exc}; none of its rows stored")
            continue
        summary.imported += done.created + done.changed
        summary.skipped += done.unchanged
    return summary


@dataclass
class ReferenceImport:
    campaign: str
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    calibration: int | None = None  # exams made calibration exams, if asked

    def as_text(self) -> str:
        text = (
            f"Campaign {self.campaign!r}: reference standard of "
            f"{self.created + self.changed + self.unchanged} exams "
            f"({self.created} new, {self.changed} replaced, "
            f"{self.unchanged} unchanged)."
        )
        if self.calibration is not None:
            text += f" {self.calibration} exams became calibration exams."
        return text


def import_reference(
    path: str | Path,
    *,
    campaign_name: str,
    actor: object,
    dataset: str | None = None,
    calibration: bool = False,
) -> ReferenceImport:
    """Import a reference standard CSV into an existing campaign; all or nothing.

    Every row must name an exam of the campaign once, with valid labels; any
    problem refuses the whole file (ReadingsError lists the first ones) and
    nothing changes. Replaced label sets keep their old versions in the history.
    With ``calibration`` the file's exams also become calibration exams, in
    the same transaction (refused whole if any was already claimed).
    """
    path = Path(path)
    columns, rows = _read_rows(path)
    if "exam_id" not in columns:
        raise ReadingsError(f"{path.name}: missing column 'exam_id'")
    if "reader" in columns:
        raise ReadingsError(
            f"{path.name}: a reference standard has no 'reader' column "
            "(import readers' readings without --reference)"
        )
    campaign = Campaign.objects.select_related("taxonomy").filter(name=campaign_name)
    campaign = campaign.first()
    if campaign is None:
        raise ReadingsError(f"No campaign named {campaign_name!r}.")
    code_columns = _code_columns(
        path, columns, set(campaign.taxonomy.codes()), campaign.taxonomy
    )
    if not rows:
        raise ReadingsError(f"{path.name}: no rows")
    summary = ReadingsSummary(campaign=campaign_name)
    exams = _resolve_exams(rows, dataset=dataset, campaign=campaign, summary=summary)
    problems = list(summary.problems)
    labels = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        exam = exams.get(row.get("exam_id", ""))
        if exam is None:
            continue  # reported once above
        if exam.exam_id in seen:
            problems.append(
                f"row {number}: exam {exam.exam_id} is given again "
                f"(row {seen[exam.exam_id]})"
            )
            continue
        seen[exam.exam_id] = number
        try:
            codes = clean_labels(campaign, _row_labels(row, code_columns))
        except (WorkflowError, ValueError) as exc:
            problems.append(f"row {number} (exam {exam.exam_id}): {exc}")
            continue
        labels.append((exam, codes))
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ReadingsError(
            f"{path.name}: nothing imported, {len(problems)} problems: {shown}{more}"
        )
    with transaction.atomic():
        done = set_reference_labels(
            campaign=campaign, actor=actor, labels=labels, source="import"
        )
        result = ReferenceImport(
            campaign_name, done.created, done.changed, done.unchanged
        )
        if calibration:
            try:
                marked = set_calibration_exams(
                    campaign=campaign, exams=[exam for exam, _codes in labels]
                )
            except WorkflowError as exc:
                raise ReadingsError(f"{path.name}: nothing imported: {exc}") from None
            result.calibration = marked.marked
    return result


def _code_columns(
    path: Path, columns: list[str], codes: set[str], taxonomy: TaxonomyVersion
) -> list[str]:
    """The class columns of a file (none with a 'labels' column); refuses a file
    with both, with neither, or with columns that are not class codes."""
    code_columns = [c for c in columns if c not in META_COLUMNS]
    if "labels" in columns and code_columns:
        raise ReadingsError(
            f"{path.name}: give either a 'labels' column or one column per class, "
            f"not both (extra columns: {', '.join(code_columns[:5])})"
        )
    if "labels" not in columns:
        unknown = [c for c in code_columns if c not in codes]
        if unknown:
            raise ReadingsError(
                f"{path.name}: columns that are not class codes of {taxonomy}: "
                f"{', '.join(unknown)}"
            )
        if not code_columns:
            raise ReadingsError(f"{path.name}: no 'labels' column and no class columns")
    return code_columns


def _row_labels(row: dict[str, str], code_columns: list[str]) -> list[str]:
    if not code_columns:
        return _split(row.get("labels"))
    labels = []
    for code in code_columns:
        value = (row.get(code) or "").strip()
        if value in {"1", "1.0", "true", "True"}:
            labels.append(code)
        elif value not in {"0", "0.0", "false", "False"}:
            raise ValueError(f"column {code} has {value!r}; expected 0 or 1")
    return labels


def _resolve_exams(
    rows: list[dict[str, str]],
    *,
    dataset: str | None,
    campaign: Campaign | None,
    summary: ReadingsSummary,
) -> dict[str, Exam]:
    wanted = {r.get("exam_id", "") for r in rows} - {""}
    candidates = Exam.objects.filter(exam_id__in=wanted)
    if dataset:
        candidates = candidates.filter(dataset=dataset)
    if campaign is not None:
        candidates = candidates.filter(campaign_links__campaign=campaign)
    found: dict[str, list[Exam]] = {}
    for exam in candidates:
        found.setdefault(exam.exam_id, []).append(exam)
    exams = {}
    for exam_id in sorted(wanted):
        matches = found.get(exam_id, [])
        if len(matches) == 1:
            exams[exam_id] = matches[0]
        elif not matches:
            where = (
                " in this campaign"
                if campaign
                else (f" in dataset {dataset!r}" if dataset else "")
            )
            summary.problems.append(f"exam id {exam_id!r}: no such exam{where}")
        else:
            datasets = ", ".join(sorted(e.dataset for e in matches))
            summary.problems.append(
                f"exam id {exam_id!r}: found in datasets {datasets}; pass --dataset"
            )
    return exams


def _readers(names: set[str], summary: ReadingsSummary) -> dict[str, object]:
    """Existing users by name; unknown names become reader accounts without login.

    A new name must pass the user model's own username rules (Django's: letters,
    digits and ``@.+-_``), as a name typed in the admin would; one that does not
    is refused with the reason, and so are its rows.
    """
    users = get_user_model().objects
    username = users.model._meta.get_field(users.model.USERNAME_FIELD)
    readers = {u.get_username(): u for u in users.filter(username__in=names)}
    group, _ = Group.objects.get_or_create(name=Role.READER)
    for name in sorted(names - set(readers)):
        try:
            username.clean(name, None)
        except ValidationError as exc:
            summary.refused_readers[name] = " ".join(exc.messages)
            summary.problems.append(
                f"reader {name!r} refused: {summary.refused_readers[name]}"
            )
            continue
        user = users.create_user(username=name)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        user.groups.add(group)
        readers[name] = user
        summary.new_readers.append(name)
    return readers
