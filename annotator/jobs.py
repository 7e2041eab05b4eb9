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

import datetime as dt
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage

from annotator import agreement, exports, storage
from annotator.agreement_input import (
    agreement_groups,
    campaign_machines,
    campaign_readers,
    check_sections,
    chunk_bounds,
    group_indices,
    load_readings,
    machine_indices,
)
from annotator.models import (
    Campaign,
    Job,
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
            groups=group_indices(plan["codes"], plan.get("groups", [])),
            machines=machine_indices(
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
        if total is None:
            total = counts
        else:
            total += counts  # in place: one set of arrays however many chunks
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
        # The check reads are few; read whole when the report is made.
        **check_sections(
            campaign, plan["codes"], bootstrap=total.n_bootstrap, seed=total.seed
        ),
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
        # Each chunk is added into the counts so far, in place: the memory is
        # one set of counts and one chunk's readings, however many exams.
        total = agreement.count_chunk(
            readings,
            consensus,
            exam_keys=exam_ids,
            bootstrap=bootstrap,
            seed=seed,
            reference=reference,
            groups=group_indices(codes, groups),
            machines=machine_indices(names, machine_names),
            into=total,
        )
        del readings, consensus, reference
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
        **check_sections(campaign, codes, bootstrap=bootstrap, seed=seed),
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
