"""One set of campaign rules, enforced by the services for every entry point."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from annotator import services
from annotator.models import Campaign, CampaignExam, TaxonomyVersion
from tests import factories


@pytest.fixture
def campaign(cast):
    return factories.make_campaign(cast, factories.make_exams(4))


@pytest.fixture
def other_taxonomy(taxonomy):
    other = TaxonomyVersion.objects.create(name="Other", version="1")
    for cls in taxonomy.classes.all()[:5]:
        other.classes.create(
            code=cls.code, name=cls.name, group=cls.group, display_order=1
        )
    return other


def snapshot(campaign: Campaign) -> tuple:
    campaign.refresh_from_db()
    return (
        campaign.taxonomy_id,
        campaign.readers_per_exam,
        sorted(campaign.readers.values_list("username", flat=True)),
        sorted(campaign.adjudicators.values_list("username", flat=True)),
    )


# --- The services ---------------------------------------------------------------


def test_an_adjudicator_cannot_become_a_reader_of_the_same_campaign(campaign, cast):
    before = snapshot(campaign)
    with pytest.raises(services.CampaignRefused, match="adjudicator cannot also"):
        services.add_readers(campaign=campaign, readers=[cast.adjudicator])
    assert snapshot(campaign) == before


def test_the_taxonomy_cannot_change_once_exams_are_claimed(
    campaign, cast, other_taxonomy
):
    services.change_campaign(campaign=campaign, description="still free")
    services.claim_next(campaign=campaign, reader=cast.reader1)
    before = snapshot(campaign)
    with pytest.raises(services.CampaignRefused, match="taxonomy cannot change"):
        services.change_campaign(campaign=campaign, taxonomy=other_taxonomy)
    assert snapshot(campaign) == before


def test_readers_per_exam_cannot_drop_below_what_is_claimed(cast):
    campaign = factories.make_campaign(
        cast, factories.make_exams(2), readers_per_exam=2
    )
    services.claim_next(campaign=campaign, reader=cast.reader1)
    claimed = services.claim_next(campaign=campaign, reader=cast.reader2)
    assert claimed.exam_id == campaign.exams.first().pk  # both on the first exam
    with pytest.raises(services.CampaignRefused, match="cannot go below 2"):
        services.change_campaign(campaign=campaign, readers_per_exam=1)
    assert snapshot(campaign)[1] == 2


def test_readers_per_exam_is_fixed_once_reads_exist(campaign, cast):
    claim = services.claim_next(campaign=campaign, reader=cast.reader1)
    services.submit_decision(assignment=claim, reader=cast.reader1, labels=["NORM"])
    services.add_readers(campaign=campaign, readers=[cast.outsider])
    with pytest.raises(services.CampaignRefused, match="after reads were submitted"):
        services.change_campaign(campaign=campaign, readers_per_exam=3)


def test_raising_readers_per_exam_before_reads_reopens_full_exams(cast):
    campaign = factories.make_campaign(
        cast, factories.make_exams(1), readers_per_exam=1
    )
    services.claim_next(campaign=campaign, reader=cast.reader1)
    assert not CampaignExam.objects.get(campaign=campaign).is_open
    campaign = services.change_campaign(campaign=campaign, readers_per_exam=2)
    assert CampaignExam.objects.get(campaign=campaign).is_open
    assert services.claim_next(campaign=campaign, reader=cast.reader2) is not None


def test_a_removed_reader_loses_their_claims_but_keeps_their_reads(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(3))
    services.add_readers(campaign=campaign, readers=[cast.outsider])
    first = services.claim_next(campaign=campaign, reader=cast.outsider)
    services.submit_decision(assignment=first, reader=cast.outsider, labels=["AF"])
    held = services.claim_next(campaign=campaign, reader=cast.outsider)
    services.remove_readers(campaign=campaign, readers=[cast.outsider])
    held.refresh_from_db()
    assert held.status == "expired"
    assert CampaignExam.objects.get(campaign=campaign, exam=held.exam).n_assigned == 0
    assert campaign.assignments.filter(status="submitted").count() == 1
    with pytest.raises(services.NotFound):
        services.claim_next(campaign=campaign, reader=cast.outsider)


def test_unknown_adjudication_codes_are_refused_naming_them(cast, taxonomy):
    with pytest.raises(services.CampaignRefused, match="NOPE") as refusal:
        factories.make_campaign(
            cast,
            factories.make_exams(1),
            adjudication_policy="classes",
            adjudication_codes=["AF", "NOPE"],
        )
    assert refusal.value.field == "adjudication_codes"
    assert not Campaign.objects.exists()


def test_the_api_shows_a_refusal_next_to_its_field(cast, taxonomy, client):
    factories.make_exams(2)
    client.force_login(cast.manager)
    response = client.post(
        "/api/campaigns/",
        {
            "name": "X",
            "dataset": "test",
            "readers": ["reader1", "reader2"],
            "adjudicators": ["reader1"],
        },
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "adjudicator cannot also" in response.json()["adjudicators"][0]
    assert not Campaign.objects.exists()


def test_the_command_refuses_with_the_same_rule(cast, taxonomy):
    factories.make_exams(2)
    with pytest.raises(CommandError, match="adjudicator cannot also"):
        call_command(
            "create_campaign",
            "X",
            "--dataset",
            "test",
            "--readers",
            "reader1,reader2",
            "--adjudicators",
            "reader2",
        )
    assert not Campaign.objects.exists()


# --- The admin ------------------------------------------------------------------


@pytest.fixture
def staff(cast, client):
    cast.manager.is_staff = True
    cast.manager.save(update_fields=["is_staff"])
    client.force_login(cast.manager)
    return client


def admin_form(campaign: Campaign, **changes) -> dict:
    data = {
        "name": campaign.name,
        "description": campaign.description,
        "taxonomy": campaign.taxonomy_id,
        "readers": list(campaign.readers.values_list("pk", flat=True)),
        "adjudicators": list(campaign.adjudicators.values_list("pk", flat=True)),
        "readers_per_exam": campaign.readers_per_exam,
        "adjudication_policy": campaign.adjudication_policy,
        "adjudication_codes": json.dumps(campaign.adjudication_codes),
        "show_machine_measurements": campaign.show_machine_measurements or None,
        "display_filters": json.dumps(campaign.display_filters),
        "lease_minutes": campaign.lease_minutes,
        "min_read_ms": campaign.min_read_ms,
        "calibration_every": campaign.calibration_every,
        "reread_every": campaign.reread_every,
        "status": campaign.status,
        # A select always sends its value, as a browser submits the form.
        "reference_source": campaign.reference_source,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def change_url(campaign: Campaign) -> str:
    return f"/admin/annotator/campaign/{campaign.pk}/change/"


def test_admin_refuses_an_adjudicator_as_reader(staff, campaign, cast):
    before = snapshot(campaign)
    readers = [cast.reader1.pk, cast.reader2.pk, cast.adjudicator.pk]
    response = staff.post(change_url(campaign), admin_form(campaign, readers=readers))
    assert response.status_code == 200  # the form again, with the message
    assert "adjudicator cannot also read" in response.content.decode()
    assert snapshot(campaign) == before


def test_admin_changes_the_minimum_reading_time_within_its_range(staff, campaign):
    refused = staff.post(
        change_url(campaign), admin_form(campaign, min_read_ms=600_001)
    )
    assert refused.status_code == 200
    assert "minimum reading time is 0 to 600000 ms" in refused.content.decode()
    campaign.refresh_from_db()
    assert campaign.min_read_ms == 2000
    changed = staff.post(change_url(campaign), admin_form(campaign, min_read_ms=1500))
    assert changed.status_code == 302
    campaign.refresh_from_db()
    assert campaign.min_read_ms == 1500


def test_admin_refuses_a_new_taxonomy_after_reads(
    staff, campaign, cast, other_taxonomy
):
    claim = services.claim_next(campaign=campaign, reader=cast.reader1)
    services.submit_decision(assignment=claim, reader=cast.reader1, labels=["NORM"])
    before = snapshot(campaign)
    response = staff.post(
        change_url(campaign), admin_form(campaign, taxonomy=other_taxonomy.pk)
    )
    assert response.status_code == 200
    assert "taxonomy cannot change" in response.content.decode()
    assert snapshot(campaign) == before


def test_admin_refuses_fewer_readers_per_exam_than_claimed(staff, cast):
    campaign = factories.make_campaign(cast, factories.make_exams(1))
    services.claim_next(campaign=campaign, reader=cast.reader1)
    services.claim_next(campaign=campaign, reader=cast.reader2)
    response = staff.post(
        change_url(campaign), admin_form(campaign, readers_per_exam=1)
    )
    assert response.status_code == 200
    assert "cannot go below 2" in response.content.decode()
    assert snapshot(campaign)[1] == 2


def test_admin_changes_and_creates_campaigns_through_the_services(
    staff, campaign, cast
):
    readers = [cast.reader1.pk, cast.outsider.pk]
    response = staff.post(change_url(campaign), admin_form(campaign, readers=readers))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert snapshot(campaign)[2] == ["outsider", "reader1"]
    factories.make_exams(3, dataset="more")
    response = staff.post(
        "/admin/annotator/campaign/add/",
        admin_form(campaign, name="Second", add_datasets=["more"]),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    second = Campaign.objects.get(name="Second")
    assert second.n_exams == 3 and second.n_pending == 3
    assert second.created_by == cast.manager


def test_admin_keeps_display_filters_normalised_and_refuses_bad_ones(staff, campaign):
    response = staff.post(
        change_url(campaign),
        admin_form(campaign, display_filters='{"highpass": "0.5", "notch": "50"}'),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    campaign.refresh_from_db()
    assert campaign.display_filters == {"highpass": 0.5, "notch": 50}
    response = staff.post(
        change_url(campaign), admin_form(campaign, display_filters='{"highpass": 5}')
    )
    assert response.status_code == 200
    assert "Display filter highpass refused" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.display_filters == {"highpass": 0.5, "notch": 50}


def test_admin_shows_exams_read_only(staff, campaign):
    exam = campaign.exams.first()
    assert staff.get("/admin/annotator/exam/add/").status_code == 403
    assert staff.get("/admin/annotator/exam/").status_code == 200
    page = staff.get(f"/admin/annotator/exam/{exam.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


@pytest.fixture
def patients(db):
    from annotator.models import PatientLink

    return [
        PatientLink.objects.create(
            dataset="ward", source_patient_id=f"MRN-{i:05d}", pseudonym=f"p{i:031d}"
        )
        for i in range(3)
    ]


def test_the_admin_finds_a_patient_without_the_id_in_any_url(staff, patients):
    """A GET search put the patient id in the access log (?q=MRN-…)."""
    changelist = "/admin/annotator/patientlink/"
    listed = staff.get(changelist, {"q": "MRN-00001"})
    assert listed.status_code == 200
    assert listed.context["cl"].result_count == 0  # source ids are not searched
    assert b"Find by source patient id" in staff.get(changelist).content
    found = staff.post(f"{changelist}find/", {"source_patient_id": "MRN-00001"})
    assert found.status_code == 302
    assert found["Location"] == f"{changelist}{patients[1].pk}/change/"
    assert "MRN" not in found["Location"]
    missing = staff.post(f"{changelist}find/", {"source_patient_id": "MRN-99999"})
    assert missing.status_code == 200
    assert b"No patient link with that id." in missing.content
    assert b"MRN-99999" in missing.content  # kept in the form, in the page only


def test_only_managers_reach_the_patient_finder(client, cast, patients):
    cast.reader1.is_staff = True
    cast.reader1.save(update_fields=["is_staff"])
    client.force_login(cast.reader1)
    response = client.post(
        "/admin/annotator/patientlink/find/", {"source_patient_id": "MRN-00001"}
    )
    assert response.status_code == 403
