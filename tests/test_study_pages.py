"""Setting a study up from the browser: the new-campaign page and its sample."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from annotator import sampling
from annotator.models import Campaign, Exam
from tests import factories

URL = "/campaigns/new/"


@pytest.fixture
def exams(db):
    return factories.make_exams(30, dataset="code-15") + factories.make_exams(
        10, dataset="ptb-xl"
    )


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(cast, **changes) -> dict:
    taxonomy = factories.default_taxonomy()
    data = {
        "name": "Sampled study",
        "description": "",
        "taxonomy": taxonomy.pk,
        "source": "sample",
        "datasets": ["code-15", "ptb-xl"],
        "sample_size": 20,
        "sample_seed": 7,
        "readers": [cast.reader1.pk, cast.reader2.pk],
        "adjudicators": [cast.adjudicator.pk],
        "readers_per_exam": 2,
        "open_now": "on",
        "show_machine_measurements": "on",
        "show_acquisition_date": "on",
        "adjudication_policy": "any",
        "lease_minutes": 30,
        "min_read_ms": 2000,
        "calibration_every": 0,
        "reread_every": 0,
        "action": "create",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_only_managers_open_the_page(cast, exams):
    for user in (cast.reader1, cast.adjudicator):
        assert client_for(user).get(URL).status_code == 404
        assert client_for(user).post(URL, form_data(cast)).status_code == 404
    assert Client().get(URL).status_code == 302  # to the login page
    assert not Campaign.objects.exists()


def test_the_form_offers_the_people_of_each_role_and_never_a_machine(cast, exams):
    from annotator import services

    services.machine_account("model-x")
    page = client_for(cast.manager).get(URL)
    assert page.status_code == 200
    form = page.context["form"]
    readers = {u.username for u in form.fields["readers"].queryset}
    assert readers == {"reader1", "reader2", "outsider"}  # not the manager, no model
    assert {u.username for u in form.fields["adjudicators"].queryset} == {"adjudicator"}
    assert form["readers"].value() in (None, [])  # nobody ticked by default
    text = page.content.decode()
    assert "code-15 (30)" in text and "ptb-xl (10)" in text


def test_preview_counts_the_sample_by_dataset_and_creates_nothing(cast, exams):
    page = client_for(cast.manager).post(URL, form_data(cast, action="preview"))
    assert page.status_code == 200
    assert page.context["preview"] == {
        "n": 20,
        "by_dataset": {"code-15": 15, "ptb-xl": 5},
    }
    assert "20 exams chosen" in page.content.decode()
    assert not Campaign.objects.exists()


def test_create_makes_the_campaign_from_a_reproducible_stratified_sample(cast, exams):
    response = client_for(cast.manager).post(URL, form_data(cast))
    campaign = Campaign.objects.get(name="Sampled study")
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.pk}/"
    chosen = sorted(campaign.exams.values_list("pk", flat=True))
    assert len(chosen) == 20
    assert Exam.objects.filter(pk__in=chosen).dataset_sizes() == {
        "code-15": 15,
        "ptb-xl": 5,
    }
    # The same seed over the same exams, the same sample.
    again = Exam.objects.filter(dataset__in=["code-15", "ptb-xl"]).sample_ids(
        20, seed=7
    )
    assert again == chosen
    other = Exam.objects.filter(dataset__in=["code-15", "ptb-xl"]).sample_ids(
        20, seed=8
    )
    assert other != chosen
    assert sorted(campaign.readers.values_list("username", flat=True)) == [
        "reader1",
        "reader2",
    ]
    assert list(campaign.adjudicators.values_list("username", flat=True)) == [
        "adjudicator"
    ]
    assert campaign.created_by == cast.manager
    assert campaign.status == "open"


def test_a_campaign_can_start_as_a_draft(cast, exams):
    client_for(cast.manager).post(URL, form_data(cast, open_now=None))
    assert Campaign.objects.get().status == "draft"


def test_an_uploaded_id_list_is_checked_and_kept_for_the_preview(cast, exams):
    manager = client_for(cast.manager)
    listing = SimpleUploadedFile(
        "ids.csv", b"exam_id,dataset\nE00001,code-15\nE00002,ptb-xl\nNOPE,code-15\n"
    )
    page = manager.post(
        URL, {**form_data(cast, source="ids", action="preview"), "id_file": listing}
    )
    errors = page.context["form"].errors["id_text"]
    assert errors == ["Unknown exam id: NOPE."]
    # Refused, but the list stays in the text box to correct it.
    assert "E00002,ptb-xl" in page.context["form"]["id_text"].value()
    # Ids in two datasets need the dataset.
    page = manager.post(URL, form_data(cast, source="ids", id_text="E00001\nE00003"))
    assert "In several datasets" in page.context["form"].errors["id_text"][0]
    assert not Campaign.objects.exists()
    page = manager.post(
        URL, form_data(cast, source="ids", id_text="exam_id,dataset\nE00001,ptb-xl\n")
    )
    assert page.status_code == 302
    assert list(Campaign.objects.get().exams.values_list("dataset", "exam_id")) == [
        ("ptb-xl", "E00001")
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"adjudicators": None, "readers_per_exam": 3},
            "readers",
            "3 readers per exam",
        ),
        ({"sample_size": 41}, "sample_size", "hold 40 exams"),
        ({"datasets": []}, "datasets", "at least one dataset"),
        ({"calibration_every": 1}, "calibration_every", "at least 2"),
        ({"readers": []}, "readers", "required"),
        ({"name": ""}, "name", "required"),
    ],
)
def test_every_refusal_is_shown_next_to_its_field_and_nothing_is_made(
    cast, exams, changes, field, message
):
    page = client_for(cast.manager).post(URL, form_data(cast, **changes))
    assert page.status_code == 200
    errors = page.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Campaign.objects.exists()
    assert f'id="field-{field}"' in page.content.decode()


def test_an_adjudicator_who_also_reads_and_a_taken_name_are_refused_by_the_service(
    cast, exams
):
    from annotator.roles import Role

    cast.adjudicator.groups.add(
        type(cast.adjudicator.groups.first()).objects.get_or_create(name=Role.READER)[0]
    )
    manager = client_for(cast.manager)
    page = manager.post(
        URL, form_data(cast, readers=[cast.reader1.pk, cast.adjudicator.pk])
    )
    assert (
        "adjudicator cannot also read" in page.context["form"].errors["adjudicators"][0]
    )
    assert manager.post(URL, form_data(cast)).status_code == 302
    page = manager.post(URL, form_data(cast))
    assert "exists already" in page.context["form"].errors["name"][0]
    assert Campaign.objects.count() == 1


def test_classes_to_adjudicate_are_the_taxonomys(cast, exams):
    manager = client_for(cast.manager)
    page = manager.post(
        URL,
        form_data(cast, adjudication_policy="classes", adjudication_codes=["XYZ"]),
    )
    assert "adjudication_codes" in page.context["form"].errors
    response = manager.post(
        URL,
        form_data(cast, adjudication_policy="classes", adjudication_codes=["AF", "SR"]),
    )
    assert response.status_code == 302
    assert Campaign.objects.get().adjudication_codes == ["AF", "SR"]


# --- The sample -----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.text("abcdef", min_size=1, max_size=3),
        st.integers(0, 500),
        min_size=1,
        max_size=6,
    ),
    st.floats(0, 1),
)
def test_shares_add_up_and_stay_within_one_of_the_exact_share(sizes, fraction):
    total = sum(sizes.values())
    n = round(total * fraction)
    shares = sampling.allocate(sizes, n)
    assert sum(shares.values()) == n
    for name, size in sizes.items():
        exact = n * size / total if total else 0
        assert abs(shares[name] - exact) < 1
        assert 0 <= shares[name] <= size


def test_a_draw_depends_on_the_seed_and_the_stratum_not_the_order():
    ids = np.arange(100, 400)
    first = sampling.draw(ids, 25, seed=3, stratum="a")
    assert np.array_equal(first, sampling.draw(ids[::-1], 25, seed=3, stratum="a"))
    assert not np.array_equal(first, sampling.draw(ids, 25, seed=4, stratum="a"))
    assert not np.array_equal(first, sampling.draw(ids, 25, seed=3, stratum="b"))
    assert len(set(first.tolist())) == 25 and set(first.tolist()) <= set(ids.tolist())
    with pytest.raises(ValueError):
        sampling.allocate({"a": 3}, 4)
    with pytest.raises(ValueError):
        sampling.draw(ids, 301, seed=0, stratum="a")
