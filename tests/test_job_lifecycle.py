"""Job lifecycle methods, the latest report, the job list (cursor pages, no result)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator import jobs
from annotator.models import Job
from tests import factories

REPORT = {"n_exams": 3, "readers": ["a", "b"], "bootstrap": 0, "classes": {}}


@pytest.fixture
def campaign(cast):
    return factories.make_campaign(cast, factories.make_exams(2))


def make_job(campaign, **fields) -> Job:
    return Job.objects.create(kind=Job.Kind.AGREEMENT, campaign=campaign, **fields)


def test_start_runs_a_job_again_after_an_interruption(campaign):
    job = make_job(campaign)
    assert job.start()
    first = job.started_at
    assert (job.status, job.attempts) == ("running", 1) and first is not None
    assert job.start()  # a redelivered task after its worker died
    assert (job.status, job.attempts, job.started_at) == ("running", 2, first)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.started_at) == ("running", 2, first)


@pytest.mark.parametrize("end", ["succeed", "fail"])
def test_a_finished_job_is_never_moved_back(campaign, end):
    job = make_job(campaign)
    job.start()
    job.advance(40)
    if end == "succeed":
        assert job.succeed(result=REPORT, output_key="jobs/1/a.json", sha256="ab")
    else:
        assert job.fail("ValueError: bad")
    before = Job.objects.values().get(pk=job.pk)
    stale = Job.objects.get(pk=job.pk)  # what a redelivered task would load
    assert not stale.start()
    assert not stale.advance(10)
    assert not stale.succeed(result={"other": 1}, output_key="x")
    assert not stale.fail("late error")
    assert stale.fix_plan({"chunks": []}) is None
    assert Job.objects.values().get(pk=job.pk) == before
    assert stale.status == before["status"]


def test_a_late_error_does_not_undo_a_success(campaign):
    job = make_job(campaign)
    job.start()
    job.succeed(result=REPORT)
    jobs.fail_job(job.pk, RuntimeError("the chord callback failed afterwards"))
    job.refresh_from_db()
    assert (job.status, job.error, job.result) == ("succeeded", "", REPORT)


def test_progress_is_clamped_and_never_lowered(campaign):
    job = make_job(campaign)
    assert not job.advance(30)  # a queued job does not move
    job.start()
    assert job.advance(150)
    assert Job.objects.get(pk=job.pk).progress == 100
    job = make_job(campaign)
    job.start()
    job.advance(-5)
    assert Job.objects.get(pk=job.pk).progress == 0
    job.advance(60.7)
    job.advance(30)  # chunks finish in any order
    assert Job.objects.get(pk=job.pk).progress == 60 == job.progress


def test_succeed_stores_the_result_its_summary_and_full_progress(campaign):
    job = make_job(campaign)
    assert not job.succeed(result=REPORT)  # never started
    job.start()
    assert job.succeed(result=REPORT, output_key="jobs/1/agreement.json", sha256="f0")
    stored = Job.objects.get(pk=job.pk)
    assert (stored.status, stored.progress, stored.result) == ("succeeded", 100, REPORT)
    assert (stored.output_key, stored.output_sha256) == ("jobs/1/agreement.json", "f0")
    assert stored.summary == {"n_exams": 3, "n_readers": 2, "bootstrap": 0}
    assert stored.finished_at is not None
    export = Job.objects.create(kind=Job.Kind.EXPORT, campaign=campaign)
    export.start()
    export.succeed(result={"rows": 5, "methods": {"unanimous": 5}, "manifest": {}})
    assert export.summary == {"rows": 5, "methods": {"unanimous": 5}}


def test_a_queued_job_can_fail_before_it_starts(campaign):
    job = make_job(campaign)
    assert job.fail("The campaign has no submitted reads yet; nothing to measure.")
    assert Job.objects.get(pk=job.pk).status == "failed"


def test_the_first_plan_wins(campaign):
    job = make_job(campaign)
    job.start()
    other = Job.objects.get(pk=job.pk)  # a second run of the same task
    assert job.fix_plan({"chunks": [[1, 2]]}) == {"chunks": [[1, 2]]}
    assert other.fix_plan({"chunks": [[1, 3]]}) == {"chunks": [[1, 2]]}
    assert Job.objects.get(pk=job.pk).params["plan"] == {"chunks": [[1, 2]]}


def test_redelivered_steps_leave_a_finished_job_alone(campaign):
    job = make_job(campaign, params={"plan": {"chunks": []}})
    job.start()
    job.succeed(result=REPORT)
    before = Job.objects.values().get(pk=job.pk)
    assert jobs.plan_agreement(job.pk) is None
    jobs.merge_agreement(job.pk)
    export = Job.objects.create(kind=Job.Kind.EXPORT, campaign=campaign)
    export.start()
    export.fail("boom")
    jobs.run_export(export.pk)
    assert Job.objects.values().get(pk=job.pk) == before
    assert Job.objects.get(pk=export.pk).attempts == 1


def test_latest_report_is_the_latest_succeeded_agreement(campaign):
    assert Job.objects.latest_report(campaign) is None
    now = timezone.now()
    for n, status in [(1, "succeeded"), (3, "succeeded"), (2, "succeeded")]:
        make_job(
            campaign,
            status=status,
            result={"n": n},
            finished_at=now + dt.timedelta(minutes=n),
        )
    make_job(campaign, status="failed", finished_at=now + dt.timedelta(hours=1))
    Job.objects.create(
        kind=Job.Kind.EXPORT,
        campaign=campaign,
        status="succeeded",
        result={"n": 9},
        finished_at=now + dt.timedelta(hours=2),
    )
    assert Job.objects.latest_report(campaign) == {"n": 3}


# --- The list --------------------------------------------------------------------


def many_jobs(campaign, n: int, *, start: int = 0) -> None:
    # Half of them share one creation time: the cursor must order ties by id.
    when = timezone.now()
    big = {**REPORT, "classes": {f"C{i}": {"x": "y" * 100} for i in range(100)}}
    Job.objects.bulk_create(
        Job(
            kind=Job.Kind.AGREEMENT if i % 2 else Job.Kind.EXPORT,
            campaign=campaign,
            status="succeeded",
            result=big,
            summary=Job.summary_of(
                Job.Kind.AGREEMENT if i % 2 else Job.Kind.EXPORT, big
            ),
            created_at=when if i % 2 else when - dt.timedelta(seconds=i),
            created_by=campaign.created_by,
        )
        for i in range(start, start + n)
    )


def list_queries(client: APIClient, url: str = "/api/jobs/") -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return [q["sql"] for q in queries.captured_queries]


def test_the_list_costs_the_same_queries_for_any_number_of_jobs(
    campaign, cast, django_assert_num_queries
):
    # A token, so that every request loads its user (and roles) afresh.
    client = APIClient()
    token = Token.objects.create(user=cast.manager)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    many_jobs(campaign, 2)
    few = len(list_queries(client))
    many_jobs(campaign, 60, start=2)
    with django_assert_num_queries(few):
        response = client.get("/api/jobs/?page_size=200")
    assert len(response.json()["results"]) == 62


def test_the_list_never_selects_the_result(campaign, cast):
    client = APIClient()
    client.force_authenticate(cast.manager)
    many_jobs(campaign, 3)
    for url in ("/api/jobs/", "/api/jobs/?kind=agreement&status=succeeded"):
        sql = list_queries(client, url)
        assert any("annotator_job" in q for q in sql)
        assert not any('"result"' in q for q in sql), sql
        listed = client.get(url).json()["results"]
        assert listed and all("result" not in job for job in listed)
        assert all(job["summary"] for job in listed)


def test_the_list_pages_by_cursor_newest_first(campaign, cast):
    client = APIClient()
    client.force_authenticate(cast.manager)
    many_jobs(campaign, 11)
    expected = list(
        Job.objects.order_by("-created_at", "-id").values_list("pk", flat=True)
    )
    seen, url = [], "/api/jobs/?page_size=3"
    while url:
        page = client.get(url).json()
        assert page["count"] == 11 and len(page["results"]) <= 3
        assert "cursor=" in (page["next"] or "cursor=")
        seen += [job["id"] for job in page["results"]]
        url = page["next"]
    assert seen == expected
    back = client.get(page["previous"]).json()
    assert [job["id"] for job in back["results"]] == expected[6:9]


def test_the_list_keeps_its_filters(campaign, cast):
    client = APIClient()
    client.force_authenticate(cast.manager)
    many_jobs(campaign, 6)
    other = factories.make_campaign(
        cast, factories.make_exams(1, dataset="other"), name="Other"
    )
    make_job(other)
    exports = client.get("/api/jobs/?kind=export").json()
    assert exports["count"] == 3
    assert {job["kind"] for job in exports["results"]} == {"export"}
    assert client.get(f"/api/jobs/?campaign={other.pk}").json()["count"] == 1
    assert client.get("/api/jobs/?status=queued").json()["count"] == 1
