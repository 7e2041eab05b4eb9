"""A campaign's status (draft, open, paused, closed) and its readers while it runs."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator import services
from annotator.models import Assignment, Campaign, CampaignExam
from tests import factories


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}"
    )
    return client


@pytest.fixture
def pilot(cast):
    return factories.make_campaign(cast, factories.make_exams(6))


def test_a_paused_campaign_hands_out_no_new_exam_and_says_why(cast, pilot):
    held = services.claim_next(campaign=pilot, reader=cast.reader1)
    services.set_campaign_status(campaign=pilot, status="paused")
    # The unfinished claim comes back, and can be read and submitted.
    assert services.claim_next(campaign=pilot, reader=cast.reader1).pk == held.pk
    services.submit_decision(assignment=held, reader=cast.reader1, labels=["SR"])
    with pytest.raises(services.Conflict, match="paused"):
        services.claim_next(campaign=pilot, reader=cast.reader1)
    answer = client_for(cast.reader2).post(f"/api/campaigns/{pilot.pk}/next/")
    assert answer.status_code == 409
    assert "paused" in answer.json()["detail"]
    assert not Assignment.objects.filter(reader=cast.reader2).exists()
    services.set_campaign_status(campaign=pilot, status="open")
    assert services.claim_next(campaign=pilot, reader=cast.reader2) is not None


@pytest.mark.parametrize(
    ("status", "word"), [("draft", "not open yet"), ("closed", "closed")]
)
def test_draft_and_closed_campaigns_hand_out_nothing(cast, status, word):
    campaign = factories.make_campaign(cast, factories.make_exams(2))
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    with pytest.raises(services.Conflict, match=word):
        services.claim_next(campaign=campaign, reader=cast.reader1)


def test_status_moves_follow_the_lifecycle(cast, pilot):
    services.set_campaign_status(campaign=pilot, status="closed")
    for status in ("open", "paused", "draft"):
        with pytest.raises(services.CampaignRefused, match="closed campaign cannot"):
            services.set_campaign_status(campaign=pilot, status=status)
    with pytest.raises(services.CampaignRefused, match="Unknown status"):
        services.set_campaign_status(campaign=pilot, status="gone")
    pilot.refresh_from_db()
    assert pilot.status == "closed"


def test_managers_set_the_status_over_the_api_and_others_get_404(cast, pilot):
    url = f"/api/campaigns/{pilot.pk}/status/"
    manager = client_for(cast.manager)
    answer = manager.post(url, {"status": "paused"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "paused"
    assert manager.post(url, {"status": "nope"}, format="json").status_code == 400
    assert manager.post(url, {"status": ["open"]}, format="json").status_code == 400
    for user in (cast.reader1, cast.adjudicator, cast.outsider):
        assert (
            client_for(user).post(url, {"status": "open"}, format="json").status_code
            == 404
        )
    pilot.refresh_from_db()
    assert pilot.status == "paused"
    # Everyone who sees the campaign sees its status.
    seen = client_for(cast.reader1).get(f"/api/campaigns/{pilot.pk}/").json()
    assert seen["status"] == "paused"


def test_readers_come_and_go_while_the_campaign_runs(cast, pilot):
    newcomer = factories.make_user("newcomer", "reader")
    url = f"/api/campaigns/{pilot.pk}/readers/"
    manager = client_for(cast.manager)
    claim = services.claim_next(campaign=pilot, reader=cast.reader1)
    done = services.claim_next(campaign=pilot, reader=cast.reader1, after=claim.pk)
    services.submit_decision(assignment=done, reader=cast.reader1, labels=["SR"])
    answer = manager.post(
        url, {"add": ["newcomer"], "remove": ["reader1"]}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["readers"] == ["newcomer", "reader2"]
    claim.refresh_from_db()
    assert claim.status == Assignment.Status.EXPIRED  # back to the queue
    link = CampaignExam.objects.get(campaign=pilot, exam_id=claim.exam_id)
    assert link.n_assigned == 0 and link.is_open
    assert Assignment.objects.get(pk=done.pk).status == Assignment.Status.SUBMITTED
    assert services.claim_next(campaign=pilot, reader=newcomer) is not None
    for body in (
        {"add": ["ghost"]},
        {"add": ["reader2"], "remove": ["reader2"]},
        {"add": "x"},
    ):
        assert manager.post(url, body, format="json").status_code == 400, body
    assert (
        client_for(cast.reader2).post(url, {"add": ["x"]}, format="json").status_code
        == 404
    )
    assert sorted(pilot.readers.values_list("username", flat=True)) == [
        "newcomer",
        "reader2",
    ]


def test_reader_stats_say_what_each_reader_is_doing(cast, pilot):
    import statistics

    for ms in (3000, 5000, 10000):
        claim = services.claim_next(campaign=pilot, reader=cast.reader1)
        services.submit_decision(
            assignment=claim, reader=cast.reader1, labels=["SR"], duration_ms=ms
        )
    services.claim_next(campaign=pilot, reader=cast.reader1)  # on screen
    held = services.claim_next(campaign=pilot, reader=cast.reader2)
    services.claim_next(campaign=pilot, reader=cast.reader2, after=held.pk)  # ahead
    url = f"/api/campaigns/{pilot.pk}/reader-stats/"
    body = client_for(cast.manager).get(url).json()
    assert body["reading_now"] == 2  # two readers on screen, not three claims
    rows = {row["reader"]: row for row in body["readers"]}
    one = rows["reader1"]
    assert (one["reads"], one["open_claims"], one["reading"]) == (3, 1, True)
    assert one["median_ms"] == 5000
    assert one["reads_per_hour"] == round(
        3_600_000 / statistics.fmean([3000, 5000, 10000]), 1
    )
    assert one["fast_reads"] == 0 and one["timed_reads"] == 3
    two = rows["reader2"]
    assert (two["reads"], two["open_claims"], two["median_ms"]) == (0, 2, None)
    for user in (cast.reader1, cast.adjudicator):
        assert client_for(user).get(url).status_code == 404
