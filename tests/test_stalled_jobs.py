"""No job is stuck forever: heartbeats, stalled jobs, Retry, the sweep, and a
job queue that cannot be reached."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown
from rest_framework.test import APIClient

from annotator import jobs, services, tasks
from annotator.models import Job
from tests import factories

# Retried and swept jobs run in the test's process, with or without a broker.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("inline_tasks")]


@pytest.fixture
def campaign(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(4))
    for _ in range(4):
        for reader in (cast.reader1, cast.reader2):
            claim = services.claim_next(campaign=campaign, reader=reader)
            services.submit_decision(assignment=claim, reader=reader, labels=["SR"])
    return campaign


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def a_running_job(campaign, cast, *, silent_for: dt.timedelta, attempts: int = 1):
    """An agreement job a worker started, then went silent (as after kill -9)."""
    job = Job.objects.create(
        kind=Job.Kind.AGREEMENT,
        campaign=campaign,
        params={"bootstrap": 0, "seed": 0, "chunk_size": 1000},
        created_by=cast.manager,
    )
    assert job.start()
    job.advance(91)
    Job.objects.filter(pk=job.pk).update(
        heartbeat_at=timezone.now() - silent_for, attempts=attempts
    )
    job.refresh_from_db()
    return job


def test_every_step_of_a_running_job_is_a_heartbeat(campaign, cast):
    job = a_running_job(campaign, cast, silent_for=dt.timedelta(minutes=10))
    assert job.is_stalled
    assert list(Job.objects.stalled()) == [job]
    job.advance(92)
    job.refresh_from_db()
    assert not job.is_stalled and job.heartbeat_at > timezone.now() - dt.timedelta(
        seconds=5
    )
    assert not Job.objects.stalled().exists()


def test_the_jobs_list_shows_a_stalled_job(campaign, cast):
    job = a_running_job(campaign, cast, silent_for=dt.timedelta(minutes=6))
    fresh = a_running_job(campaign, cast, silent_for=dt.timedelta(seconds=10))
    rows = client_for(cast.manager).get("/api/jobs/").json()["results"]
    stalled = {row["id"]: row["stalled"] for row in rows}
    assert stalled == {job.pk: True, fresh.pk: False}


def test_retry_requeues_a_stalled_job_once_and_it_runs(campaign, cast):
    job = a_running_job(campaign, cast, silent_for=dt.timedelta(minutes=6))
    client = client_for(cast.manager)
    response = client.post(f"/api/jobs/{job.pk}/retry/")
    assert response.status_code == 202
    job.refresh_from_db()
    # Without a broker the task runs at once: the job finishes on its next run.
    assert (job.status, job.attempts, job.progress) == ("succeeded", 2, 100)
    again = client.post(f"/api/jobs/{job.pk}/retry/")
    assert again.status_code == 409
    assert "not stalled" in again.json()["detail"]


def test_only_managers_retry_and_only_stalled_jobs(campaign, cast):
    busy = a_running_job(campaign, cast, silent_for=dt.timedelta(seconds=30))
    assert client_for(cast.reader1).post(f"/api/jobs/{busy.pk}/retry/").status_code in (
        403,
        404,
    )
    refused = client_for(cast.manager).post(f"/api/jobs/{busy.pk}/retry/")
    assert refused.status_code == 409
    busy.refresh_from_db()
    assert (busy.status, busy.attempts) == ("running", 1)


def test_the_sweep_requeues_stalled_jobs_and_fails_the_hopeless(
    campaign, cast, settings
):
    settings.ANNOTATOR_JOB_MAX_ATTEMPTS = 3
    retried = a_running_job(campaign, cast, silent_for=dt.timedelta(minutes=6))
    hopeless = a_running_job(
        campaign, cast, silent_for=dt.timedelta(minutes=6), attempts=3
    )
    alive = a_running_job(campaign, cast, silent_for=dt.timedelta(seconds=5))
    assert tasks.sweep_stalled_jobs_task() == {"requeued": 1, "failed": 1}
    for job in (retried, hopeless, alive):
        job.refresh_from_db()
    assert retried.status == "succeeded"
    assert hopeless.status == "failed"
    assert "Stopped after 3 runs" in hopeless.error
    assert "stopped answering" in hopeless.error
    assert alive.status == "running"
    assert jobs.sweep_stalled(queue=tasks.queue) == {"requeued": 0, "failed": 0}


@pytest.mark.django_db(transaction=True)
def test_a_job_queue_that_cannot_be_reached_answers_503_and_leaves_no_job_queued(
    campaign, cast, monkeypatch
):
    def refused(*args, **kwargs):
        raise BrokerDown("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_agreement_job_task, "delay", refused)
    client = client_for(cast.manager)
    # Committed as in production, so the task is sent inside the request.
    response = client.post(f"/api/campaigns/{campaign.pk}/agreement/", {})
    assert response.status_code == 503
    assert "job queue cannot be reached" in response.json()["detail"]
    (job,) = Job.objects.all()
    assert job.status == "failed"
    assert "OperationalError" in job.error
    assert not Job.objects.filter(status="queued").exists()


def test_health_reports_the_database_and_the_broker(client):
    ok = client.get("/api/health/")
    assert ok.status_code == 200
    assert ok.json() == {"status": "ok", "database": "ok", "broker": "inline"}
    from annotator.celery import app

    saved = (app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_write_url)
    app.conf.task_always_eager = False
    app.conf.broker_url, app.conf.broker_write_url = "redis://127.0.0.1:1/0", None
    try:
        down = client.get("/api/health/")
    finally:
        (
            app.conf.task_always_eager,
            app.conf.broker_url,
            app.conf.broker_write_url,
        ) = saved
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "database": "ok",
        "broker": "unreachable",
    }
