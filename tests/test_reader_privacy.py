"""What readers and adjudicators see of an exam: a display key and at most the day.

A DICOM exam's source id is its SOP Instance UID, which often embeds the
acquisition time; a hospital's own numbering can identify the visit. Readers
and adjudicators know an exam by the application's display key and see the day
it was recorded (or nothing, where the campaign hides it); managers see the
source id and the time.
"""

from __future__ import annotations

import datetime
import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator.models import Campaign, Exam
from tests import factories

# A SOP Instance UID with the acquisition time in it, as some carts write them.
UID = "1.2.840.113619.2.55.3.20190304134721.101"
ACQUIRED = datetime.datetime(2019, 3, 4, 13, 47, 21, tzinfo=datetime.UTC)


@pytest.fixture
def exams(db) -> list[Exam]:
    return [
        factories.make_exam(UID, acquired_at=ACQUIRED),
        factories.make_exam("HOSP-2019-000482", acquired_at=ACQUIRED),
    ]


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}"
    )
    return client


def leaks(payload: object) -> list[str]:
    """Whatever of the source ids and the time of day is in an answer."""
    text = json.dumps(payload)
    return [s for s in (UID, "HOSP-2019-000482", "13:47", "134721") if s in text]


def test_a_claim_names_the_exam_by_display_key_and_day_only(cast, exams):
    campaign = factories.make_campaign(cast, exams)
    claim = client_for(cast.reader1).post(f"/api/campaigns/{campaign.pk}/next/")
    assert claim.status_code == 200, claim.content
    exam = claim.json()["exam"]
    assert exam["display_key"] == exams[0].display_key == f"#{exams[0].pk}"
    assert exam["exam_id"] is None and exam["acquired_at"] is None
    assert exam["acquired_on"] == "2019-03-04"
    assert leaks(claim.json()) == []


def test_a_manager_reading_is_shown_what_readers_are_shown(cast, exams):
    campaign = factories.make_campaign(cast, exams)
    campaign.readers.add(cast.manager)
    claim = client_for(cast.manager).post(f"/api/campaigns/{campaign.pk}/next/")
    assert claim.status_code == 200, claim.content
    assert leaks(claim.json()) == []


def test_a_campaign_can_hide_the_day(cast, exams):
    campaign = factories.make_campaign(cast, exams, show_acquisition_date=False)
    reader = client_for(cast.reader1)
    claim = reader.post(f"/api/campaigns/{campaign.pk}/next/").json()
    assert claim["exam"]["acquired_on"] is None
    # Nor does the exam list or the exam itself give it away.
    listed = reader.get("/api/exams/").json()["results"]
    assert [e["acquired_on"] for e in listed] == [None]
    one = reader.get(f"/api/exams/{exams[0].pk}/").json()
    assert one["acquired_on"] is None and leaks(one) == []


def test_the_exam_api_gives_readers_the_day_and_managers_everything(cast, exams):
    campaign = factories.make_campaign(cast, exams)
    reader = client_for(cast.reader1)
    reader.post(f"/api/campaigns/{campaign.pk}/next/")
    seen = reader.get(f"/api/exams/{exams[0].pk}/").json()
    assert seen["acquired_on"] == "2019-03-04" and leaks(seen) == []
    assert leaks(reader.get("/api/exams/").json()) == []

    full = client_for(cast.manager).get(f"/api/exams/{exams[0].pk}/").json()
    assert full["exam_id"] == UID
    assert full["acquired_at"].startswith("2019-03-04T13:47:21")
    assert full["display_key"] == exams[0].display_key


def test_readers_cannot_look_an_exam_up_by_a_guessed_source_id(cast, exams):
    campaign = factories.make_campaign(cast, exams)
    reader = client_for(cast.reader1)
    reader.post(f"/api/campaigns/{campaign.pk}/next/")
    for guess in (UID, "no-such-id"):
        answer = reader.get("/api/exams/", {"exam_id": guess})
        # The same refusal whether the guess is right or not: no oracle.
        assert answer.status_code == 400
        assert answer.json() == {
            "exam_id": ["Only managers look exams up by their source id."]
        }
    managed = client_for(cast.manager).get("/api/exams/", {"exam_id": UID}).json()
    assert [e["id"] for e in managed["results"]] == [exams[0].pk]


def _disagree(cast, campaign: Campaign) -> None:
    for reader, labels in ((cast.reader1, ["AF"]), (cast.reader2, ["SR"])):
        client = client_for(reader)
        for _ in range(2):
            claim = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
            answer = client.post(
                f"/api/assignments/{claim['assignment']}/decision/",
                {"labels": labels},
                format="json",
            )
            assert answer.status_code == 201, answer.content


@pytest.mark.parametrize("shown", [True, False])
def test_the_adjudication_queue_names_exams_by_display_key(cast, exams, shown):
    campaign = factories.make_campaign(cast, exams, show_acquisition_date=shown)
    _disagree(cast, campaign)
    for user in (cast.adjudicator, cast.manager):
        queue = client_for(user).get(f"/api/campaigns/{campaign.pk}/adjudication/")
        assert queue.status_code == 200, queue.content
        items = queue.json()["results"]
        assert [i["display_key"] for i in items] == [e.display_key for e in exams]
        assert [i["acquired_on"] for i in items] == [
            "2019-03-04" if shown else None
        ] * 2
        assert all("exam_id" not in i for i in items)
        assert leaks(queue.json()) == []


def test_the_day_is_a_campaign_option_of_the_api_and_the_command(cast, exams):
    manager = client_for(cast.manager)
    made = manager.post(
        "/api/campaigns/",
        {
            "name": "Hidden days",
            "exams": [e.pk for e in exams],
            "readers": ["reader1"],
            "readers_per_exam": 1,
            "show_acquisition_date": False,
        },
        format="json",
    )
    assert made.status_code == 201, made.content
    assert made.json()["show_acquisition_date"] is False
    factories.command_campaign("Hidden by command", "--hide-acquisition-date")
    assert not Campaign.objects.get(name="Hidden by command").show_acquisition_date
    assert Campaign.objects.get(name="Hidden days").show_acquisition_date is False
