"""A campaign's readings from the database, as the agreement engine's arrays.

The jobs (:mod:`annotator.jobs`) and the ``agreement`` command read a campaign
chunk by chunk through :func:`load_readings`: readers' reads, models' readings,
the stored consensus and the reference standard of the exams in an id range,
as int8 tensors for :func:`annotator.agreement.count_chunk`. The check reads
(calibration exams and re-reads, a few per reader and week) are read whole by
:func:`check_sections`, for :mod:`annotator.agreement.checks`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from itertools import batched
from typing import Any

import numpy as np
from django.db import connections, transaction
from django.db.models import OuterRef, Subquery, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from annotator import exports
from annotator.agreement import checks
from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    MachineReading,
    ReferenceLabel,
)


def campaign_readers(campaign: Campaign) -> list[tuple[int, str]]:
    """(user id, username) of everyone with a submitted read and of every
    machine with a reading, sorted by name."""
    rows = set(
        Assignment.objects.filter(
            campaign=campaign,
            kind=Assignment.Kind.READ,
            status=Assignment.Status.SUBMITTED,
        )
        .order_by()
        .values_list("reader_id", "reader__username")
        .distinct()
    )
    rows |= set(campaign_machines(campaign))
    return sorted(rows, key=lambda row: row[1])


def campaign_machines(campaign: Campaign) -> list[tuple[int, str]]:
    """(user id, username) of the machines with a reading in the campaign."""
    return list(
        MachineReading.objects.filter(campaign=campaign)
        .order_by()
        .values_list("reader_id", "reader__username")
        .distinct()
    )


def chunk_bounds(campaign: Campaign, chunk_size: int) -> list[tuple[int, int]]:
    """Half-open exam-id ranges [lo, hi) of about ``chunk_size`` exams each."""
    ids = np.fromiter(
        CampaignExam.objects.filter(campaign=campaign)
        .in_consensus()
        .order_by("exam_id")
        .values_list("exam_id", flat=True)
        .iterator(chunk_size=20_000),
        dtype=np.int64,
    )
    if ids.size == 0:
        return []
    starts = ids[::chunk_size]
    ends = [*starts[1:].tolist(), int(ids[-1]) + 1]
    return list(zip(starts.tolist(), ends, strict=True))


class _LabelSets(dict[str, int]):
    """Distinct label lists (their JSON text) → row of a 0/1 table over the classes.

    A campaign's reads repeat a few thousand label sets, so each distinct text
    is parsed once and a row's labels become one integer; the tensor is then
    filled by one fancy assignment instead of a JSON parse and a numpy call per
    read. JSON ``null`` gets a row of its own, flagged in ``null``.
    """

    def __init__(self, index: dict[str, int]) -> None:
        super().__init__()
        self.index = index
        self.rows: list[np.ndarray] = []
        self.null: list[bool] = []

    def __missing__(self, text: str) -> int:
        labels = json.loads(text)
        row = np.zeros(len(self.index), dtype=np.int8)
        if labels is not None:
            # An unknown code raises KeyError, as a per-read lookup would.
            row[[self.index[code] for code in labels]] = 1
        self[text] = len(self.rows)
        self.rows.append(row)
        self.null.append(labels is None)
        return self[text]

    def table(self) -> np.ndarray:
        if not self.rows:
            return np.zeros((0, len(self.index)), dtype=np.int8)
        return np.stack(self.rows)


_FETCH = 20_000  # rows per fetch from a server-side cursor, and per bulk step


def _rows_of(exam_ids: np.ndarray, keys: Sequence[int]) -> np.ndarray:
    """Positions of ``keys`` in the sorted ``exam_ids``; KeyError for a stranger."""
    wanted = np.fromiter(keys, dtype=np.int64, count=len(keys))
    pos = np.searchsorted(exam_ids, wanted)
    found = pos < len(exam_ids)
    found[found] = exam_ids[pos[found]] == wanted[found]
    if not found.all():
        raise KeyError(int(wanted[~found][0]))
    return pos


@contextlib.contextmanager
def _read_snapshot(using: str) -> Iterator[None]:
    """On PostgreSQL, one read transaction (links and reads from one snapshot)
    with JIT compilation off; elsewhere nothing (a SQLite transaction here would
    be IMMEDIATE and take the write lock from the readers).

    The reads query probes the decision index once per read; its estimated cost
    is high enough that PostgreSQL JIT-compiles it with inlining and
    optimisation, which took 0.1-0.2 s a chunk (more than half the query) for
    no gain on a plan that is all index look-ups.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=using):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")
        yield


def load_readings(
    campaign: Campaign,
    *,
    reader_ids: Sequence[int],
    codes: Sequence[str],
    lo: int,
    hi: int,
    reference: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Readings (E, J, K), consensus (E, K), reference (E, K) or None, and exam
    ids (E,) of a chunk; the label arrays int8.

    Exams are the campaign's with ``lo <= exam id < hi``; readers follow
    ``reader_ids`` and classes ``codes``. A reading is 1/0 per class, -1 where the
    reader did not read the exam; the consensus is the exam's stored consensus
    (unanimous, majority, policy or adjudicated), -1 while it has none. The
    reference is the campaign's reference labels ("imported", -1 where an exam
    has none) or its consensus ("consensus"); None when not asked for.
    """
    index = {code: k for k, code in enumerate(codes)}
    column = {reader_id: j for j, reader_id in enumerate(reader_ids)}
    sets = _LabelSets(index)
    # Labels come as JSON text and are parsed once per distinct set (_LabelSets),
    # not once per row by the JSONField.
    as_text = Cast("consensus_labels", TextField())
    decision_text = (
        Decision.objects.filter(assignment=OuterRef("pk"))
        .order_by()
        .values_list(Cast("labels", TextField()))
    )
    using = CampaignExam.objects.db
    with _read_snapshot(using):
        links = list(
            CampaignExam.objects.filter(
                campaign=campaign, exam_id__gte=lo, exam_id__lt=hi
            )
            .in_consensus()
            .order_by("exam_id")
            .values_list("exam_id", "consensus_state", as_text)
        )
        exam_ids = np.fromiter(
            (link[0] for link in links), dtype=np.int64, count=len(links)
        )
        # Reads from the assignments, each decision fetched through its unique
        # index: a join let PostgreSQL hash the whole decision table for every
        # chunk (a scan of every read of every campaign, three times the CPU).
        reads = (
            Assignment.objects.filter(
                campaign=campaign,
                kind=Assignment.Kind.READ,
                status=Assignment.Status.SUBMITTED,
                exam_id__gte=lo,
                exam_id__lt=hi,
            )
            .order_by()
            .values_list("exam_id", "reader_id", Subquery(decision_text))
        )
        e_parts, j_parts, s_parts = [], [], []
        for batch in batched(reads.iterator(chunk_size=_FETCH), _FETCH):
            exams, readers, texts = zip(*batch, strict=True)
            j = np.fromiter(
                (column.get(r, -1) for r in readers), dtype=np.intp, count=len(batch)
            )
            # A reader whose first read landed after the job started has no
            # column; an assignment without a decision has no read.
            keep = (j >= 0) & np.fromiter(
                (t is not None for t in texts), dtype=bool, count=len(batch)
            )
            if not keep.all():
                pick = np.flatnonzero(keep).tolist()
                exams = [exams[i] for i in pick]
                texts = [texts[i] for i in pick]
                j = j[keep]
            e_parts.append(_rows_of(exam_ids, exams))
            j_parts.append(j)
            s_parts.append(np.fromiter(map(sets.__getitem__, texts), dtype=np.intp))
        # Calibration exams are outside the consensus, and out of the report
        # but for their own section; the few in this range are left out here.
        calibration = _calibration_ids(campaign, lo, hi)
        machine_rows = (
            MachineReading.objects.filter(
                campaign=campaign,
                exam_id__gte=lo,
                exam_id__lt=hi,
                reader_id__in=list(column),
            )
            .exclude(exam_id__in=calibration)
            .order_by()
            .values_list("exam_id", "reader_id", Cast("labels", TextField()))
        )
        for batch in batched(machine_rows.iterator(chunk_size=_FETCH), _FETCH):
            exams, readers, texts = zip(*batch, strict=True)
            e_parts.append(_rows_of(exam_ids, exams))
            j_parts.append(np.fromiter(map(column.__getitem__, readers), dtype=np.intp))
            s_parts.append(np.fromiter(map(sets.__getitem__, texts), dtype=np.intp))
        resolved = [
            (e, sets[text])
            for e, (_, state, text) in enumerate(links)
            if state in exports.RESOLVED and text is not None
        ]
        gold = []
        if reference == "imported":
            rows = [
                r for r in _reference_rows(campaign, lo, hi) if r[0] not in calibration
            ]
            positions = _rows_of(exam_ids, [exam for exam, _text in rows])
            gold = [
                (int(e), sets[text])
                for e, (_exam, text) in zip(positions, rows, strict=True)
            ]
    table, null = sets.table(), np.array(sets.null, dtype=bool)
    readings = np.full((len(links), len(reader_ids), len(codes)), -1, dtype=np.int8)
    if e_parts:
        s = np.concatenate(s_parts)
        if null[s].any():
            raise TypeError("a decision's labels are null, not a list")
        readings[np.concatenate(e_parts), np.concatenate(j_parts)] = table[s]
    consensus = np.full((len(links), len(codes)), -1, dtype=np.int8)
    if resolved:
        rows, ids = (np.array(v, dtype=np.intp) for v in zip(*resolved, strict=True))
        labelled = ~null[ids]  # JSON null: no consensus yet
        consensus[rows[labelled]] = table[ids[labelled]]
    standard = None
    if reference == "consensus":
        standard = consensus
    elif reference == "imported":
        standard = np.full((len(links), len(codes)), -1, dtype=np.int8)
        if gold:
            rows, ids = (np.array(v, dtype=np.intp) for v in zip(*gold, strict=True))
            standard[rows] = table[ids]
    elif reference is not None:
        raise ValueError(f"unknown reference source {reference!r}")
    return readings, consensus, standard, exam_ids


def _calibration_ids(campaign: Campaign, lo: int, hi: int) -> set[int]:
    """The calibration exams among the campaign's exams in [lo, hi)."""
    return set(
        CampaignExam.objects.filter(
            campaign=campaign,
            consensus_state=CampaignExam.ConsensusState.CALIBRATION,
            exam_id__gte=lo,
            exam_id__lt=hi,
        ).values_list("exam_id", flat=True)
    )


def _reference_rows(campaign: Campaign, lo: int, hi: int) -> list[tuple[int, str]]:
    """(exam id, labels as JSON text) of the campaign's reference in [lo, hi)."""
    return list(
        ReferenceLabel.objects.filter(
            campaign=campaign, exam_id__gte=lo, exam_id__lt=hi
        )
        .order_by("exam_id")
        .values_list("exam_id", Cast("labels", TextField()))
    )


def agreement_groups(
    codes: Sequence[str], taxonomy_groups: dict[str, list[str]]
) -> list[list[Any]]:
    """[name, [codes…]] of the taxonomy's exclusive groups of two or more classes
    among ``codes``, in taxonomy order: the multi-category choices the report
    measures."""
    present = set(codes)
    return [
        [name, [c for c in members if c in present]]
        for name, members in taxonomy_groups.items()
        if sum(c in present for c in members) >= 2
    ]


def machine_indices(names: Sequence[str], machines: Sequence[str]) -> list[int]:
    wanted = set(machines)
    return [j for j, name in enumerate(names) if name in wanted]


def group_indices(
    codes: Sequence[str], groups: Sequence[Sequence[Any]]
) -> list[tuple[int, ...]]:
    index = {code: k for k, code in enumerate(codes)}
    return [tuple(index[c] for c in members) for _name, members in groups]


def check_sections(
    campaign: Campaign, codes: Sequence[str], *, bootstrap: int, seed: int
) -> dict[str, Any]:
    """The report's ``calibration`` and ``retest`` sections (None when the
    campaign has no such reads): every reader's calibration reads against the
    exams' reference, by ISO week of submission, and every re-read against
    the reader's first read of the exam."""
    index = {code: k for k, code in enumerate(codes)}
    kind = Assignment.Kind

    def reads(of: str, **only: Any) -> list[tuple[Any, ...]]:
        return list(
            Decision.objects.filter(
                assignment__campaign=campaign,
                assignment__kind=of,
                assignment__status=Assignment.Status.SUBMITTED,
                **only,
            )
            .order_by("assignment__reader__username", "assignment__exam_id")
            .values_list(
                "assignment__reader__username",
                "assignment__exam_id",
                "assignment__submitted_at",
                "labels",
            )
        )

    def table(label_lists: Sequence[Sequence[str] | None]) -> np.ndarray:
        out = np.full((len(label_lists), len(codes)), -1, dtype=np.int8)
        for row, labels in enumerate(label_lists):
            if labels is not None:
                out[row] = 0
                out[row, [index[code] for code in labels]] = 1
        return out

    sections: dict[str, Any] = {"calibration": None, "retest": None}
    rows = reads(kind.CALIBRATION)
    truth = dict(
        ReferenceLabel.objects.filter(
            campaign=campaign, exam_id__in={row[1] for row in rows}
        ).values_list("exam_id", "labels")
    )
    rows = [row for row in rows if row[1] in truth]
    if rows:
        names = sorted({row[0] for row in rows})
        weeks = sorted({_iso_week(row[2]) for row in rows})
        sections["calibration"] = checks.calibration(
            table([row[3] for row in rows]),
            table([truth[row[1]] for row in rows]),
            np.array([names.index(row[0]) for row in rows], dtype=np.intp),
            np.array([weeks.index(_iso_week(row[2])) for row in rows], dtype=np.intp),
            np.array([row[1] for row in rows], dtype=np.int64),
            class_codes=codes,
            reader_names=names,
            period_names=weeks,
            bootstrap=bootstrap,
            seed=seed,
        )
    rows = reads(kind.REREAD)
    first = {}
    if rows:
        # The first reads of the re-read exams (of any reader; matched below).
        reread = Assignment.objects.filter(campaign=campaign, kind=kind.REREAD)
        pairs = {(row[0], row[1]) for row in rows}
        first = {
            (row[0], row[1]): row[3]
            for row in reads(
                kind.READ, assignment__exam_id__in=Subquery(reread.values("exam_id"))
            )
            if (row[0], row[1]) in pairs
        }
    rows = [row for row in rows if (row[0], row[1]) in first]
    if rows:
        names = sorted({row[0] for row in rows})
        sections["retest"] = checks.retest(
            table([row[3] for row in rows]),
            table([first[row[0], row[1]] for row in rows]),
            np.array([names.index(row[0]) for row in rows], dtype=np.intp),
            np.array([row[1] for row in rows], dtype=np.int64),
            class_codes=codes,
            reader_names=names,
            bootstrap=bootstrap,
            seed=seed,
        )
    return sections


def _iso_week(moment: Any) -> str:
    """The ISO week ("2026-W49") of a time, in the site's time zone."""
    year, week, _day = timezone.localtime(moment).isocalendar()
    return f"{year}-W{week:02d}"
