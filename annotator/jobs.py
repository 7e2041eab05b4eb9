"""Background jobs: agreement reports and label exports, their state in ``Job``.

An agreement job splits the campaign's exams into chunks by exam id; each chunk's
additive counts (agreement.count_chunk, with its Poisson-bootstrap replicates) are
saved to storage, and a final step merges them into the report. A chunk that is
computed twice (a retry, a redelivery after a worker died) writes the same file,
and the merge reads whatever is there, so every step is idempotent. Celery runs
the chunks as a group with the merge as its chord callback (annotator.tasks, which
imports this module; never the other way); without a broker the same functions
run inline. State changes go through the ``Job`` lifecycle methods.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from itertools import batched
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connections, transaction
from django.db.models import OuterRef, Subquery, TextField
from django.db.models.functions import Cast

from annotator import agreement, exports, storage
from annotator.models import (
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    Job,
    MachineReading,
    ReferenceLabel,
)
from annotator.services.reference import reference_in_use

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 50_000
DEFAULT_BOOTSTRAP = 200
MAX_SEED = 2**32 - 1  # the bootstrap's seed is stored with the counts as int64


def check_seed(seed: int) -> int:
    """The bootstrap seed if it is one a report can record; ValueError if not."""
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"The seed must be between 0 and {MAX_SEED}, not {seed}.")
    return seed


NO_READS = "The campaign has no submitted reads yet; nothing to measure."


# --- Readings from the database ------------------------------------------------------


def campaign_readers(campaign: Campaign) -> list[tuple[int, str]]:
    """(user id, username) of everyone with a submitted read and of every
    machine with a reading, sorted by name."""
    rows = set(
        Assignment.objects.filter(campaign=campaign, status=Assignment.Status.SUBMITTED)
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
        machine_rows = (
            MachineReading.objects.filter(
                campaign=campaign,
                exam_id__gte=lo,
                exam_id__lt=hi,
                reader_id__in=list(column),
            )
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
            rows = _reference_rows(campaign, lo, hi)
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


def _machine_indices(names: Sequence[str], machines: Sequence[str]) -> list[int]:
    wanted = set(machines)
    return [j for j, name in enumerate(names) if name in wanted]


def _group_indices(
    codes: Sequence[str], groups: Sequence[Sequence[Any]]
) -> list[tuple[int, ...]]:
    index = {code: k for k, code in enumerate(codes)}
    return [tuple(index[c] for c in members) for _name, members in groups]


# --- Job state ---------------------------------------------------------------------


def _running(job_id: int, *related: str) -> Job | None:
    """The job, started (again, after an interrupted run); None once finished."""
    job = Job.objects.select_related(*related).filter(pk=job_id).first()
    if job is None or not job.start():
        return None
    return job


# --- Agreement -----------------------------------------------------------------------


def _chunk_key(job_id: int, index: int) -> str:
    return f"jobs/{job_id}/chunk-{index:05d}.npz"


def plan_agreement(job_id: int) -> list[tuple[int, int, int]] | None:
    """Fix the job's readers, classes and chunks; returns (index, lo, hi) per chunk."""
    job = _running(job_id, "campaign__taxonomy")
    if job is None:
        return None
    campaign = job.campaign
    plan = job.params.get("plan")
    if plan is None:
        readers = campaign_readers(campaign)
        if not readers:
            job.fail(NO_READS)
            return None
        chunk_size = int(job.params.get("chunk_size") or DEFAULT_CHUNK)
        plan = job.fix_plan(
            {
                "reader_ids": [r[0] for r in readers],
                "reader_names": [r[1] for r in readers],
                "machine_names": sorted(m[1] for m in campaign_machines(campaign)),
                "codes": campaign.taxonomy.codes(),
                "groups": agreement_groups(
                    campaign.taxonomy.codes(), campaign.taxonomy.exclusive_groups()
                ),
                "reference": reference_in_use(campaign),
                "chunks": chunk_bounds(campaign, chunk_size),
            }
        )
        if plan is None:
            return None
    job.advance(2)
    return [(i, lo, hi) for i, (lo, hi) in enumerate(plan["chunks"])]


def count_agreement_chunk(job_id: int, index: int, lo: int, hi: int) -> None:
    """Count one chunk and save its counts; skipped if the file exists already."""
    key = _chunk_key(job_id, index)
    job = Job.objects.select_related("campaign").get(pk=job_id)
    if job.is_finished:
        return
    if not default_storage.exists(key):
        plan = job.params["plan"]
        readings, consensus, reference, exam_ids = load_readings(
            job.campaign,
            reader_ids=plan["reader_ids"],
            codes=plan["codes"],
            lo=lo,
            hi=hi,
            reference=plan.get("reference"),
        )
        counts = agreement.count_chunk(
            readings,
            consensus,
            exam_keys=exam_ids,
            bootstrap=int(job.params.get("bootstrap") or 0),
            seed=int(job.params.get("seed") or 0),
            reference=reference,
            groups=_group_indices(plan["codes"], plan.get("groups", [])),
            machines=_machine_indices(
                plan["reader_names"], plan.get("machine_names", [])
            ),
        )
        _save_counts(key, counts)
    n_chunks = len(job.params["plan"]["chunks"])
    done = sum(default_storage.exists(_chunk_key(job_id, i)) for i in range(n_chunks))
    job.advance(2 + 93 * done / max(n_chunks, 1))


def _save_counts(key: str, counts: agreement.Counts) -> None:
    arrays = {f"point_{k}": v for k, v in counts.point.items()}
    if counts.boot is not None:
        arrays.update({f"boot_{k}": v for k, v in counts.boot.items()})
    meta = np.array(
        [
            counts.n_readers,
            counts.n_classes,
            int(counts.has_consensus),
            counts.n_bootstrap,
            counts.seed,
            int(counts.has_reference),
        ],
        dtype=np.int64,
    )
    sizes = np.array([len(g) for g in counts.groups], dtype=np.int64)
    members = np.array([k for g in counts.groups for k in g], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, meta=meta, group_sizes=sizes, group_members=members, **arrays)
    storage.overwrite(key, buffer.getvalue())


def _load_counts(key: str) -> agreement.Counts:
    with default_storage.open(key, "rb") as handle:
        data = np.load(io.BytesIO(handle.read()), allow_pickle=False)
        n_readers, n_classes, has_consensus, n_bootstrap, seed, has_reference = data[
            "meta"
        ].tolist()
        point = {k[6:]: data[k] for k in data.files if k.startswith("point_")}
        boot = {k[5:]: data[k] for k in data.files if k.startswith("boot_")} or None
        members = data["group_members"].tolist()
        ends = np.cumsum(data["group_sizes"]).tolist()
        groups = tuple(
            tuple(members[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)
        )
    return agreement.Counts(
        n_readers,
        n_classes,
        bool(has_consensus),
        n_bootstrap,
        seed,
        point,
        boot,
        has_reference=bool(has_reference),
        groups=groups,
    )


def merge_agreement(job_id: int) -> None:
    """Merge the chunk counts into the report; store it on the job and as a file."""
    job = Job.objects.select_related("campaign__taxonomy").get(pk=job_id)
    if job.is_finished:
        return
    plan = job.params["plan"]
    total = None
    for i in range(len(plan["chunks"])):
        counts = _load_counts(_chunk_key(job_id, i))
        total = counts if total is None else total + counts
    campaign = job.campaign
    if total is None or not plan["reader_names"]:
        job.fail(NO_READS)
        return
    report = agreement.report(
        total,
        class_codes=plan["codes"],
        reader_names=plan["reader_names"],
        group_names=[name for name, _members in plan.get("groups", [])],
        reference_source=plan.get("reference") or "imported",
        machine_names=plan.get("machine_names", []),
    )
    document = {
        "campaign": campaign.name,
        "taxonomy": f"{campaign.taxonomy.name} {campaign.taxonomy.version}",
        "bootstrap": total.n_bootstrap,
        "seed": total.seed,
        **report,
    }
    key = f"jobs/{job_id}/agreement.json"
    payload = json.dumps(document, indent=1, sort_keys=False).encode()
    storage.overwrite(key, payload)
    job.succeed(
        result=document, output_key=key, sha256=hashlib.sha256(payload).hexdigest()
    )
    for i in range(len(plan["chunks"])):
        default_storage.delete(_chunk_key(job_id, i))


def agreement_report(
    campaign: Campaign,
    *,
    bootstrap: int = 0,
    seed: int = 0,
    chunk_size: int = DEFAULT_CHUNK,
) -> dict[str, Any]:
    """The agreement report computed in this process (the ``agreement`` command)."""
    check_seed(seed)
    readers = campaign_readers(campaign)
    if not readers:
        raise ValueError(f"Campaign {campaign.name!r} has no submitted reads yet.")
    codes = campaign.taxonomy.codes()
    groups = agreement_groups(codes, campaign.taxonomy.exclusive_groups())
    source = reference_in_use(campaign)
    names = [r[1] for r in readers]
    machine_names = sorted(m[1] for m in campaign_machines(campaign))
    total = None
    for lo, hi in chunk_bounds(campaign, chunk_size):
        readings, consensus, reference, exam_ids = load_readings(
            campaign,
            reader_ids=[r[0] for r in readers],
            codes=codes,
            lo=lo,
            hi=hi,
            reference=source,
        )
        counts = agreement.count_chunk(
            readings,
            consensus,
            exam_keys=exam_ids,
            bootstrap=bootstrap,
            seed=seed,
            reference=reference,
            groups=_group_indices(codes, groups),
            machines=_machine_indices(names, machine_names),
        )
        total = counts if total is None else total + counts
    report = agreement.report(
        total,
        class_codes=codes,
        reader_names=names,
        group_names=[name for name, _members in groups],
        reference_source=source or "imported",
        machine_names=machine_names,
    )
    return {
        "campaign": campaign.name,
        "taxonomy": f"{campaign.taxonomy.name} {campaign.taxonomy.version}",
        "bootstrap": bootstrap,
        "seed": seed,
        **report,
    }


# --- Export ------------------------------------------------------------------------


def run_export(job_id: int) -> None:
    """Write the export to a temporary file, then move it into storage."""
    job = _running(job_id, "campaign__taxonomy")
    if job is None:
        return
    campaign = job.campaign
    fmt = job.params["format"]
    total = max(campaign.exam_links.count(), 1)
    key = f"jobs/{job_id}/labels.{fmt}"
    with tempfile.NamedTemporaryFile(suffix=f".{fmt}", delete=False) as handle:
        try:
            result = exports.write_export(
                campaign,
                fmt,
                handle,
                include_unresolved=bool(job.params.get("include_unresolved")),
                pseudonymous=bool(job.params.get("pseudonymous")),
                progress=lambda rows: job.advance(5 + 85 * rows / total),
            )
        except Exception:
            os.unlink(handle.name)
            raise
    document = exports.manifest(
        campaign,
        fmt,
        result,
        file_name=os.path.basename(key),
        agreement=Job.objects.latest_report(campaign),
    )
    try:
        with open(handle.name, "rb") as data:
            storage.overwrite(key, data)
        storage.overwrite(
            key + ".manifest.json",
            json.dumps(document, indent=2, ensure_ascii=False).encode(),
        )
    finally:
        os.unlink(handle.name)
    job.succeed(
        result={
            "rows": result.rows,
            "methods": result.methods,
            "excluded": result.excluded,
            "manifest": document,
        },
        output_key=key,
        sha256=result.sha256,
    )


def sweep_stalled(
    *, queue: Callable[[Job], None], now: dt.datetime | None = None
) -> dict[str, int]:
    """Re-queue each stalled job (its worker died), or fail it with the reason
    once it has run ``ANNOTATOR_JOB_MAX_ATTEMPTS`` times; counts of each."""
    done = {"requeued": 0, "failed": 0}
    for job in Job.objects.stalled(now).defer("result"):
        if job.attempts >= settings.ANNOTATOR_JOB_MAX_ATTEMPTS:
            seen = job.heartbeat_at.strftime("%Y-%m-%d %H:%M:%S UTC")
            if job.fail(
                f"Stopped after {job.attempts} runs: the worker running it stopped "
                f"answering (last heartbeat {seen})."
            ):
                done["failed"] += 1
        elif job.requeue():
            queue(job)
            done["requeued"] += 1
    return done


def fail_job(job_id: int, exc: BaseException) -> None:
    """Record why a job failed, for a person (the traceback goes to the log)."""
    logger.exception("job %s failed", job_id, exc_info=exc)
    job = Job.objects.filter(pk=job_id).only("pk", "status").first()
    if job is not None:
        job.fail(f"{type(exc).__name__}: {exc}")
