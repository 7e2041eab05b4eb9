"""Reads flagged fast: counted for managers, hidden from readers; the threshold.

A read submitted sooner than the campaign's ``min_read_ms`` carries
``Decision.fast``. Managers see how many in the campaign's progress
(``reads_fast``, one COUNT) and may set the threshold when they create a
campaign (API and ``create_campaign --min-read-ms``); readers and adjudicators
see neither.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError
from rest_framework.test import APIClient

from annotator import services
from annotator.models import Campaign, Decision
from tests import factories


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def flag_fast(campaign: Campaign, n: int) -> None:
    """Mark the first ``n`` reads of ``campaign`` fast, as a quick submission would."""
    ids = Decision.objects.filter(assignment__campaign=campaign).order_by("pk")[:n]
    Decision.objects.filter(pk__in=list(ids.values_list("pk", flat=True))).update(
        fast=True
    )


@pytest.fixture
def read(cast) -> Campaign:
    """Three exams, each read by both readers; two of the six reads fast."""
    exams = factories.make_exams(3)
    campaign = factories.make_campaign(cast, exams)
    factories.seed_reads(campaign, [cast.reader1, cast.reader2], lambda e, r: ["SR"])
    flag_fast(campaign, 2)
    return campaign


def test_managers_see_how_many_reads_were_flagged_fast(cast, read):
    other = factories.make_campaign(
        cast, factories.make_exams(1, dataset="other"), name="Other"
    )
    factories.seed_reads(other, [cast.reader1, cast.reader2], lambda e, r: ["AF"])
    flag_fast(other, 1)
    manager = client_for(cast.manager)
    one = manager.get(f"/api/campaigns/{read.pk}/").json()
    assert one["progress"]["reads_fast"] == 2
    assert one["min_read_ms"] == 2000
    listed = {c["id"]: c for c in manager.get("/api/campaigns/").json()["results"]}
    assert listed[read.pk]["progress"]["reads_fast"] == 2
    assert listed[other.pk]["progress"]["reads_fast"] == 1
    real = Decision.objects.filter(assignment__campaign=read, fast=True).count()
    assert read.reads_fast() == real == 2


def test_the_fast_count_is_one_query(cast, read, django_assert_num_queries):
    campaign = Campaign.objects.get(pk=read.pk)
    with django_assert_num_queries(1):
        assert campaign.reads_fast() == 2
    annotated = Campaign.objects.with_progress(cast.manager).get(pk=read.pk)
    with django_assert_num_queries(0):
        assert annotated.progress_for(cast.manager)["reads_fast"] == 2


def test_readers_and_adjudicators_see_neither_the_count_nor_the_threshold(cast, read):
    for user in (cast.reader1, cast.reader2, cast.adjudicator):
        client = client_for(user)
        one = client.get(f"/api/campaigns/{read.pk}/").json()
        assert "reads_fast" not in one["progress"]
        assert "min_read_ms" not in one
        listed = client.get("/api/campaigns/").json()["results"]
        assert all("reads_fast" not in c["progress"] for c in listed)
        assert all("min_read_ms" not in c for c in listed)
    assert "reads_fast" not in read.progress_for(cast.reader1)


def test_a_campaign_without_fast_reads_counts_zero(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(1))
    progress = client_for(cast.manager).get(f"/api/campaigns/{campaign.pk}/").json()
    assert progress["progress"]["reads_fast"] == 0


# --- The threshold ---------------------------------------------------------------


def create(manager, **fields):
    body = {"name": "Timed", "dataset": "test", "readers": ["reader1"]}
    return client_for(manager).post(
        "/api/campaigns/", {**body, "readers_per_exam": 1, **fields}, format="json"
    )


def test_managers_set_the_minimum_reading_time_when_they_create_a_campaign(cast):
    factories.make_exams(1)
    answer = create(cast.manager, min_read_ms=3500)
    assert answer.status_code == 201, answer.content
    assert answer.json()["min_read_ms"] == 3500
    assert Campaign.objects.get(name="Timed").min_read_ms == 3500
    default = create(cast.manager, name="Default")
    assert default.json()["min_read_ms"] == 2000
    off = create(cast.manager, name="Off", min_read_ms=0)
    assert off.status_code == 201 and off.json()["min_read_ms"] == 0


@pytest.mark.parametrize("given", [-1, 600_001, "soon"])
def test_a_minimum_reading_time_out_of_range_is_refused(cast, given):
    factories.make_exams(1)
    answer = create(cast.manager, min_read_ms=given)
    assert answer.status_code == 400
    assert "min_read_ms" in answer.json()
    assert not Campaign.objects.filter(name="Timed").exists()


def test_the_services_refuse_a_minimum_reading_time_beside_its_field(cast):
    with pytest.raises(services.WorkflowError) as refused:
        factories.make_campaign(cast, factories.make_exams(1), min_read_ms=600_001)
    assert refused.value.field == "min_read_ms"


def test_the_command_takes_a_minimum_reading_time(cast):
    factories.make_exams(1)
    factories.command_campaign("Timed", "--min-read-ms", "1500")
    assert Campaign.objects.get(name="Timed").min_read_ms == 1500
    factories.command_campaign("Untimed")
    assert Campaign.objects.get(name="Untimed").min_read_ms == 2000
    with pytest.raises(CommandError, match="minimum reading time"):
        factories.command_campaign("Slow", "--min-read-ms", "700000")
