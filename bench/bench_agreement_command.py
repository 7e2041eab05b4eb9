"""Benchmark of ``manage.py agreement`` on a many-reader campaign, beside the job.

In one run it:

1. drops and recreates a throwaway PostgreSQL database, migrates it and seeds it
   with ``COPY``: N exams (metadata rows only), 40 readers and 2 reads per exam
   (every one of the 780 reader pairs shares about N/780 exams), the consensus of
   each exam from its two reads, and a reference standard for every exam (the
   synthetic truth the reads are noisy copies of), so the report is the full one:
   reference scores, McNemar per pair, exclusive groups, leave-one-out. A second
   campaign holds the first quarter of the exams and their reads, to show whether
   the command's memory grows with the campaign. Labels come from
   ``bench_jobs.synthetic_reads`` (66 classes). Seeding is not measured;
2. runs ``manage.py agreement --campaign NAME --bootstrap B`` in a fresh process
   for each campaign and each ``--bootstraps`` value, timing it and reading its
   peak RSS (VmHWM) at the end; the same runs from a ``git worktree`` checkout
   of ``--baseline`` (the obvious alternative: the command as it was);
3. times the agreement job on ``celery worker -c 1`` over the large campaign for
   each bootstrap value, and checks that its report equals the command's.

    .venv/bin/python bench/bench_agreement_command.py [--exams 1000000]
        [--bootstraps 0,200] [--baseline COMMIT]

Loopback only; the database, the worker, the worktree and the temporary files
are removed at the end, also on error, unless ``--keep-db`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

import bench_jobs as common  # noqa: E402  (the seeding and worker helpers)

READERS = 40
DB_DEFAULT = "ecg_bench_command"
BASELINE = "4ea89f9"  # the command before counting in place
RUN_TIMEOUT_S = 1800.0

# The child: the agreement command in a process of its own; its peak RSS.
CHILD = """
import json, os, sys, time
import django
django.setup()
from django.core.management import call_command
t0 = time.perf_counter()
with open(sys.argv[3], "w") as out:
    call_command("agreement", "--campaign", sys.argv[1], "--bootstrap", sys.argv[2],
                 stdout=out)
seconds = time.perf_counter() - t0
with open("/proc/self/status") as status:
    hwm = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_kb": hwm}))
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exams", type=int, default=1_000_000)
    parser.add_argument("--bootstraps", type=common.int_list, default=[0, 200])
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help="commit whose command is timed in the same run; empty to skip",
    )
    parser.add_argument("--no-job", action="store_true", help="skip the job runs")
    parser.add_argument("--pg", default=os.environ.get("BENCH_PG", common.PG_DEFAULT))
    parser.add_argument("--db", default=DB_DEFAULT)
    parser.add_argument(
        "--redis", default=os.environ.get("BENCH_REDIS", common.REDIS_DEFAULT)
    )
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse-db", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


# --- Seeding -------------------------------------------------------------------------


def pair_of(exam_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two readers of each exam: every pair of the 40 equally often."""
    first = exam_index % READERS
    second = (first + 1 + (exam_index // READERS) % (READERS - 1)) % READERS
    return first, second


def seed(n_exams: int, seed_value: int) -> dict[str, int]:
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group, User
    from django.db import connection

    from annotator import services
    from annotator.taxonomy import load_default_taxonomy

    taxonomy = load_default_taxonomy()
    codes = taxonomy.codes()
    data = common.synthetic_reads(
        n_exams, codes, taxonomy.exclusive_groups(), seed_value
    )
    reads = data.reads[:, :2, :]  # two of the three noisy reads of each exam
    agree = (reads[:, 0] == reads[:, 1]).all(axis=1)
    state = np.where(agree, "unanimous", "needs_adjudication")
    labels = common.label_texts(reads[:, 0], codes)
    disagreeing = common.label_texts(reads[:, 0] != reads[:, 1], codes)
    read_texts = common.label_texts(reads.reshape(-1, len(codes)), codes)
    truth = common.label_texts(data.truth, codes)

    common.copy_rows(
        "annotator_exam",
        "dataset, exam_id, patient_pseudonym, age, sex, acquired_at, sampling_rate, "
        "n_samples, lead_names, signal_key, signal_dtype, signal_gain, "
        "signal_sha256, source_format, machine_statements, measurements, notes, "
        "imported_at",
        common.exam_lines(n_exams),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM annotator_exam")
        first_id, _last = cursor.fetchone()
    password = make_password(None)
    readers = [
        User.objects.create(username=f"bench_reader_{j:02d}", password=password)
        for j in range(READERS)
    ]
    Group.objects.get_or_create(name="reader")[0].user_set.add(*readers)
    manager = User.objects.create(username="bench_manager", password=password)
    Group.objects.get_or_create(name="manager")[0].user_set.add(manager)
    reader_ids = np.array([r.pk for r in readers])
    a, b = pair_of(np.arange(n_exams))
    next_id = 1
    sizes = {"small": n_exams // 4, "large": n_exams}
    for name, size in sizes.items():
        campaign = services.create_campaign(
            name=f"Bench command {name}",
            taxonomy=taxonomy,
            exams=[],
            readers=readers,
            readers_per_exam=2,
            created_by=manager,
        )

        def links(size: int = size, pk: int = campaign.pk) -> Iterator[str]:
            for e in range(size):
                text = r"\N" if state[e] == "needs_adjudication" else labels[e]
                yield (
                    f"{pk}\t{first_id + e}\t2\tf\t2\t{state[e]}\t{text}\t"
                    f"{disagreeing[e]}"
                )

        common.copy_rows(
            "annotator_campaignexam",
            "campaign_id, exam_id, n_assigned, is_open, n_submitted, "
            "consensus_state, consensus_labels, disagreeing_classes",
            links(),
        )
        start = next_id

        def assignments(
            size: int = size, pk: int = campaign.pk, start: int = start
        ) -> Iterator[str]:
            for i in range(2 * size):
                e, k = divmod(i, 2)
                reader = reader_ids[a[e] if k == 0 else b[e]]
                yield (
                    f"{start + i}\t{pk}\t{first_id + e}\t{reader}\tsubmitted\t"
                    f"{common.TIMESTAMP}\t\\N\t{common.TIMESTAMP}"
                )

        def decisions(size: int = size, start: int = start) -> Iterator[str]:
            for i in range(2 * size):
                e, k = divmod(i, 2)
                reader = reader_ids[a[e] if k == 0 else b[e]]
                yield (
                    f"{start + i}\t{start + i}\t{reader}\t{read_texts[i]}\t[]\t\t"
                    f"20000\t1\t{common.TIMESTAMP}\t{common.TIMESTAMP}"
                )

        common.copy_rows(
            "annotator_assignment",
            "id, campaign_id, exam_id, reader_id, status, claimed_at, "
            "lease_expires_at, submitted_at",
            assignments(),
        )
        common.copy_rows(
            "annotator_decision",
            "id, assignment_id, reader_id, labels, quality, comment, duration_ms, "
            "version, created_at, updated_at",
            decisions(),
        )
        common.copy_rows(
            "annotator_referencelabel",
            "campaign_id, exam_id, labels, version, created_at, updated_at",
            (
                f"{campaign.pk}\t{first_id + e}\t{truth[e]}\t1\t{common.TIMESTAMP}\t"
                f"{common.TIMESTAMP}"
                for e in range(size)
            ),
        )
        next_id += 2 * size
        print(f"  campaign {name}: {size:,} exams", flush=True)
    common.settle_after_copy()
    return sizes


# --- Runs ----------------------------------------------------------------------------


@dataclass
class Run:
    code: str
    campaign: str
    exams: int
    bootstrap: int
    seconds: float
    peak_mb: float | None
    report: dict[str, Any] | None


def run_command(
    code: str, cwd: Path, env: dict[str, str], name: str, exams: int, bootstrap: int
) -> Run:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        path = Path(out.name)
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, name, str(bootstrap), str(path)],
            cwd=cwd,
            env={**env, "PYTHONPATH": str(cwd)},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"{code} agreement failed:\n{done.stderr[-3000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        report = json.loads(path.read_text())
    finally:
        path.unlink(missing_ok=True)
    return Run(
        code,
        name,
        exams,
        bootstrap,
        figures["seconds"],
        figures["peak_kb"] / 1024,
        report,
    )


def run_job(
    env: dict[str, str], queue: str, log: Path, name: str, exams: int, bootstrap: int
) -> Run:
    from django.contrib.auth.models import User

    from annotator import services
    from annotator.models import Campaign, Job

    worker = common.Worker(env, queue, 1, log)
    try:
        campaign = Campaign.objects.get(name=name)
        t0 = time.perf_counter()
        job = services.start_agreement_job(
            campaign=campaign,
            user=User.objects.get(username="bench_manager"),
            bootstrap=bootstrap,
        )
        while Job.objects.values_list("status", flat=True).get(pk=job.pk) not in {
            "succeeded",
            "failed",
        }:
            if time.perf_counter() - t0 > RUN_TIMEOUT_S:
                raise RuntimeError("agreement job not finished:\n" + worker.tail())
            time.sleep(0.1)
        seconds = time.perf_counter() - t0
    finally:
        worker.stop()
    job.refresh_from_db()
    if job.status != "succeeded":
        raise RuntimeError(f"agreement job failed: {job.error}")
    return Run("job, celery -c 1", name, exams, bootstrap, seconds, None, job.result)


def same_report(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Equal but for what differs between the command's and a job's document."""
    if a is None or b is None:
        return False
    return {k: v for k, v in a.items() if k != "job"} == {
        k: v for k, v in b.items() if k != "job"
    }


def print_runs(runs: list[Run], args: argparse.Namespace) -> None:
    print(
        f"\nmanage.py agreement, {READERS} readers x 2 reads per exam x 66 classes "
        "(reference, groups, leave-one-out)\n"
    )
    print(
        "| code | exams | bootstrap | wall s | peak RSS MB | report = this code's "
        "command |"
    )
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    current = {
        (r.exams, r.bootstrap): r for r in runs if r.code == "this tree (command)"
    }
    for run in runs:
        mine = current.get((run.exams, run.bootstrap))
        same = "-"
        if mine is not None and run.code.startswith("job"):
            same = "yes" if same_report(run.report, mine.report) else "NO"
        peak = f"{run.peak_mb:,.0f}" if run.peak_mb is not None else "-"
        print(
            f"| {run.code} | {run.exams:,} | {run.bootstrap} | {run.seconds:.1f} | "
            f"{peak} | {same} |"
        )
    print()
    for (exams, bootstrap), mine in sorted(current.items()):
        for other in runs:
            if other is mine or (other.exams, other.bootstrap) != (exams, bootstrap):
                continue
            print(
                f"{exams:,} exams, bootstrap {bootstrap}: this tree's command "
                f"{mine.seconds:.1f} s vs {other.code} {other.seconds:.1f} s "
                f"({other.seconds / mine.seconds:.2f}x)"
            )


def main(argv: Sequence[str] | None = None) -> int:
    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    queue = f"bench-command-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="bench-command-") as tmp:
        tmp_path = Path(tmp)
        args = parse_args(argv)
        media = tmp_path / "media"
        media.mkdir()
        env = common.configure(args, media, queue)
        print(
            f"{platform.python_version()}, numpy {np.__version__}, "
            f"{os.cpu_count()} CPUs; {common.load_line()} at the start",
            flush=True,
        )
        tree = None
        try:
            if not args.reuse_db:
                common.recreate_database(args.pg, args.db)
                from django.core.management import call_command

                call_command("migrate", verbosity=0, interactive=False)
                t0 = time.perf_counter()
                print(f"seeding {args.exams:,} exams…", flush=True)
                sizes = seed(args.exams, args.seed)
                print(f"  seeded in {time.perf_counter() - t0:.0f} s", flush=True)
            else:
                sizes = {"small": args.exams // 4, "large": args.exams}
            print(f"PostgreSQL {common.server_version()}", flush=True)
            codes = [("this tree (command)", REPO)]
            if args.baseline:
                tree = tmp_path / "baseline"
                subprocess.run(
                    ["git", "worktree", "add", "--detach", str(tree), args.baseline],
                    cwd=REPO,
                    check=True,
                    capture_output=True,
                )
                codes.append((f"baseline {args.baseline} (command)", tree))
            runs: list[Run] = []
            for bootstrap in args.bootstraps:
                for size_name, exams in sizes.items():
                    for code, cwd in codes:
                        print(
                            f"{code}: {exams:,} exams, bootstrap {bootstrap} "
                            f"({common.load_line()})",
                            flush=True,
                        )
                        run = run_command(
                            code,
                            cwd,
                            env,
                            f"Bench command {size_name}",
                            exams,
                            bootstrap,
                        )
                        print(
                            f"  {run.seconds:.1f} s, peak {run.peak_mb:,.0f} MB",
                            flush=True,
                        )
                        runs.append(run)
                if not args.no_job:
                    print(f"job: bootstrap {bootstrap} ({common.load_line()})")
                    run = run_job(
                        env,
                        queue,
                        tmp_path / f"worker-{bootstrap}.log",
                        "Bench command large",
                        sizes["large"],
                        bootstrap,
                    )
                    print(f"  {run.seconds:.1f} s", flush=True)
                    runs.append(run)
            print(f"\n{common.load_line()} at the end")
            print_runs(runs, args)
        finally:
            if tree is not None:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(tree)],
                    cwd=REPO,
                    check=False,
                    capture_output=True,
                )
            with contextlib.suppress(Exception):
                common.purge_queue(args.redis, queue)
            if not args.keep_db:
                common.drop_database(args.pg, args.db)
    return 0


if __name__ == "__main__":
    sys.exit(main())
