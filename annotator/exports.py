"""Label exports: CODE-15%-style CSV, JSON Lines with provenance, and the manifest.

Rows are written as they are read, a few thousand exams at a time, so memory
stays flat however large the campaign. The data file holds nothing that
changes between runs (no timestamps), so exporting the same labels twice gives
the same bytes and the same sha256; the manifest carries the generation time.
Only the pseudonym identifies a patient: no source patient id, name or date.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import batched
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from annotator.models import (
    Adjudication,
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    MachineReading,
    TaxonomyVersion,
)

FORMATS = ("csv", "jsonl")
RESOLVED = CampaignExam.RESOLVED  # the exams with consensus labels


@dataclass
class ExportResult:
    rows: int
    sha256: str
    methods: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    pseudonymous: bool = False  # exam ids replaced by keyed pseudonyms


class _HashingWriter(io.TextIOBase):
    """Text sink that hashes the UTF-8 bytes it passes on."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def write(self, text: str) -> int:
        data = text.encode("utf-8")
        self.digest.update(data)
        self.target.write(data)
        return len(text)


@functools.cache
def _pseudonym_key(configured: str, secret: str) -> bytes:
    """The pseudonyms' key, derived once per setting rather than once per row."""
    if configured:
        return configured.encode()
    return (
        hmac.new(secret.encode(), b"annotator exam pseudonyms", hashlib.sha256)
        .hexdigest()
        .encode()
    )


def exam_pseudonym(dataset: str, exam_id: str) -> str:
    """The keyed pseudonym of an exam in a pseudonymous export.

    HMAC-SHA256 of (dataset, source exam id) under the deployment's key: the
    same exam gets the same pseudonym in every export, so exports can be
    joined with one another but not with the source files, except by someone
    who holds the key (managers see the mapping in the admin's exam list).
    """
    key = _pseudonym_key(settings.ANNOTATOR_EXAM_PSEUDONYM_KEY, settings.SECRET_KEY)
    digest = hmac.new(key, f"{dataset}\0{exam_id}".encode(), hashlib.sha256).hexdigest()
    return f"x{digest[:23]}"


def _link_batches(
    campaign: Campaign, *, include_unresolved: bool, labels_as_text: bool
) -> Iterator[tuple[tuple[Any, ...], ...]]:
    """The campaign's exams in id order, ``ANNOTATOR_EXPORT_BATCH`` at a time.

    A row is ``(exam pk, exam_id, dataset, patient_pseudonym, age, sex,
    consensus state, consensus labels)``, the labels as JSON text with
    ``labels_as_text``. One query streamed through a server-side cursor: one
    query per batch (``exam_id > last … LIMIT``) let PostgreSQL merge-join the
    exam table from its first row every time, so each batch scanned all the
    exams before it and the export slowed down as it went.
    """
    links = (
        CampaignExam.objects.filter(campaign=campaign)
        .in_consensus()
        .order_by("exam_id")
    )
    if not include_unresolved:
        links = links.resolved()
    labels = (
        Cast("consensus_labels", TextField()) if labels_as_text else "consensus_labels"
    )
    size = settings.ANNOTATOR_EXPORT_BATCH
    rows = links.values_list(
        "exam_id",
        "exam__exam_id",
        "exam__dataset",
        "exam__patient_pseudonym",
        "exam__age",
        "exam__sex",
        "consensus_state",
        labels,
    ).iterator(chunk_size=size)
    yield from batched(rows, size)


def _exam_rows(
    campaign: Campaign, *, include_unresolved: bool, with_reads: bool
) -> Iterator[dict[str, Any]]:
    """The campaign's exams in id order, a batch at a time, with their reads."""
    usernames: dict[int, str] = {}
    for batch in _link_batches(
        campaign, include_unresolved=include_unresolved, labels_as_text=False
    ):
        reads: dict[int, list[dict[str, Any]]] = {}
        adjudications: dict[int, dict[str, Any]] = {}
        machines: dict[int, list[dict[str, Any]]] = {}
        if with_reads:
            ids = [row[0] for row in batch]
            reads, adjudications = _provenance(campaign, ids, usernames)
            machines = _machine_readings(campaign, ids, usernames)
        for row in batch:
            yield {
                "pk": row[0],
                "exam_id": row[1],
                "dataset": row[2],
                "patient_pseudonym": row[3],
                "age": row[4],
                "sex": row[5],
                "method": row[6],
                "labels": row[7],
                "reads": reads.get(row[0], []),
                "machine_readings": machines.get(row[0], []),
                "adjudication": adjudications.get(row[0]),
            }


class _Cells(dict[str, str]):
    """Consensus labels (JSON text) → the CSV's class cells, ``"0,1,…,"``.

    Exams share a few thousand label sets, so each distinct set is rendered
    once; JSON ``null`` (no consensus) renders as empty cells.
    """

    def __init__(self, codes: list[str]) -> None:
        super().__init__()
        self.index = {code: i for i, code in enumerate(codes)}
        self.blank = "," * len(codes)

    def __missing__(self, text: str) -> str:
        labels = json.loads(text)
        if labels is None:
            value = self.blank
        else:
            cells = ["0"] * len(self.index)
            for code in labels:
                cells[self.index[code]] = "1"
            value = "".join(cell + "," for cell in cells)
        self[text] = value
        return value


# A spreadsheet (Excel, LibreOffice, Google Sheets) evaluates a cell that starts
# with one of these as a formula: OWASP's "CSV injection".
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet evaluates: a leading quote
    before a formula character (OWASP's advice), other text as it is."""
    return "'" + value if value.startswith(_FORMULA_START) else value


# Fields made only of these characters are never quoted by a csv writer (under
# QUOTE_MINIMAL), so a batch of them can be written with plain string joins.
_PLAIN_FIELDS = re.compile(r"[\w.:/+=@-]+(?:,[\w.:/+=@-]+)*")


def _write_csv(
    campaign: Campaign,
    codes: list[str],
    out: _HashingWriter,
    *,
    include_unresolved: bool,
    pseudonymous: bool,
    progress: Callable[[int], None] | None,
) -> tuple[int, Counter[str]]:
    """The CSV's rows, a batch per write; returns (rows, consensus methods).

    Bytes equal ``csv.writer`` row by row: a batch whose exam ids, pseudonyms
    or methods hold any character a csv writer might quote goes through one.
    """
    cells = _Cells(codes)
    writer = csv.writer(out, lineterminator="\n")
    size = settings.ANNOTATOR_EXPORT_BATCH
    methods: Counter[str] = Counter()
    rows = 0
    for batch in _link_batches(
        campaign, include_unresolved=include_unresolved, labels_as_text=True
    ):
        records = [
            (
                exam_pseudonym(row[2], row[1])
                if pseudonymous
                else spreadsheet_text(row[1]),
                spreadsheet_text(row[3]),
                row[6],
                cells[row[7]]
                if row[6] in RESOLVED and row[7] is not None
                else cells.blank,
            )
            for row in batch
        ]
        fields = ",".join(f"{e},{p},{m}" for e, p, m, _ in records)
        if _PLAIN_FIELDS.fullmatch(fields):
            out.write("".join([f"{e},{p},{c}{m}\n" for e, p, m, c in records]))
        else:
            writer.writerows([e, p, *c.split(",")[:-1], m] for e, p, m, c in records)
        methods.update(record[2] for record in records)
        before, rows = rows, rows + len(records)
        if progress is not None:
            for step in range(before // size + 1, rows // size + 1):
                progress(step * size)
    return rows, methods


def _provenance(
    campaign: Campaign, exam_ids: list[int], usernames: dict[int, str]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    decisions = Decision.objects.filter(
        assignment__campaign=campaign,
        assignment__exam_id__in=exam_ids,
        assignment__kind=Assignment.Kind.READ,
        assignment__status=Assignment.Status.SUBMITTED,
    ).values_list(
        "assignment__exam_id",
        "assignment__reader_id",
        "labels",
        "quality",
        "version",
        "measurements",
        "evidence",
        "assignment__exam__sampling_rate",
    )
    rows = list(decisions)
    adjudication_rows = list(
        Adjudication.objects.filter(
            campaign=campaign, exam_id__in=exam_ids
        ).values_list("exam_id", "adjudicator_id", "labels", "note", "version")
    )
    missing = {r[1] for r in rows} | {a[1] for a in adjudication_rows}
    missing -= set(usernames)
    if missing:
        users = get_user_model().objects.filter(pk__in=missing)
        usernames.update(users.values_list("pk", "username"))
    reads: dict[int, list[dict[str, Any]]] = {}
    for exam_id, reader_id, labels, quality, version, measured, spans, fs in rows:
        reads.setdefault(exam_id, []).append(
            {
                "reader": usernames[reader_id],
                "labels": labels,
                "quality": quality,
                "version": version,
                "measurements": measured,
                "evidence": [_in_samples(span, fs) for span in spans],
            }
        )
    for entries in reads.values():
        entries.sort(key=lambda r: r["reader"])
    adjudications = {
        exam_id: {
            "adjudicator": usernames[user_id],
            "labels": labels,
            "note": note,
            "version": version,
        }
        for exam_id, user_id, labels, note, version in adjudication_rows
    }
    return reads, adjudications


def _machine_readings(
    campaign: Campaign, exam_ids: list[int], usernames: dict[int, str]
) -> dict[int, list[dict[str, Any]]]:
    """Models' readings of the exams, by exam: {"reader", "labels", "version",
    "machine": true}; never part of the consensus."""
    rows = list(
        MachineReading.objects.filter(
            campaign=campaign, exam_id__in=exam_ids
        ).values_list("exam_id", "reader_id", "labels", "version")
    )
    missing = {r[1] for r in rows} - set(usernames)
    if missing:
        users = get_user_model().objects.filter(pk__in=missing)
        usernames.update(users.values_list("pk", "username"))
    out: dict[int, list[dict[str, Any]]] = {}
    for exam_id, reader_id, labels, version in sorted(
        rows, key=lambda r: (r[0], usernames[r[1]])
    ):
        out.setdefault(exam_id, []).append(
            {
                "reader": usernames[reader_id],
                "labels": labels,
                "version": version,
                "machine": True,
            }
        )
    return out


def _in_samples(span: dict[str, Any], sampling_rate: float) -> dict[str, Any]:
    """An evidence span with its times also as sample indices (from 0) of the record."""
    return {
        **span,
        "start_sample": round(span["start"] * sampling_rate),
        "end_sample": round(span["end"] * sampling_rate),
    }


def _write_jsonl(
    campaign: Campaign,
    out: _HashingWriter,
    *,
    include_unresolved: bool,
    pseudonymous: bool,
    progress: Callable[[int], None] | None,
) -> tuple[int, Counter[str]]:
    """The JSON Lines records, one per exam; returns (rows, consensus methods)."""
    taxonomy = {"name": campaign.taxonomy.name, "version": campaign.taxonomy.version}
    methods: Counter[str] = Counter()
    rows = 0
    for exam in _exam_rows(
        campaign, include_unresolved=include_unresolved, with_reads=True
    ):
        labels = exam["labels"]
        resolved = exam["method"] in RESOLVED and labels is not None
        record = {
            "exam_id": exam_pseudonym(exam["dataset"], exam["exam_id"])
            if pseudonymous
            else exam["exam_id"],
            "dataset": exam["dataset"],
            "patient_pseudonym": exam["patient_pseudonym"],
            "age": exam["age"],
            "sex": exam["sex"],
            "consensus": {
                "method": exam["method"],
                "labels": labels if resolved else None,
            },
            "readers": exam["reads"],
            "machine_readings": exam["machine_readings"],
            "adjudication": exam["adjudication"],
            "taxonomy": taxonomy,
        }
        out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        rows += 1
        methods[exam["method"]] += 1
        if progress is not None and rows % settings.ANNOTATOR_EXPORT_BATCH == 0:
            progress(rows)
    return rows, methods


def write_export(
    campaign: Campaign,
    fmt: str,
    target: IO[bytes],
    *,
    include_unresolved: bool = False,
    pseudonymous: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write the campaign's consensus labels to ``target`` (binary) as CSV or JSONL.

    CSV: ``exam_id, patient_pseudonym``, one 0/1 column per class code in taxonomy
    order, ``consensus_method``. JSONL: one object per exam with the consensus,
    each reader's labels, measurements and evidence (times in seconds and in
    samples), the adjudication and the taxonomy version. Exams without
    a consensus are left out unless ``include_unresolved`` (their class cells are
    then empty / their labels null). ``pseudonymous`` writes each exam's keyed
    pseudonym (``exam_pseudonym``) in place of its source ``exam_id``, for
    sharing outside; by default the source id stays, to join with one's files.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    codes = campaign.taxonomy.codes()
    out = _HashingWriter(target)
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        header = ["exam_id", "patient_pseudonym", *codes, "consensus_method"]
        writer.writerow([spreadsheet_text(cell) for cell in header])
        rows, methods = _write_csv(
            campaign,
            codes,
            out,
            include_unresolved=include_unresolved,
            pseudonymous=pseudonymous,
            progress=progress,
        )
    else:
        rows, methods = _write_jsonl(
            campaign,
            out,
            include_unresolved=include_unresolved,
            pseudonymous=pseudonymous,
            progress=progress,
        )
    excluded: dict[str, int] = {}
    if not include_unresolved:
        excluded = dict(
            CampaignExam.objects.filter(campaign=campaign)
            .unresolved()
            .values_list("consensus_state")
            .annotate(n=Count("pk"))
        )
    return ExportResult(
        rows, out.digest.hexdigest(), dict(methods), excluded, pseudonymous
    )


def manifest(
    campaign: Campaign,
    fmt: str,
    result: ExportResult,
    *,
    file_name: str,
    agreement: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a reader of the export needs to trust and interpret it."""
    taxonomy: TaxonomyVersion = campaign.taxonomy
    classes = list(
        taxonomy.classes.order_by("display_order").values(
            "code", "name", "group", "snomed_ct", "definition"
        )
    )
    return {
        "file": file_name,
        "format": fmt,
        "rows": result.rows,
        "sha256": result.sha256,
        "generated_at": timezone.now().isoformat(),
        "campaign": {
            "name": campaign.name,
            "readers_per_exam": campaign.readers_per_exam,
            "adjudication_policy": campaign.adjudication_policy,
            "majority_vote": campaign.majority_vote,
        },
        "consensus_methods": result.methods,
        "excluded_without_consensus": result.excluded,
        "taxonomy": {
            "name": taxonomy.name,
            "version": taxonomy.version,
            "classes": classes,
        },
        "agreement": _agreement_summary(agreement),
        "identifiers": "Only the random patient pseudonym identifies a patient.",
        "exam_ids": "keyed pseudonyms (HMAC-SHA256 of dataset and source exam id)"
        if result.pseudonymous
        else "the source exam ids",
    }


def _agreement_summary(report: dict[str, Any] | None) -> dict[str, Any] | None:
    if not report:
        return None
    keep = ("fleiss_kappa", "krippendorff_alpha", "pabak", "ac1", "prevalence")
    return {
        "n_exams": report.get("n_exams"),
        "readers": report.get("readers", []),
        "machines": report.get("machines", []),  # models among the readers
        "macro": {k: report.get("macro", {}).get(k) for k in keep},
        "micro": {k: report.get("micro", {}).get(k) for k in keep},
        "per_class_kappa": {
            code: stats.get("fleiss_kappa")
            for code, stats in report.get("classes", {}).items()
        },
    }


def export_to_path(
    campaign: Campaign,
    fmt: str,
    path: Path,
    *,
    include_unresolved: bool = False,
    pseudonymous: bool = False,
    agreement: dict[str, Any] | None = None,
) -> tuple[ExportResult, Path]:
    """Write PATH and PATH.manifest.json atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        result = write_export(
            campaign,
            fmt,
            handle,
            include_unresolved=include_unresolved,
            pseudonymous=pseudonymous,
        )
    partial.replace(path)
    manifest_path = path.with_name(path.name + ".manifest.json")
    manifest_path.write_text(
        json.dumps(
            manifest(campaign, fmt, result, file_name=path.name, agreement=agreement),
            indent=2,
            ensure_ascii=False,
        )
    )
    return result, manifest_path
