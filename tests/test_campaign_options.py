"""Two campaign options: the machine's measurements and default display filters.

Readers see the machine's measurements (HR, intervals, axes) unless the campaign
hides them, whatever it says of the machine's statements; adjudicators and
managers always see them. A campaign's default display filters are checked by
the signal endpoint's rule (``DisplayFilters``), kept normalised, and handed to
the reading and adjudication pages.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator import services
from annotator.models import Campaign, Exam
from tests import factories

MEASURED = {"hr_bpm": 72.0, "pr_ms": 164.0, "qrs_ms": 92.0, "qtc_ms": 410.0}
STATED = ["Sinus rhythm", "Normal ECG"]


@pytest.fixture
def exams(db) -> list[Exam]:
    return [
        factories.make_exam(f"M{i}", machine_statements=STATED, measurements=MEASURED)
        for i in range(2)
    ]


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}"
    )
    return client


def claim(user, campaign: Campaign) -> dict:
    answer = client_for(user).post(f"/api/campaigns/{campaign.pk}/next/")
    assert answer.status_code == 200, answer.content
    return answer.json()


def create(manager, **fields) -> object:
    """``POST /api/campaigns/`` over the ``test`` dataset, one reader per exam."""
    body = {"name": "Filtered", "dataset": "test", "readers": ["reader1"]}
    body["readers_per_exam"] = 1
    return client_for(manager).post(
        "/api/campaigns/", {**body, **fields}, format="json"
    )


# --- The machine's measurements --------------------------------------------------


def test_a_reader_sees_the_measurements_by_default_while_statements_are_hidden(
    cast, exams
):
    campaign = factories.make_campaign(cast, exams)
    assert campaign.show_machine_measurements and not campaign.show_machine_statements
    exam = claim(cast.reader1, campaign)["exam"]
    assert exam["measurements"] == MEASURED
    assert exam["machine_statements"] is None
    reader = client_for(cast.reader1)
    one = reader.get(f"/api/exams/{exam['id']}/").json()
    assert one["measurements"] == MEASURED and one["machine_statements"] is None
    listed = reader.get("/api/exams/").json()["results"]
    assert [e["measurements"] for e in listed] == [MEASURED]


def test_a_campaign_that_hides_measurements_hides_them_from_its_readers(cast, exams):
    campaign = factories.make_campaign(
        cast, exams, show_machine_measurements=False, show_machine_statements=True
    )
    exam = claim(cast.reader1, campaign)["exam"]
    assert exam["measurements"] is None
    assert exam["machine_statements"] == STATED  # the other option is its own
    reader = client_for(cast.reader1)
    assert reader.get(f"/api/exams/{exam['id']}/").json()["measurements"] is None
    listed = reader.get("/api/exams/").json()["results"]
    assert [e["measurements"] for e in listed] == [None]


def test_adjudicators_and_managers_still_see_hidden_measurements(cast, exams):
    campaign = factories.make_campaign(cast, exams, show_machine_measurements=False)
    for reader in (cast.reader1, cast.reader2):
        for _ in exams:
            held = claim(reader, campaign)
            answer = client_for(reader).post(
                f"/api/assignments/{held['assignment']}/decision/",
                {"labels": ["AF"] if reader == cast.reader1 else ["SR"]},
                format="json",
            )
            assert answer.status_code == 201, answer.content
    for user in (cast.adjudicator, cast.manager):
        seen = client_for(user).get(f"/api/exams/{exams[0].pk}/").json()
        assert seen["measurements"] == MEASURED, user


def test_the_rule_has_one_home_on_the_campaign(cast, exams, django_assert_num_queries):
    campaign = factories.make_campaign(cast, exams, show_machine_measurements=False)
    assert not campaign.shows_machine_measurements_to(cast.reader1)
    assert campaign.shows_machine_measurements_to(cast.adjudicator)
    assert campaign.shows_machine_measurements_to(cast.manager)
    # A read is blinded as the campaign says, whoever makes it.
    assert not campaign.shows_machine_measurements_to(cast.manager, reading=True)
    shown = factories.make_campaign(cast, exams, name="Shown")
    assert shown.shows_machine_measurements_to(cast.reader1, reading=True)

    with django_assert_num_queries(1):
        view = Campaign.objects.exam_list_view(cast.reader1)
    assert view["show_machine_measurements"] is False
    assert view["show_machine_statements"] is False
    assert Campaign.objects.exam_list_view(cast.adjudicator)[
        "show_machine_measurements"
    ]
    assert Campaign.objects.exam_list_view(cast.manager)["show_machine_measurements"]


def test_hidden_measurements_are_an_option_of_the_api_and_the_command(cast, exams):
    made = create(cast.manager, show_machine_measurements=False)
    assert made.status_code == 201, made.content
    assert made.json()["show_machine_measurements"] is False
    assert create(cast.manager, name="Default").json()["show_machine_measurements"]
    factories.command_campaign("Unmeasured", "--hide-machine-measurements")
    assert not Campaign.objects.get(name="Unmeasured").show_machine_measurements


# --- Default display filters --------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (
            {"highpass": "0.5", "lowpass": 40, "notch": "60"},
            {"highpass": 0.5, "lowpass": 40.0, "notch": 60},
        ),
        ({"highpass": None, "lowpass": "", "notch": 50}, {"notch": 50}),
        ({}, {}),
    ],
)
def test_display_filters_are_kept_normalised(cast, exams, given, kept):
    made = create(cast.manager, display_filters=given)
    assert made.status_code == 201, made.content
    assert made.json()["display_filters"] == kept
    campaign = Campaign.objects.get(name="Filtered")
    assert campaign.display_filters == kept
    detail = client_for(cast.reader1).get(f"/api/campaigns/{campaign.pk}/").json()
    assert detail["display_filters"] == kept


def test_a_campaign_has_no_display_filters_by_default(cast, exams):
    campaign = factories.make_campaign(cast, exams)
    assert campaign.display_filters == {}
    assert claim(cast.reader1, campaign)["display_filters"] == {}


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"highpass": 5}, "highpass"),
        ({"lowpass": 5000}, "lowpass"),
        ({"notch": 55}, "notch"),
        ({"highpass": 0.5, "bandpass": 10}, "bandpass"),
        ({"highpass": True}, "highpass"),
    ],
)
def test_bad_display_filters_are_refused_naming_the_filter(cast, exams, given, named):
    made = create(cast.manager, display_filters=given)
    assert made.status_code == 400, made.content
    [message] = made.json()["display_filters"]
    assert named in message
    assert not Campaign.objects.exists()

    campaign = Campaign(name="X", taxonomy=factories.default_taxonomy())
    campaign.display_filters = given
    with pytest.raises(ValidationError) as refusal:
        campaign.clean()
    assert named in " ".join(refusal.value.message_dict["display_filters"])


@pytest.mark.parametrize("given", [["highpass", 0.5], "highpass=0.5", 60])
def test_display_filters_that_are_not_an_object_are_refused(cast, exams, given):
    made = create(cast.manager, display_filters=given)
    assert made.status_code == 400, made.content
    assert "display_filters" in made.json()
    assert not Campaign.objects.exists()
    with pytest.raises(ValidationError) as refusal:
        Campaign.checked_display_filters(given)
    assert "object" in refusal.value.messages[0]


def test_the_services_refuse_bad_display_filters_beside_their_field(cast, exams):
    with pytest.raises(services.CampaignRefused, match="highpass") as refusal:
        factories.make_campaign(cast, exams, display_filters={"highpass": 5})
    assert refusal.value.field == "display_filters"
    assert not Campaign.objects.exists()
    campaign = factories.make_campaign(cast, exams)
    with pytest.raises(services.CampaignRefused, match="notch"):
        services.change_campaign(campaign=campaign, display_filters={"notch": 55})
    changed = services.change_campaign(
        campaign=campaign, display_filters={"lowpass": "40"}
    )
    assert changed.display_filters == {"lowpass": 40.0}
    campaign.refresh_from_db()
    assert campaign.display_filters == {"lowpass": 40.0}


def test_the_reading_and_adjudication_pages_get_the_display_filters(cast, exams):
    filters = {"highpass": 0.5, "lowpass": 40.0, "notch": 60}
    campaign = factories.make_campaign(cast, exams, display_filters=filters)
    held = claim(cast.reader1, campaign)
    assert set(held) == {"assignment", "exam", "lease_expires_at", "display_filters"}
    assert held["display_filters"] == filters
    queue = client_for(cast.adjudicator).get(
        f"/api/campaigns/{campaign.pk}/adjudication/"
    )
    assert queue.status_code == 200, queue.content
    assert queue.json()["display_filters"] == filters
    detail = client_for(cast.adjudicator).get(f"/api/campaigns/{campaign.pk}/")
    assert detail.json()["display_filters"] == filters


def test_the_command_takes_display_filters(cast, exams):
    factories.command_campaign(
        "Filtered by command", "--filters", "highpass=0.5, lowpass=40,notch=60"
    )
    made = Campaign.objects.get(name="Filtered by command")
    assert made.display_filters == {"highpass": 0.5, "lowpass": 40.0, "notch": 60}


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ("highpass=5", "highpass"),
        ("notch=55", "notch"),
        ("bandpass=10", "bandpass"),
        ("highpass", "name=value"),
        ("highpass=0.5,highpass=1", "each name once"),
    ],
)
def test_the_command_refuses_bad_display_filters(cast, exams, given, named):
    with pytest.raises(CommandError, match=named):
        factories.command_campaign("Refused", "--filters", given)
    assert not Campaign.objects.exists()
