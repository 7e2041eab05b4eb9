"""Taking a read back: my reads, their lock state, edits, fast reads, second tabs."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotator import services
from annotator.models import CampaignExam, Decision, LabelRevision
from tests import factories

State = CampaignExam.ConsensusState


def client(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


def read(campaign, reader, labels, **kwargs) -> Decision:
    assignment = services.claim_next(campaign=campaign, reader=reader)
    assert assignment is not None
    return services.submit_decision(
        assignment=assignment, reader=reader, labels=labels, **kwargs
    )


@pytest.fixture
def campaign(cast):
    return factories.make_campaign(cast, factories.make_exams(4))


@pytest.fixture
def solo(cast):
    """One reader per exam: reads stay editable until adjudicated."""
    return factories.make_campaign(
        cast, factories.make_exams(2, dataset="solo"), name="Solo", readers_per_exam=1
    )


# --- A second tab -----------------------------------------------------------------


def test_a_second_submit_answers_409_already_submitted_in_plain_words(campaign, cast):
    decision = read(campaign, cast.reader1, ["NORM"])
    answer = client(cast.reader1).post(
        f"/api/assignments/{decision.assignment_id}/decision/",
        {"labels": ["AF"]},
        format="json",
    )
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "already_submitted"
    assert "another tab" in body["detail"]
    assert "PUT" not in body["detail"] and "/api/" not in body["detail"]
    decision.refresh_from_db()
    assert decision.labels == ["NORM"] and decision.version == 1
    assert LabelRevision.objects.count() == 1


def test_other_refusals_carry_no_code(campaign, cast):
    answer = client(cast.reader1).post(
        "/api/assignments/999999/decision/", {"labels": ["AF"]}, format="json"
    )
    assert answer.status_code == 404
    assert "code" not in answer.json()


# --- Fast reads -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration_ms", "fast"), [(0, True), (1999, True), (2000, False), (None, False)]
)
def test_a_read_sooner_than_the_minimum_time_is_kept_and_flagged_fast(
    campaign, cast, duration_ms, fast
):
    decision = read(campaign, cast.reader1, ["NORM"], duration_ms=duration_ms)
    decision.refresh_from_db()
    assert decision.fast is fast
    assert decision.revisions.get().fast is fast


def test_a_campaign_minimum_of_zero_flags_no_read(cast):
    quick = factories.make_campaign(
        cast, factories.make_exams(1, dataset="quick"), name="Quick"
    )
    quick.min_read_ms = 0
    quick.save(update_fields=["min_read_ms"])
    decision = read(quick, cast.reader1, ["NORM"], duration_ms=0)
    assert Decision.objects.get(pk=decision.pk).fast is False


def test_an_edit_keeps_the_reads_fast_flag_and_its_revision_is_not_fast(campaign, cast):
    decision = read(campaign, cast.reader1, ["NORM"], duration_ms=300)
    edited = services.edit_decision(
        decision=decision, reader=cast.reader1, expected_version=1, labels=["SB"]
    )
    assert edited.fast is True
    assert [r.fast for r in edited.revisions.order_by("version")] == [True, False]


def test_the_api_shows_a_reader_the_fast_flag_of_their_read(campaign, cast):
    decision = read(campaign, cast.reader1, ["NORM"], duration_ms=100)
    body = client(cast.reader1).get(f"/api/decisions/{decision.pk}/").json()
    assert body["fast"] is True


# --- My reads ---------------------------------------------------------------------


def test_my_reads_lists_only_my_reads_in_the_campaign_newest_first(campaign, cast):
    mine = [read(campaign, cast.reader1, [code]) for code in ("NORM", "SB", "AF")]
    read(campaign, cast.reader2, ["ST"])
    body = client(cast.reader1).get(f"/api/campaigns/{campaign.pk}/reads/").json()
    assert body["count"] == 3
    assert [r["id"] for r in body["results"]] == [d.pk for d in reversed(mine)]
    assert [r["labels"] for r in body["results"]] == [["AF"], ["SB"], ["NORM"]]
    first = body["results"][0]
    assert first["display_key"] == f"#{mine[2].assignment.exam_id}"
    assert first["editable"] is True and first["locked_reason"] == ""


def test_my_reads_pages(campaign, cast):
    for code in ("NORM", "SB", "AF"):
        read(campaign, cast.reader1, [code])
    api = client(cast.reader1)
    page1 = api.get(f"/api/campaigns/{campaign.pk}/reads/?page_size=2").json()
    assert len(page1["results"]) == 2 and page1["next"]
    page2 = api.get(page1["next"]).json()
    assert [r["labels"] for r in page2["results"]] == [["NORM"]]
    assert page2["next"] is None


@pytest.mark.parametrize("query", ["#{exam}", "{exam}", " #{exam} "])
def test_my_reads_finds_one_exam_by_its_number(campaign, cast, query):
    decisions = [read(campaign, cast.reader1, [c]) for c in ("NORM", "SB")]
    exam = decisions[0].assignment.exam_id
    body = (
        client(cast.reader1)
        .get(f"/api/campaigns/{campaign.pk}/reads/", {"q": query.format(exam=exam)})
        .json()
    )
    assert [r["id"] for r in body["results"]] == [decisions[0].pk]


@pytest.mark.parametrize("query", ["AF", "#12a", "1" * 13, "<script>"])
def test_my_reads_refuses_a_search_that_is_not_an_exam_number(campaign, cast, query):
    answer = client(cast.reader1).get(
        f"/api/campaigns/{campaign.pk}/reads/", {"q": query}
    )
    assert answer.status_code == 400
    assert "exam's number" in answer.json()["q"][0]


@pytest.mark.parametrize("who", ["outsider", "manager", "adjudicator"])
def test_my_reads_of_a_campaign_one_does_not_read_is_not_found(campaign, cast, who):
    read(campaign, cast.reader1, ["NORM"])
    answer = client(getattr(cast, who)).get(f"/api/campaigns/{campaign.pk}/reads/")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not found."}


def test_my_reads_of_an_unknown_campaign_is_not_found(cast):
    assert client(cast.reader1).get("/api/campaigns/999999/reads/").status_code == 404


# --- Lock state -------------------------------------------------------------------


def test_a_read_locks_once_every_read_of_its_exam_is_in(campaign, cast):
    mine = read(campaign, cast.reader1, ["NORM"])
    api = client(cast.reader1)
    assert api.get(f"/api/decisions/{mine.pk}/").json()["editable"] is True
    theirs = read(campaign, cast.reader2, ["AF"])
    assert theirs.assignment.exam_id == mine.assignment.exam_id
    for body in (
        api.get(f"/api/decisions/{mine.pk}/").json(),
        api.get(f"/api/campaigns/{campaign.pk}/reads/").json()["results"][0],
    ):
        assert body["editable"] is False
        assert body["locked_reason"] == services.READS_COMPLETE
    # The page's answer and the service's agree.
    answer = api.put(
        f"/api/decisions/{mine.pk}/",
        {"labels": ["SB"]},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert answer.status_code == 409
    assert answer.json()["detail"] == services.READS_COMPLETE


def test_a_locked_read_looks_the_same_whether_reads_agreed_or_not(campaign, cast):
    agreed = read(campaign, cast.reader1, ["NORM"])
    read(campaign, cast.reader2, ["NORM"])
    disagreed = read(campaign, cast.reader1, ["NORM"])
    read(campaign, cast.reader2, ["AF"])
    api = client(cast.reader1)
    bodies = [api.get(f"/api/decisions/{d.pk}/").json() for d in (agreed, disagreed)]
    assert [(b["editable"], b["locked_reason"]) for b in bodies] == [
        (False, services.READS_COMPLETE)
    ] * 2


def test_a_single_readers_edit_resettles_the_exam(solo, cast):
    decision = read(solo, cast.reader1, ["NORM"])
    link = CampaignExam.objects.get(campaign=solo, exam=decision.assignment.exam)
    assert (link.consensus_state, link.consensus_labels) == (State.SINGLE, ["NORM"])
    api = client(cast.reader1)
    assert api.get(f"/api/decisions/{decision.pk}/").json()["editable"] is True
    answer = api.put(
        f"/api/decisions/{decision.pk}/",
        {"labels": ["AF", "PVC"]},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert answer.status_code == 200 and answer.json()["version"] == 2
    link.refresh_from_db()
    assert link.consensus_state == State.SINGLE
    assert link.consensus_labels == ["AF", "PVC"]
    assert [r.new_labels for r in decision.revisions.order_by("version")] == [
        ["NORM"],
        ["AF", "PVC"],
    ]


def test_an_adjudicated_read_stays_locked_with_the_same_reason(campaign, cast):
    decision = read(campaign, cast.reader1, ["NORM"])
    read(campaign, cast.reader2, ["AF"])
    services.adjudicate(
        campaign=campaign,
        exam=decision.assignment.exam,
        adjudicator=cast.adjudicator,
        labels=["SB"],
    )
    body = client(cast.reader1).get(f"/api/decisions/{decision.pk}/").json()
    assert (body["editable"], body["locked_reason"]) == (
        False,
        services.READS_COMPLETE,
    )
