"""Progress counters and the cost of the hot paths: constant in the campaign's size."""

from __future__ import annotations

import contextlib
import datetime as dt
import random

import pytest
from django.db.models import Count, Q
from django.utils import timezone
from rest_framework.test import APIClient

from annotator import services
from annotator.models import Assignment, Campaign, CampaignExam, CampaignReader
from tests import factories


def real_counts(campaign: Campaign) -> dict[str, int]:
    """The counters' values, counted from the rows (what the counters replace)."""
    states = dict(
        CampaignExam.objects.filter(campaign=campaign)
        .values("consensus_state")
        .annotate(n=Count("pk"))
        .values_list("consensus_state", "n")
    )
    reads = Assignment.objects.filter(campaign=campaign)
    counts = {
        "n_exams": sum(states.values()),
        "n_reads_submitted": reads.filter(status="submitted").count(),
        "n_claims_open": reads.filter(status="claimed").count(),
    }
    for state in CampaignExam.ConsensusState.values:
        counts[f"n_{state}"] = states.get(state, 0)
    return counts


def stored_counts(campaign: Campaign) -> dict[str, int]:
    campaign.refresh_from_db()
    return {name: getattr(campaign, name) for name in real_counts(campaign)}


def reader_counts(campaign: Campaign) -> dict[int, tuple[int, int]]:
    """Per reader: (submitted reads, highest exam held) — stored vs counted."""
    counted = dict(
        Assignment.objects.filter(campaign=campaign)
        .values("reader_id")
        .annotate(n=Count("pk", filter=Q(status="submitted")))
        .values_list("reader_id", "n")
    )
    stored = dict(
        CampaignReader.objects.filter(campaign=campaign).values_list(
            "user_id", "n_submitted"
        )
    )
    return {user: (stored.get(user, 0), counted.get(user, 0)) for user in stored}


def test_counters_follow_every_workflow_step(cast, taxonomy):
    """Claims, submissions, edits, expiry, adjudication, imports and leaving
    readers move the counters exactly as a count of the rows would."""
    rng = random.Random(7)
    campaign = factories.make_campaign(cast, factories.make_exams(12))
    assert stored_counts(campaign) == real_counts(campaign)
    labels = [["NORM"], ["SR"], ["SR", "RBBB"], ["AF"]]
    now = timezone.now()
    for step in range(40):
        reader = rng.choice([cast.reader1, cast.reader2])
        claim = services.claim_next(campaign=campaign, reader=reader, now=now)
        if claim is None:
            continue
        if step % 5 == 4:
            # Abandoned: the lease runs out and another claim releases it.
            now += dt.timedelta(minutes=campaign.lease_minutes + 1)
            continue
        decision = services.submit_decision(
            assignment=claim, reader=reader, labels=rng.choice(labels), now=now
        )
        if step % 7 == 0:
            # Refused once the exam's reads are complete; nothing moves then.
            with contextlib.suppress(services.Conflict):
                services.edit_decision(
                    decision=decision,
                    reader=reader,
                    expected_version=1,
                    labels=rng.choice(labels),
                )
        assert stored_counts(campaign) == real_counts(campaign), step
    for link in CampaignExam.objects.filter(
        campaign=campaign, consensus_state="needs_adjudication"
    )[:2]:
        services.adjudicate(
            campaign=campaign,
            exam=link.exam,
            adjudicator=cast.adjudicator,
            labels=["SR"],
        )
    assert stored_counts(campaign) == real_counts(campaign)
    services.add_readers(campaign=campaign, readers=[cast.outsider])
    services.remove_readers(campaign=campaign, readers=[cast.reader2])
    assert stored_counts(campaign) == real_counts(campaign)
    for stored, counted in reader_counts(campaign).values():
        assert stored == counted
    assert services.recount_progress(campaign) == real_counts(campaign)


def test_imported_readings_move_the_counters(cast, taxonomy):
    campaign = factories.make_campaign(cast, factories.make_exams(2))
    exam = campaign.exams.first()
    services.claim_next(campaign=campaign, reader=cast.reader1)  # holds the first
    services.record_reading(
        campaign=campaign, exam=exam, reader=cast.reader1, labels=["AF"]
    )
    services.record_reading(
        campaign=campaign, exam=exam, reader=cast.reader2, labels=["AF"]
    )
    assert stored_counts(campaign) == real_counts(campaign)
    assert stored_counts(campaign)["n_unanimous"] == 1
    assert CampaignExam.objects.get(campaign=campaign, exam=exam).n_assigned == 2


# --- Query counts: the same however large the campaign ---------------------------


def grown(cast, n_exams: int) -> Campaign:
    """A campaign with ``n_exams`` exams, all read twice, a few disagreeing."""
    campaign = factories.make_campaign(
        cast, factories.make_exams(n_exams, dataset=f"q{n_exams}"), name=f"Q{n_exams}"
    )
    factories.seed_reads(
        campaign,
        [cast.reader1, cast.reader2],
        lambda exam, reader: ["SR"] if exam % 3 or reader == 0 else ["AF"],
    )
    return campaign


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("n_exams", [4, 40])
def test_claim_and_submit_take_a_fixed_number_of_queries(
    cast, taxonomy, n_exams, django_assert_num_queries
):
    campaign = grown(cast, n_exams)
    services.add_exams(
        campaign=campaign, exams=factories.make_exams(2, dataset=f"n{n_exams}")
    )
    reader = cast.reader1
    # A savepoint and its release (the test's transaction), then: lock the
    # reader, look for stale leases, for an unfinished claim, for candidates;
    # take a slot, insert the claim, move the cursor and the counter.
    with django_assert_num_queries(10):
        claim = services.claim_next(campaign=campaign, reader=reader)
    # Lock the reader and the claim; mark it submitted, insert the decision
    # and its revision; lock and count the exam; the two counters.
    with django_assert_num_queries(11):
        services.submit_decision(assignment=claim, reader=reader, labels=["NORM"])


@pytest.mark.parametrize("n_exams", [4, 40])
def test_campaign_list_and_home_take_a_fixed_number_of_queries(
    cast, taxonomy, n_exams, django_assert_num_queries, client
):
    grown(cast, n_exams)
    manager = api_for(cast.manager)
    # Roles, the page count, the campaigns with their counters, readers and
    # adjudicators: nothing per exam or per read.
    with django_assert_num_queries(5):
        listed = manager.get("/api/campaigns/")
    assert listed.status_code == 200
    progress = listed.json()["results"][0]["progress"]
    assert progress["exams"] == n_exams and progress["reads_submitted"] == 2 * n_exams
    client.force_login(cast.reader1)
    # Session, user, roles, the campaigns with the caller's counters.
    with django_assert_num_queries(4):
        assert client.get("/").status_code == 200


@pytest.mark.parametrize("n_exams", [9, 90])
def test_adjudication_queue_takes_a_fixed_number_of_queries(
    cast, taxonomy, n_exams, django_assert_num_queries
):
    campaign = grown(cast, n_exams)
    adjudicator = api_for(cast.adjudicator)
    url = f"/api/campaigns/{campaign.pk}/adjudication/?page_size=2"
    # Roles, the campaign (with its people), the adjudicator check, one page
    # of links, their reads and adjudications.
    with django_assert_num_queries(8):
        page = adjudicator.get(url).json()
    assert page["count"] == n_exams // 3
    assert len(page["results"]) == 2
    # The same user object again: its roles are cached on it.
    with django_assert_num_queries(7):
        adjudicator.get(page["next"])


def test_adjudication_queue_pages_by_cursor_through_every_exam(cast, taxonomy):
    campaign = grown(cast, 30)
    adjudicator = api_for(cast.adjudicator)
    url, seen = f"/api/campaigns/{campaign.pk}/adjudication/?page_size=4", []
    while url:
        page = adjudicator.get(url).json()
        seen += [item["exam"] for item in page["results"]]
        url = page["next"]
    expected = CampaignExam.objects.filter(
        campaign=campaign, consensus_state="needs_adjudication"
    ).values_list("exam_id", flat=True)
    assert seen == sorted(expected) and len(seen) == 10


def test_a_readers_decisions_page_by_cursor_and_only_theirs(cast, taxonomy):
    campaign = grown(cast, 12)
    reader = api_for(cast.reader2)
    url, seen = "/api/decisions/?page_size=5", []
    while url:
        page = reader.get(url).json()
        assert "count" not in page
        seen += [d["id"] for d in page["results"]]
        url = page["next"]
    mine = campaign.assignments.filter(reader=cast.reader2).values_list(
        "decision__id", flat=True
    )
    assert seen == sorted(mine) and len(seen) == 12


def _walk(client, url: str) -> tuple[list[int], list[int]]:
    """Every id of a cursor-paged list, following next links, then back by
    previous links from the last page."""
    forward, pages = [], []
    while url:
        page = client.get(url).json()
        pages.append(page)
        forward += [row["id"] for row in page["results"]]
        url = page["next"]
    backward = [row["id"] for row in pages[-1]["results"]]
    url = pages[-1]["previous"]
    while url:
        page = client.get(url).json()
        backward = [row["id"] for row in page["results"]] + backward
        url = page["previous"]
    return forward, backward


@pytest.mark.django_db
def test_a_readers_exam_list_is_the_visible_exams_found_from_their_own(
    cast, django_assert_num_queries
):
    """Page by page, the exam list of a reader or an adjudicator holds exactly
    ``visible_to``: claims in two campaigns (an exam in both listed once),
    expired claims left out, the adjudication queue of their campaigns, and
    other campaigns' exams interleaved by id never shown. Its queries do not
    grow with the exams before theirs."""
    from annotator.models import Exam

    exams = factories.make_exams(60)
    mine, theirs = exams[0::2], exams[1::2]
    other = factories.make_user("other_reader", "reader")
    first = factories.make_campaign(cast, mine[:20], name="First")
    second = factories.make_campaign(cast, mine[10:], name="Second")
    theirs = services.create_campaign(
        name="Theirs",
        taxonomy=factories.default_taxonomy(),
        exams=theirs,
        readers=[other],
        readers_per_exam=1,
    )
    rng = random.Random(4)
    for campaign in (first, second):
        for _ in range(18):
            for reader in (cast.reader1, cast.reader2):
                claim = services.claim_next(campaign=campaign, reader=reader)
                labels = (
                    ["AF"] if reader == cast.reader1 else [rng.choice(["AF", "SR"])]
                )
                services.submit_decision(assignment=claim, reader=reader, labels=labels)
    # reader2's next claim in First runs out: an expired claim shows nothing.
    services.claim_next(campaign=first, reader=cast.reader2)
    services.expire_leases(campaign=first, now=timezone.now() + dt.timedelta(days=1))
    services.claim_next(campaign=second, reader=cast.reader1)  # held, unread
    for _ in range(5):
        claim = services.claim_next(campaign=theirs, reader=other)
        services.submit_decision(assignment=claim, reader=other, labels=["SR"])
    for user in (cast.reader1, cast.reader2, cast.adjudicator, other):
        client = APIClient()
        client.force_authenticate(user)
        expected = list(
            Exam.objects.visible_to(user).order_by("pk").values_list("pk", flat=True)
        )
        forward, backward = _walk(client, "/api/exams/?page_size=7")
        assert forward == backward == expected, user
        assert expected, user
    client = APIClient()
    client.force_authenticate(cast.reader1)
    # The two sources (claims, queues), the page, the blinding check.
    with django_assert_num_queries(4):
        client.get("/api/exams/?page_size=7")
    factories.make_exams(40, dataset="later")  # more exams, none of theirs
    with django_assert_num_queries(4):
        client.get("/api/exams/?page_size=7")


@pytest.mark.django_db
def test_a_readers_decisions_page_by_their_own_ids(cast, django_assert_num_queries):
    """Forward and back, a reader's decisions list is exactly their decisions
    in id order, with the same queries on the first page and a deep one."""
    from annotator.models import Decision

    campaign = factories.make_campaign(cast, factories.make_exams(24))
    for _ in range(24):
        for reader in (cast.reader1, cast.reader2):
            claim = services.claim_next(campaign=campaign, reader=reader)
            services.submit_decision(assignment=claim, reader=reader, labels=["SR"])
    for reader in (cast.reader1, cast.reader2):
        client = APIClient()
        client.force_authenticate(reader)
        expected = list(
            Decision.objects.filter(reader=reader)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        forward, backward = _walk(client, "/api/decisions/?page_size=5")
        assert forward == backward == expected
    client = APIClient()
    client.force_authenticate(cast.reader1)
    deep = client.get("/api/decisions/?page_size=5").json()["next"]
    deep = client.get(deep).json()["next"]
    # The page's ids, then the page (the caller's role is known by now).
    with django_assert_num_queries(2):
        client.get("/api/decisions/?page_size=5")
    with django_assert_num_queries(2):
        client.get(deep)
