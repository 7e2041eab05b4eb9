"""Benchmark of the agreement job and the CSV export on PostgreSQL at campaign scale.

In one run it:

1. drops and recreates a throwaway PostgreSQL database, migrates it and seeds it
   with ``COPY``: N exams (metadata rows only, no signal files), one campaign of
   3 readers over all of them with 3N submitted assignments and decisions, and
   the consensus state of every exam derived from its reads by the workflow's
   rule (unanimous; otherwise queued for adjudication, a quarter of those
   adjudicated with an ``Adjudication`` row). Labels come from a 66-class
   distribution with a few common classes and many rare ones (fixed seed).
   Seeding is timed and reported, but it is not part of any measurement;
2. (b) computes the agreement report with ``--bootstrap`` replicates in this
   process (``jobs.agreement_report``, split into load / count / report), then
   for each ``--workers`` value starts ``celery worker -c W`` on a queue of its
   own and times ``jobs.start_agreement_job`` until ``Job.status`` is
   ``succeeded``, recording the job's progress over time and checking that the
   stored report equals the inline one;
3. (c) exports CSV (``exports.write_export``, ``--include-unresolved`` so the
   row count is exactly the size) of the first 250k / 500k / all exams, each in
   a subprocess of its own that reports its rows/s and peak RSS, and the
   obvious alternative (every object loaded by the ORM, every row built in
   memory, then written) at the smallest size, whose bytes must be identical.

    .venv/bin/python bench/bench_jobs.py [--exams 1000000] [--bootstrap 200]
        [--chunk-size N] [--workers 1,2] [--export-sizes 250000,500000,1000000]

Loopback only (PostgreSQL and Redis on 127.0.0.1); bounded in time (the job,
the worker start and every subprocess have a timeout); the database, the
workers, the Redis queue and the temporary files are removed at the end, also on
error or interruption, unless ``--keep-db`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import platform
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432"
DB_DEFAULT = "ecg_bench_jobs"
# A Redis database of its own: test runs elsewhere flush theirs.
REDIS_DEFAULT = "redis://127.0.0.1:6379/12"
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
TIMESTAMP = "2024-01-01 00:00:00+00"
READERS = 3
TARGET_JOB_S = 60.0
TARGET_ROWS_PER_S = 100_000
JOB_TIMEOUT_S = 900.0
CHILD_TIMEOUT_S = 900.0
WORKER_START_TIMEOUT_S = 120.0
# The agreement job before reference standards, exclusive groups and
# leave-one-out counts were added to it.
BASELINE = "ee7b092"
TARGET_RATIO = 1.5
sys.path.insert(0, str(REPO))

# Dominant rhythm (one per exam): mostly sinus, some AF, a long tail.
RHYTHMS = {
    "SR": 0.74,
    "SB": 0.07,
    "ST": 0.06,
    "AF": 0.08,
    "AFL": 0.012,
    "EAR": 0.006,
    "WAP": 0.002,
    "AT": 0.004,
    "SVT": 0.003,
    "JR": 0.005,
    "VT": 0.002,
    "IVR": 0.006,
}
NORM_GIVEN_CLEAN_SR = 0.6  # "normal ECG" on sinus-rhythm exams with no finding
FINDING_PREVALENCE = (0.08, 0.0003)  # most to least common finding, geometric
READ_MISS = 0.03  # a reader misses a true finding
READ_EXTRA = 0.015  # a read adds one spurious finding
READ_RHYTHM = 0.005  # a read names another rhythm
ADJUDICATED_SHARE = 0.25  # of the exams that needed adjudication


# --- Command line ------------------------------------------------------------------


def int_list(text: str) -> list[int]:
    """``"1,2"`` → ``[1, 2]``."""
    return [int(part) for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    from annotator.jobs import DEFAULT_CHUNK

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exams", type=int, default=1_000_000)
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK)
    parser.add_argument(
        "--workers", type=int_list, default=[1, 2], help="worker concurrency, a list"
    )
    parser.add_argument(
        "--export-sizes",
        type=int_list,
        default=[250_000, 500_000, 1_000_000],
        help="exported rows per run (capped at --exams); empty to skip",
    )
    parser.add_argument(
        "--naive-size", type=int, default=250_000, help="the alternative's size"
    )
    parser.add_argument("--no-inline", action="store_true", help="skip the inline run")
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help="commit whose agreement job (a worker -c 1 from a checkout of it) is "
        "timed in the same run as the reference; empty to skip",
    )
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", PG_DEFAULT))
    parser.add_argument("--db", default=DB_DEFAULT, help="throwaway database name")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS", REDIS_DEFAULT))
    parser.add_argument("--keep-db", action="store_true", help="do not drop it")
    parser.add_argument(
        "--reuse-db", action="store_true", help="skip seeding; use a kept database"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--max-load",
        type=float,
        help="after seeding, wait (up to 15 min) for the 1-minute load average "
        "to fall below this before measuring; the machine is shared",
    )
    # Internal: one export measured in a child process.
    parser.add_argument("--export-child", choices=["stream", "naive"])
    parser.add_argument("--campaign", type=int)
    parser.add_argument("--out")
    return parser.parse_args(argv)


# --- Database ----------------------------------------------------------------------


def admin_connect(pg: str) -> Any:
    import psycopg

    return psycopg.connect(f"{pg}/postgres", autocommit=True)


def recreate_database(pg: str, name: str) -> None:
    """Drop and create the throwaway database (WITH FORCE ends old sessions)."""
    from django.db import connections

    connections.close_all()
    with admin_connect(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(pg: str, name: str) -> None:
    from django.db import connections

    connections.close_all()
    with admin_connect(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Synthetic reads ---------------------------------------------------------------


@dataclass
class Reads:
    """Readings (E, J, K) bool and the consensus derived from them."""

    reads: np.ndarray
    state: np.ndarray  # (E,) "unanimous" / "needs_adjudication" / "adjudicated"
    labels: np.ndarray  # (E, K) bool: the consensus where it has one
    disagreeing: np.ndarray  # (E, K) bool
    truth: np.ndarray  # (E, K) bool: what the reads are noisy copies of


def synthetic_reads(
    n_exams: int, codes: list[str], groups: dict[str, list[str]], seed: int
) -> Reads:
    """Truth per exam from the class distribution, three noisy reads of it."""
    rng = np.random.default_rng(seed)
    index = {code: k for k, code in enumerate(codes)}
    n_classes = len(codes)
    rhythm_idx = np.array([index[c] for c in RHYTHMS])
    rhythm_p = np.array(list(RHYTHMS.values()))
    rhythm_p /= rhythm_p.sum()
    findings = [k for k, c in enumerate(codes) if c not in RHYTHMS and c != "NORM"]
    # A few common findings, many rare ones; which is which is seeded, not the
    # taxonomy's order.
    prevalence = np.zeros(n_classes)
    prevalence[rng.permutation(findings)] = np.geomspace(
        *FINDING_PREVALENCE, len(findings)
    )
    exclusive = [
        np.array([index[c] for c in members])
        for name, members in groups.items()
        if name != "dominant_rhythm"
    ]
    truth = rng.random((n_exams, n_classes), dtype=np.float32) < prevalence
    for members in exclusive:  # at most one class of an exclusive group
        block = truth[:, members]
        truth[:, members] = block & (np.cumsum(block, axis=1) == 1)
    rhythm = rhythm_idx[rng.choice(len(rhythm_idx), size=n_exams, p=rhythm_p)]
    truth[np.arange(n_exams), rhythm] = True
    clean_sr = (rhythm == index["SR"]) & ~truth[:, findings].any(axis=1)
    truth[:, index["NORM"]] = clean_sr & (rng.random(n_exams) < NORM_GIVEN_CLEAN_SR)

    reads = np.repeat(truth[:, None, :], READERS, axis=1)
    miss = rng.random(reads.shape, dtype=np.float32) < READ_MISS
    miss[:, :, rhythm_idx] = False
    miss[:, :, index["NORM"]] = False
    reads &= ~miss
    weights = prevalence[findings] / prevalence[findings].sum()
    extra = np.argwhere(rng.random((n_exams, READERS)) < READ_EXTRA)
    added = np.array(findings)[rng.choice(len(findings), len(extra), p=weights)]
    reads[extra[:, 0], extra[:, 1], added] = True
    for members in exclusive:  # a read keeps one class of a group, as validated
        block = reads[:, :, members]
        reads[:, :, members] = block & (np.cumsum(block, axis=2) == 1)
    other = np.argwhere(rng.random((n_exams, READERS)) < READ_RHYTHM)
    reads[other[:, 0, None], other[:, 1, None], rhythm_idx[None, :]] = False
    new = rhythm_idx[rng.choice(len(rhythm_idx), len(other), p=rhythm_p)]
    reads[other[:, 0], other[:, 1], new] = True

    agree = (reads == reads[:, :1, :]).all(axis=(1, 2))
    votes = reads.sum(axis=1)
    adjudicated = ~agree & (rng.random(n_exams) < ADJUDICATED_SHARE)
    state = np.where(
        agree, "unanimous", np.where(adjudicated, "adjudicated", "needs_adjudication")
    )
    # An adjudicator settles on the majority of the reads.
    labels = np.where(agree[:, None], reads[:, 0, :], votes * 2 > READERS)
    disagreeing = (votes > 0) & (votes < READERS)
    return Reads(reads, state, labels, disagreeing, truth)


def label_texts(rows: np.ndarray, codes: list[str]) -> np.ndarray:
    """JSON text of each row's label list (taxonomy order), as an object array.

    Label sets repeat a great deal, so each distinct set is serialised once.
    """
    packed = np.packbits(rows, axis=1)
    keys = np.ascontiguousarray(packed).view(f"V{packed.shape[1]}").ravel()
    unique, inverse = np.unique(keys, return_inverse=True)
    bits = np.unpackbits(
        unique.view(np.uint8).reshape(len(unique), -1), axis=1, count=len(codes)
    ).astype(bool)
    texts = np.array(
        [json.dumps([codes[k] for k in np.flatnonzero(b)]) for b in bits],
        dtype=object,
    )
    return texts[inverse.ravel()]


# --- Seeding -----------------------------------------------------------------------


@dataclass
class Seeded:
    campaign_id: int
    manager_id: int
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)


def copy_rows(table: str, columns: str, lines: Iterator[str]) -> None:
    """COPY text lines into a table, 50,000 lines per write."""
    from django.db import connection

    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            batch: list[str] = []
            for line in lines:
                batch.append(line)
                if len(batch) >= 50_000:
                    copy.write("\n".join(batch) + "\n")
                    batch.clear()
            if batch:
                copy.write("\n".join(batch) + "\n")


def settle_after_copy() -> None:
    """After rows copied with explicit ids: the id sequences moved past them,
    then hint bits and statistics now and dirty pages flushed, so the measured
    runs read a settled database rather than finish the load's work."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("annotator_assignment", "annotator_decision"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


def exam_lines(n: int) -> Iterator[str]:
    """COPY lines of synthetic exams; no field needs escaping."""
    leads = json.dumps(LEADS)
    sexes = "FMU"
    for i in range(1, n + 1):
        digest = hashlib.sha256(f"bench-jobs/{i}".encode()).hexdigest()
        yield "\t".join(
            (
                "bench",
                f"B{i:08d}",
                digest[:16],
                str(18 + i % 72),
                sexes[i % 3],
                TIMESTAMP,
                "500.0",
                "5000",
                leads,
                f"signals/bench/{digest}.npy",
                "int16",
                "4.88",
                digest,
                "npy",
                "[]",
                "{}",
                "[]",
                TIMESTAMP,
            )
        )


def seed(n_exams: int, seed_value: int) -> Seeded:
    """Exams, campaign, links, assignments, decisions and adjudications by COPY."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from annotator import services
    from annotator.taxonomy import load_default_taxonomy

    started = time.perf_counter()
    taxonomy = load_default_taxonomy()
    codes = taxonomy.codes()
    data = synthetic_reads(n_exams, codes, taxonomy.exclusive_groups(), seed_value)
    print(f"  reads generated in {time.perf_counter() - started:.1f} s", flush=True)

    copy_rows(
        "annotator_exam",
        "dataset, exam_id, patient_pseudonym, age, sex, acquired_at, sampling_rate, "
        "n_samples, lead_names, signal_key, signal_dtype, signal_gain, "
        "signal_sha256, source_format, machine_statements, measurements, notes, "
        "imported_at",
        exam_lines(n_exams),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id), count(*) FROM annotator_exam")
        first, last, count = cursor.fetchone()
    assert count == n_exams and last - first + 1 == n_exams, "exam ids not dense"
    exam_ids = np.arange(first, last + 1)
    print(f"  exams copied at {time.perf_counter() - started:.1f} s", flush=True)

    password = make_password(None)
    readers = [
        User.objects.create(username=f"bench_reader_{j}", password=password)
        for j in range(READERS)
    ]
    Group.objects.get_or_create(name="reader")[0].user_set.add(*readers)
    adjudicator = User.objects.create(username="bench_adjudicator", password=password)
    Group.objects.get_or_create(name="adjudicator")[0].user_set.add(adjudicator)
    manager = User.objects.create(username="bench_manager", password=password)
    Group.objects.get_or_create(name="manager")[0].user_set.add(manager)
    campaign = services.create_campaign(
        name="Bench jobs",
        taxonomy=taxonomy,
        exams=[],
        readers=readers,
        adjudicators=[adjudicator],
        readers_per_exam=READERS,
        created_by=manager,
    )

    labels = label_texts(data.labels, codes)
    disagreeing = label_texts(data.disagreeing, codes)

    def link_lines() -> Iterator[str]:
        for e in range(n_exams):
            state = data.state[e]
            text = r"\N" if state == "needs_adjudication" else labels[e]
            yield (
                f"{campaign.pk}\t{exam_ids[e]}\t{READERS}\tf\t{READERS}\t{state}\t"
                f"{text}\t{disagreeing[e]}"
            )

    copy_rows(
        "annotator_campaignexam",
        "campaign_id, exam_id, n_assigned, is_open, n_submitted, consensus_state, "
        "consensus_labels, disagreeing_classes",
        link_lines(),
    )
    print(f"  links copied at {time.perf_counter() - started:.1f} s", flush=True)

    reads = label_texts(data.reads.reshape(-1, len(codes)), codes)
    reader_ids = [r.pk for r in readers]

    def assignment_lines() -> Iterator[str]:
        for i in range(n_exams * READERS):
            yield (
                f"{i + 1}\t{campaign.pk}\t{exam_ids[i // READERS]}\t"
                f"{reader_ids[i % READERS]}\tsubmitted\t{TIMESTAMP}\t\\N\t{TIMESTAMP}"
            )

    copy_rows(
        "annotator_assignment",
        "id, campaign_id, exam_id, reader_id, status, claimed_at, lease_expires_at, "
        "submitted_at",
        assignment_lines(),
    )
    print(f"  assignments copied at {time.perf_counter() - started:.1f} s", flush=True)

    def decision_lines() -> Iterator[str]:
        for i in range(n_exams * READERS):
            yield (
                f"{i + 1}\t{i + 1}\t{reader_ids[i % READERS]}\t{reads[i]}\t[]\t\t"
                f"{20_000 + i % 40_000}\t1\t{TIMESTAMP}\t{TIMESTAMP}"
            )

    copy_rows(
        "annotator_decision",
        "id, assignment_id, reader_id, labels, quality, comment, duration_ms, "
        "version, created_at, updated_at",
        decision_lines(),
    )
    print(f"  decisions copied at {time.perf_counter() - started:.1f} s", flush=True)
    adjudicated = np.flatnonzero(data.state == "adjudicated")
    copy_rows(
        "annotator_adjudication",
        "campaign_id, exam_id, adjudicator_id, labels, note, version, created_at, "
        "updated_at",
        (
            f"{campaign.pk}\t{exam_ids[e]}\t{adjudicator.pk}\t{labels[e]}\t\t1\t"
            f"{TIMESTAMP}\t{TIMESTAMP}"
            for e in adjudicated.tolist()
        ),
    )
    # The truth the reads were drawn from is the campaign's reference standard.
    truth = label_texts(data.truth, codes)
    copy_rows(
        "annotator_referencelabel",
        "campaign_id, exam_id, labels, version, created_at, updated_at",
        (
            f"{campaign.pk}\t{exam_ids[e]}\t{truth[e]}\t1\t{TIMESTAMP}\t{TIMESTAMP}"
            for e in range(n_exams)
        ),
    )
    print(f"  reference copied at {time.perf_counter() - started:.1f} s", flush=True)
    settle_after_copy()
    states = Counter(data.state.tolist())
    return Seeded(
        campaign.pk,
        manager.pk,
        time.perf_counter() - started,
        {
            "exams": n_exams,
            "assignments + decisions": n_exams * READERS,
            "adjudications": len(adjudicated),
            "reference labels": n_exams,
            **{f"state {k}": v for k, v in sorted(states.items())},
            "positive reads per read (mean)": round(
                float(data.reads.sum()) / (n_exams * READERS), 2
            ),
        },
    )


# --- Agreement: inline and on workers ----------------------------------------------


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [float(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def busy_share(before: tuple[float, float], after: tuple[float, float]) -> float:
    total = after[1] - before[1]
    return 100.0 * (after[0] - before[0]) / total if total else float("nan")


@dataclass
class AgreementRun:
    label: str
    seconds: float
    chunks: int
    detail: str
    cpu_busy: float
    identical: str
    progress: list[tuple[float, int]] = field(default_factory=list)


def run_inline(campaign_id: int, bootstrap: int, chunk_size: int) -> tuple[Any, ...]:
    """``jobs.agreement_report`` in this process, with its steps timed."""
    from annotator import agreement, jobs
    from annotator.models import Campaign

    spent = Counter()

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0

        return wrapper

    campaign = Campaign.objects.get(pk=campaign_id)
    originals = (jobs.load_readings, agreement.count_chunk, agreement.report)
    jobs.load_readings = timed("load", originals[0])
    agreement.count_chunk = timed("count", originals[1])
    agreement.report = timed("report", originals[2])
    try:
        before = machine_cpu()
        t0 = time.perf_counter()
        document = jobs.agreement_report(
            campaign, bootstrap=bootstrap, chunk_size=chunk_size
        )
        seconds = time.perf_counter() - t0
        busy = busy_share(before, machine_cpu())
    finally:
        jobs.load_readings, agreement.count_chunk, agreement.report = originals
    chunks = len(jobs.chunk_bounds(campaign, chunk_size))
    detail = (
        f"load_readings {spent['load']:.1f} s, count_chunk {spent['count']:.1f} s, "
        f"report {spent['report']:.1f} s"
    )
    run = AgreementRun("inline (this process)", seconds, chunks, detail, busy, "-")
    return run, document


class Worker:
    """A ``celery worker`` subprocess in its own process group."""

    def __init__(
        self,
        env: dict[str, str],
        queue: str,
        concurrency: int,
        log: Path,
        cwd: Path = REPO,
    ) -> None:
        self.log = log
        self.handle = log.open("ab")
        from annotator.celery import command as celery_command

        self.process = subprocess.Popen(
            celery_command(
                "worker",
                "-Q",
                queue,
                "-c",
                str(concurrency),
                "-n",
                f"bench-{concurrency}-{queue}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel",
                "INFO",
            ),
            cwd=cwd,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while "ready." not in log.read_text(errors="replace"):
            if self.process.poll() is not None:
                raise RuntimeError("worker exited:\n" + self.tail())
            if time.monotonic() > deadline:
                raise RuntimeError("worker did not start:\n" + self.tail())
            time.sleep(0.2)

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        """TERM the group (a warm shutdown); KILL it if it lingers."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.handle.close()


TASK_DONE = re.compile(r"Task annotator\.tasks\.(\w+)\[[^\]]+\] succeeded in ([\d.]+)s")


def task_seconds(log: Path) -> dict[str, list[float]]:
    """Run time of every task the worker finished, by task name, from its log."""
    found: dict[str, list[float]] = {}
    for name, seconds in TASK_DONE.findall(log.read_text(errors="replace")):
        found.setdefault(name, []).append(float(seconds))
    return found


def run_on_worker(
    args: argparse.Namespace,
    seeded: Seeded,
    concurrency: int,
    env: dict[str, str],
    queue: str,
    log_dir: Path,
    inline: dict[str, Any] | None,
    workers: list[Worker],
    checkout: tuple[str, Path] | None = None,
) -> AgreementRun:
    """Start a worker, time one agreement job on it from start to succeeded.

    ``checkout`` (commit, its working tree) runs the worker from that code."""
    from django.contrib.auth.models import User

    from annotator import services
    from annotator.models import Campaign, Job

    name = f"worker-c{concurrency}" + (f"-{checkout[0]}" if checkout else "")
    log = log_dir / f"{name}.log"
    if checkout:
        env = {**env, "PYTHONPATH": str(checkout[1])}
    worker = Worker(env, queue, concurrency, log, cwd=checkout[1] if checkout else REPO)
    workers.append(worker)
    campaign = Campaign.objects.get(pk=seeded.campaign_id)
    manager = User.objects.get(pk=seeded.manager_id)
    progress: list[tuple[float, int]] = []
    try:
        before = machine_cpu()
        t0 = time.perf_counter()
        job = services.start_agreement_job(
            campaign=campaign,
            user=manager,
            bootstrap=args.bootstrap,
            chunk_size=args.chunk_size,
        )
        status, value = "queued", -1
        while status not in {"succeeded", "failed"}:
            elapsed = time.perf_counter() - t0
            if elapsed > JOB_TIMEOUT_S:
                raise RuntimeError(
                    f"agreement job not finished after {JOB_TIMEOUT_S:.0f} s "
                    f"(status {status}, progress {value}):\n{worker.tail()}"
                )
            time.sleep(0.1)
            status, current = Job.objects.values_list("status", "progress").get(
                pk=job.pk
            )
            if current != value:
                value = current
                progress.append((time.perf_counter() - t0, value))
        seconds = time.perf_counter() - t0
        busy = busy_share(before, machine_cpu())
    finally:
        worker.stop()
        workers.remove(worker)
    job.refresh_from_db()
    if job.status != "succeeded":
        raise RuntimeError(f"agreement job failed: {job.error}\n{worker.tail()}")
    tasks = task_seconds(log)
    chunk_times = tasks.get("agreement_chunk_task", [])
    detail = (
        f"{len(chunk_times)} chunk tasks, {np.mean(chunk_times):.1f} s mean, "
        f"{sum(chunk_times):.1f} s total; plan "
        f"{sum(tasks.get('run_agreement_job_task', [0])):.1f} s, merge "
        f"{sum(tasks.get('agreement_merge_task', [0])):.1f} s"
        if chunk_times
        else "(no task times in the worker log)"
    )
    identical = "-" if inline is None else ("yes" if job.result == inline else "NO")
    parts = [k for k in ("reference", "groups") if job.result.get(k)]
    detail += "; report has " + (
        " and ".join(parts) if parts else "neither reference nor groups"
    )
    label = f"celery worker -c {concurrency}"
    if checkout:
        label = f"baseline {checkout[0]}: {label}"
    return AgreementRun(
        label,
        seconds,
        len(job.params["plan"]["chunks"]),
        detail,
        busy,
        identical,
        progress,
    )


def purge_queue(redis_url: str, queue: str) -> None:
    """Remove the run's queue and its binding from Redis."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        # The queue, and its binding under both kombu naming schemes; results
        # expire on their own (CELERY_RESULT_EXPIRES).
        client.delete(
            queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
        )
    finally:
        client.close()


# --- Export ------------------------------------------------------------------------


def export_campaigns(seeded: Seeded, sizes: Sequence[int]) -> dict[int, int]:
    """A campaign per size over the first ``size`` exams (copies of the links)."""
    from django.db import connection

    from annotator.models import Campaign, CampaignExam

    main = Campaign.objects.get(pk=seeded.campaign_id)
    total = CampaignExam.objects.filter(campaign=main).count()
    found: dict[int, int] = {}
    for size in sorted(set(sizes)):
        if size >= total:
            found[size] = main.pk
            continue
        campaign = Campaign.objects.filter(name=f"Bench export {size}").first()
        if campaign is None:
            campaign = Campaign.objects.create(
                name=f"Bench export {size}",
                taxonomy=main.taxonomy,
                readers_per_exam=main.readers_per_exam,
            )
            with connection.cursor() as cursor:
                cursor.execute(
                    "INSERT INTO annotator_campaignexam (campaign_id, exam_id, "
                    "n_assigned, is_open, n_submitted, consensus_state, "
                    "consensus_labels, disagreeing_classes) SELECT %s, exam_id, "
                    "n_assigned, is_open, n_submitted, consensus_state, "
                    "consensus_labels, disagreeing_classes FROM annotator_campaignexam "
                    "WHERE campaign_id = %s ORDER BY exam_id LIMIT %s",
                    [campaign.pk, main.pk, size],
                )
        found[size] = campaign.pk
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE annotator_campaignexam")
    return found


def naive_csv(campaign: Any, target: IO[bytes]) -> tuple[int, str]:
    """The obvious export: every link and exam as objects, every row in memory."""
    from annotator.exports import RESOLVED
    from annotator.models import CampaignExam

    codes = campaign.taxonomy.codes()
    links = list(
        CampaignExam.objects.filter(campaign=campaign)
        .select_related("exam")
        .order_by("exam_id")
    )
    rows = []
    for link in links:
        labels = link.consensus_labels
        if link.consensus_state in RESOLVED and labels is not None:
            cells: list[Any] = [int(code in labels) for code in codes]
        else:
            cells = [""] * len(codes)
        rows.append(
            [
                link.exam.exam_id,
                link.exam.patient_pseudonym,
                *cells,
                link.consensus_state,
            ]
        )
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["exam_id", "patient_pseudonym", *codes, "consensus_method"])
    writer.writerows(rows)
    data = text.getvalue().encode()
    target.write(data)
    return len(rows), hashlib.sha256(data).hexdigest()


def status_kb(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def export_child(args: argparse.Namespace) -> int:
    """Measure one export in this (child) process; print the figures as JSON."""
    from annotator import exports
    from annotator.models import Campaign

    campaign = Campaign.objects.select_related("taxonomy").get(pk=args.campaign)
    campaign.taxonomy.codes()  # warm: the same in both modes
    before = status_kb("VmRSS")
    # Reset the peak-RSS mark (Linux: "5" to clear_refs resets VmHWM), so the
    # peak is the export's, not start-up's. Not ru_maxrss: it also keeps the
    # RSS of the forked parent this process was exec'd from (the benchmark, with
    # its seeding arrays), whatever the export does.
    try:
        Path("/proc/self/clear_refs").write_text("5")
        peak_reset = True
    except OSError:
        peak_reset = False
    cpu0, t0 = time.process_time(), time.perf_counter()
    with open(args.out, "wb") as handle:
        if args.export_child == "stream":
            result = exports.write_export(
                campaign, "csv", handle, include_unresolved=True
            )
            rows, sha = result.rows, result.sha256
        else:
            rows, sha = naive_csv(campaign, handle)
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    print(
        json.dumps(
            {
                "rows": rows,
                "sha256": sha,
                "seconds": seconds,
                "cpu": cpu,
                "rss_before_kb": before,
                "peak_rss_kb": status_kb("VmHWM")
                if peak_reset
                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "peak_reset": peak_reset,
                "bytes": os.path.getsize(args.out),
            }
        )
    )
    return 0


@dataclass
class ExportRun:
    mode: str
    size: int
    figures: dict[str, Any]


def run_export(
    mode: str, size: int, campaign_id: int, env: dict[str, str], out: Path
) -> ExportRun:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--export-child",
        mode,
        "--campaign",
        str(campaign_id),
        "--out",
        str(out),
    ]
    done = subprocess.run(
        command,
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"export child failed:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    with contextlib.suppress(OSError):
        out.unlink()
    return ExportRun(mode, size, figures)


# --- Report ------------------------------------------------------------------------


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0]


def wait_for_load(limit: float, poll_s: float = 30.0, most_s: float = 900.0) -> None:
    """Wait until the 1-minute load average is below ``limit`` (or time is up)."""
    deadline = time.monotonic() + most_s
    while os.getloadavg()[0] >= limit and time.monotonic() < deadline:
        print(f"waiting for the {load_line()} to fall below {limit}", flush=True)
        time.sleep(poll_s)
    print(f"measuring at {load_line()}", flush=True)


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def print_agreement(runs: list[AgreementRun], args: argparse.Namespace) -> None:
    print()
    print(
        f"(b) agreement report, {args.exams:,} exams x {READERS} readers x 66 classes, "
        f"bootstrap {args.bootstrap}, chunk size {args.chunk_size:,}"
    )
    print()
    print(
        "| run | chunks | wall s (start → succeeded) | target ≤ 60 s | "
        "machine CPU busy % | report = inline | where the time went |"
    )
    print("| --- | ---: | ---: | --- | ---: | --- | --- |")
    for run in runs:
        met = "met" if run.seconds <= TARGET_JOB_S else "missed"
        print(
            f"| {run.label} | {run.chunks} | {run.seconds:.1f} | {met} | "
            f"{run.cpu_busy:.0f} | {run.identical} | {run.detail} |"
        )
    for run in runs:
        if run.progress:
            steps = ", ".join(f"{t:.1f}s {p}%" for t, p in run.progress)
            print(f"progress, {run.label}: {steps}")
    base = next((r for r in runs if r.label.startswith("baseline")), None)
    one = next((r for r in runs if r.label == "celery worker -c 1"), None)
    if base and one:
        ratio = one.seconds / base.seconds
        met = "met" if ratio <= TARGET_RATIO else "missed"
        print(
            f"full report (reference, groups, leave-one-out) on worker -c 1: "
            f"{one.seconds:.1f} s vs {base.seconds:.1f} s for {args.baseline}'s "
            f"report: {ratio:.2f}x (target <= {TARGET_RATIO}x: {met})"
        )


def print_exports(runs: list[ExportRun]) -> None:
    print()
    print(
        "(c) CSV export (include unresolved: one row per exam), one process each; "
        "peak RSS is the peak during the export (VmHWM reset first) unless "
        "marked *"
    )
    print()
    print(
        "| export | rows | wall s | rows/s | target ≥ 100,000 rows/s | CPU s | "
        "RSS before MB | peak RSS MB | growth MB | file MB | sha256 |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for run in runs:
        f = run.figures
        rate = f["rows"] / f["seconds"]
        met = "met" if rate >= TARGET_ROWS_PER_S else "missed"
        if run.mode != "stream":
            met = "-"
        print(
            f"| {run.mode} | {f['rows']:,} | {f['seconds']:.2f} | {rate:,.0f} | {met} "
            f"| {f['cpu']:.2f} | {f['rss_before_kb'] / 1024:.0f} "
            f"| {f['peak_rss_kb'] / 1024:.0f}{'' if f['peak_reset'] else '*'} "
            f"| {(f['peak_rss_kb'] - f['rss_before_kb']) / 1024:.0f} "
            f"| {f['bytes'] / 2**20:.0f} | {f['sha256'][:12]} |"
        )
    naive = [r for r in runs if r.mode == "naive"]
    for other in naive:
        same = [r for r in runs if r.mode == "stream" and r.size == other.size]
        if not same:
            continue
        s, n = same[0].figures, other.figures
        speed = (s["rows"] / s["seconds"]) / (n["rows"] / n["seconds"])
        growth = [(f["peak_rss_kb"] - f["rss_before_kb"]) / 1024 for f in (s, n)]
        print(
            f"at {other.size:,} rows: write_export is {speed:.1f}x the naive export's "
            f"rows/s; memory growth {growth[0]:.0f} MB vs {growth[1]:.0f} MB; "
            "identical bytes: "
            f"{'yes' if s['sha256'] == n['sha256'] else 'NO'}"
        )


# --- Main --------------------------------------------------------------------------


def configure(args: argparse.Namespace, media: Path, queue: str) -> dict[str, str]:
    """Environment for this process, its workers and children; Django set up."""
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.pg}/{args.db}",
        "REDIS_URL": args.redis,
        "CELERY_QUEUE": queue,
        "MEDIA_ROOT": str(media),
        "DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": "annotator.settings",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-" + "x" * 50),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    return env


def main(argv: Sequence[str] | None = None) -> int:
    if "--export-child" in (argv if argv is not None else sys.argv):
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")
        import django

        django.setup()
        return export_child(parse_args(argv))

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    queue = f"bench-jobs-{uuid.uuid4().hex[:8]}"
    workers: list[Worker] = []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        tmp_path = Path(tmp)
        env = configure_early(tmp_path, queue, argv)
        args = parse_args(argv)
        sizes = sorted({min(s, args.exams) for s in args.export_sizes})
        print(
            f"{platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} "
            f"CPUs; {load_line()} at the start",
            flush=True,
        )
        try:
            if not args.reuse_db:
                recreate_database(args.pg, args.db)
                from django.core.management import call_command

                call_command("migrate", verbosity=0, interactive=False)
                print(f"seeding {args.exams:,} exams…", flush=True)
                seeded = seed(args.exams, args.seed)
            else:
                seeded = reuse(args)
            print(f"PostgreSQL {server_version()}; seeded in {seeded.seconds:.1f} s")
            for name, value in seeded.counts.items():
                print(f"  {name}: {value:,}")

            if args.max_load is not None:
                wait_for_load(args.max_load)
            runs: list[AgreementRun] = []
            inline = None
            if not args.no_inline:
                print(f"inline agreement report… ({load_line()})", flush=True)
                run, inline = run_inline(
                    seeded.campaign_id, args.bootstrap, args.chunk_size
                )
                print(f"  {run.seconds:.1f} s: {run.detail}", flush=True)
                runs.append(run)
            if args.baseline:
                tree = tmp_path / "baseline"
                subprocess.run(
                    ["git", "worktree", "add", "--detach", str(tree), args.baseline],
                    cwd=REPO,
                    check=True,
                    capture_output=True,
                )
                try:
                    print(f"agreement job, baseline {args.baseline}, worker -c 1…")
                    run = run_on_worker(
                        args,
                        seeded,
                        1,
                        env,
                        queue,
                        tmp_path,
                        None,
                        workers,
                        checkout=(args.baseline, tree),
                    )
                    print(f"  {run.seconds:.1f} s: {run.detail}", flush=True)
                    runs.append(run)
                finally:
                    subprocess.run(
                        ["git", "worktree", "remove", "--force", str(tree)],
                        cwd=REPO,
                        check=False,
                        capture_output=True,
                    )
            for concurrency in args.workers:
                print(f"agreement job, worker -c {concurrency}… ({load_line()})")
                run = run_on_worker(
                    args, seeded, concurrency, env, queue, tmp_path, inline, workers
                )
                print(f"  {run.seconds:.1f} s: {run.detail}", flush=True)
                runs.append(run)

            exports: list[ExportRun] = []
            if sizes:
                campaigns = export_campaigns(seeded, sizes)
                plan = [("stream", s) for s in sizes]
                if args.naive_size:
                    plan.append(("naive", min(args.naive_size, args.exams)))
                    campaigns.update(
                        export_campaigns(seeded, [min(args.naive_size, args.exams)])
                    )
                for mode, size in plan:
                    print(f"export {mode} {size:,} rows… ({load_line()})", flush=True)
                    run = run_export(
                        mode, size, campaigns[size], env, tmp_path / "export.csv"
                    )
                    rate = run.figures["rows"] / run.figures["seconds"]
                    print(f"  {rate:,.0f} rows/s", flush=True)
                    exports.append(run)
            print(f"\n{load_line()} at the end")
            print_agreement(runs, args)
            if exports:
                print_exports(exports)
        finally:
            for worker in list(workers):
                worker.stop()
            with contextlib.suppress(Exception):
                purge_queue(args.redis, queue)
            if not args.keep_db:
                drop_database(args.pg, args.db)
    return 0


def configure_early(tmp: Path, queue: str, argv: Sequence[str] | None) -> dict:
    """Django settings come from the environment, so set it before parsing
    arguments (``parse_args`` reads the default chunk size from jobs.py)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--pg", default=os.environ.get("BENCH_PG", PG_DEFAULT))
    pre.add_argument("--db", default=DB_DEFAULT)
    pre.add_argument("--redis", default=os.environ.get("BENCH_REDIS", REDIS_DEFAULT))
    early, _ = pre.parse_known_args(argv)
    media = tmp / "media"
    media.mkdir()
    return configure(early, media, queue)


def reuse(args: argparse.Namespace) -> Seeded:
    """The campaign of a database kept by an earlier ``--keep-db`` run."""
    from django.contrib.auth.models import User

    from annotator.models import Campaign

    campaign = Campaign.objects.get(name="Bench jobs")
    manager = User.objects.get(username="bench_manager")
    return Seeded(campaign.pk, manager.pk, 0.0, {"reused database": 1})


if __name__ == "__main__":
    sys.exit(main())
