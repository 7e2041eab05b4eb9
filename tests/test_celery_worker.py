"""Jobs on a real Celery worker over Redis, against PostgreSQL; and a worker crash.

The worker runs as a subprocess on the test database; its queue is unique to
the test run. ``kill -9`` of the whole worker mid-export must lose no job: the
unacknowledged task comes back after the visibility timeout, a new worker
finishes it, and the output equals an undisturbed export byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from annotator import exports, jobs, services
from annotator.celery import app as celery_app
from annotator.celery import command as celery_command
from annotator.models import Job
from tests import factories

REPO = Path(__file__).resolve().parent.parent
VISIBILITY_TIMEOUT = 8
CODES = ["SR", "AF", "RBBB", "LBBB", "NORM", "PVC"]

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def queue(redis_url, postgres):
    """A queue of our own on the configured broker, for the test's tasks only."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    previous = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = previous


@pytest.fixture
def worker_env(settings, redis_url, queue) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=redis_url,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        ANNOTATOR_EXPORT_BATCH="250",
        CELERY_QUEUE=queue,
    )
    return env


class CeleryProcess:
    """A ``celery`` program of this app as a subprocess in its own process
    group, its output in ``log``."""

    def __init__(self, env: dict[str, str], log: Path, *arguments: str) -> None:
        self.log = log
        self.handle = log.open("ab")
        self.process = subprocess.Popen(
            celery_command(*arguments),
            cwd=REPO,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """kill -9 of the process and its children: no chance to requeue."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.handle.close()


class Worker(CeleryProcess):
    """A worker on the test's queue, returned once it is ready."""

    def __init__(self, env: dict[str, str], queue: str, log: Path) -> None:
        super().__init__(
            env,
            log,
            "worker",
            "-Q",
            queue,
            "-c",
            "2",
            "-n",
            f"{log.stem}-{queue}@%h",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "INFO",
        )
        deadline = time.monotonic() + 90
        while "ready." not in log.read_text(errors="replace"):
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, (
                "worker did not start:\n" + log.read_text()
            )
            time.sleep(0.2)


def wait_for(job: Job, timeout: float, *, until=lambda j: j.is_finished) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if until(job):
            return job
        assert time.monotonic() < deadline, (job.status, job.progress, job.error)
        time.sleep(0.02)


def make_study(n_exams: int):
    cast = factories.make_cast()
    reader3 = factories.make_user("reader3", "reader")
    readers = [cast.reader1, cast.reader2, reader3]
    campaign = services.create_campaign(
        name="Worker study",
        taxonomy=factories.default_taxonomy(),
        exams=factories.make_exams(n_exams),
        readers=readers,
        readers_per_exam=3,
        created_by=cast.manager,
    )

    def labels(e: int, j: int) -> list[str]:
        chosen = {"SR"} if e % 7 else {"AF"}
        if (e * 3 + j) % 11 == 0:
            chosen |= {"RBBB"}
        if e % 13 == 0 and j == 1:
            chosen = {"AF"} if "SR" in chosen else {"SR"}
        if (e + j) % 5 == 0:
            chosen |= {"PVC"}
        return sorted(chosen)

    factories.seed_reads(campaign, readers, labels)
    return cast, campaign


def test_agreement_job_runs_on_a_worker_with_chunks_and_progress(
    queue, worker_env, tmp_path
):
    cast, campaign = make_study(600)
    worker = Worker(worker_env, queue, tmp_path / "worker.log")
    try:
        job = services.start_agreement_job(
            campaign=campaign, user=cast.manager, bootstrap=40, chunk_size=100
        )
        job = wait_for(job, 120)
    finally:
        worker.stop()
    assert job.status == "succeeded", job.error + (tmp_path / "worker.log").read_text()
    assert job.progress == 100 and len(job.params["plan"]["chunks"]) == 6
    inline = jobs.agreement_report(campaign, bootstrap=40, chunk_size=1000)
    assert job.result == inline
    assert "agreement_chunk_task" in (tmp_path / "worker.log").read_text()


def export_killed_midway(env: dict[str, str], queue: str, tmp_path: Path):
    """An export of 6,000 exams whose worker got ``kill -9`` halfway; the job,
    still "running" after one attempt, and the export it should write."""
    cast, campaign = make_study(6000)
    expected = exports.write_export(campaign, "jsonl", io.BytesIO())
    first = Worker(env, queue, tmp_path / "first.log")
    try:
        job = services.start_export_job(
            campaign=campaign, user=cast.manager, fmt="jsonl"
        )
        job = wait_for(
            job, 120, until=lambda j: j.status == "running" and 5 < j.progress < 90
        )
        first.kill()
    finally:
        first.stop()
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("running", 1), "enlarge the export"
    return job, expected


def test_killing_the_worker_mid_export_loses_no_job_and_changes_no_byte(
    queue, worker_env, tmp_path
):
    job, expected = export_killed_midway(worker_env, queue, tmp_path)
    second = Worker(worker_env, queue, tmp_path / "second.log")
    try:
        job = wait_for(job, 12 * VISIBILITY_TIMEOUT)
    finally:
        second.stop()
    assert job.status == "succeeded", job.error
    assert job.attempts == 2
    assert job.output_sha256 == expected.sha256
    from django.core.files.storage import default_storage

    with default_storage.open(job.output_key, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == expected.sha256
    assert job.result["rows"] == expected.rows > 1000


def start_beat(env: dict[str, str], log: Path) -> CeleryProcess:
    """``celery beat``: it sends the stalled-job sweep on its schedule."""
    schedule = str(log.with_suffix(".schedule"))
    return CeleryProcess(env, log, "beat", "--schedule", schedule, "--loglevel", "INFO")


def test_a_killed_workers_job_is_swept_back_to_work_by_beat(
    queue, worker_env, tmp_path, settings, capsys
):
    """kill -9 mid-export with redelivery an hour away (as in production, two):
    the heartbeat stops, beat's sweep re-queues the job, a new worker finishes
    it with the same bytes. Prints the time from the kill to running again."""
    stall, sweep = 3, 1
    env = {
        **worker_env,
        "CELERY_VISIBILITY_TIMEOUT": "3600",
        "JOB_STALL_SECONDS": str(stall),
        "JOB_SWEEP_SECONDS": str(sweep),
    }
    settings.ANNOTATOR_JOB_STALL_SECONDS = stall
    job, expected = export_killed_midway(env, queue, tmp_path)
    killed = time.monotonic()
    second = Worker(env, queue, tmp_path / "second.log")
    beat = start_beat(env, tmp_path / "beat.log")
    try:
        job = wait_for(
            job, 120, until=lambda j: j.attempts == 2 and j.status == "running"
        )
        running_again = time.monotonic() - killed
        job = wait_for(job, 120)
        finished = time.monotonic() - killed
    finally:
        beat.stop()
        second.stop()
    assert job.status == "succeeded", job.error
    assert job.output_sha256 == expected.sha256
    assert "sweep_stalled_jobs_task" in (tmp_path / "second.log").read_text()
    with capsys.disabled():
        print(
            f"\nkill -9 -> running again: {running_again:.1f} s, -> succeeded: "
            f"{finished:.1f} s (JOB_STALL_SECONDS={stall}, JOB_SWEEP_SECONDS={sweep})"
        )
