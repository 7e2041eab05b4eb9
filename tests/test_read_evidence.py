"""Measurements and evidence saved with a read: validation, edits, history, the
adjudication queue, the JSON Lines export and the import path."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.test import APIClient

from annotator import exports, services
from annotator.models import Assignment, Decision, LabelRevision
from tests import factories

SR_SPAN = {"code": "SR", "start": 1.2, "end": 2.0, "leads": ["V1", "II"]}
GOOD = {
    "labels": ["SR", "PVC"],
    "measurements": {"RR": 812.34, "QT": 380, "QTc": 421.7},
    "evidence": [SR_SPAN, {"code": "PVC", "start": 0, "end": 10, "leads": ["I"]}],
}


@pytest.fixture
def campaign(cast):
    """Two 10 s, 500 Hz exams with the standard twelve leads; readers 1 and 2."""
    return factories.make_campaign(cast, factories.make_exams(2))


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def claim(client, campaign) -> int:
    response = client.post(f"/api/campaigns/{campaign.pk}/next/")
    assert response.status_code == 200, response.content
    return response.json()["assignment"]


def submit(client, assignment: int, body: dict):
    return client.post(f"/api/assignments/{assignment}/decision/", body, format="json")


def test_a_read_keeps_its_measurements_and_evidence(campaign, cast):
    reader = api_for(cast.reader1)
    response = submit(reader, claim(reader, campaign), GOOD)
    assert response.status_code == 201, response.content
    body = response.json()
    # Rounded to 0.1 ms, in the names' order; leads in the exam's lead order.
    assert body["measurements"] == {"RR": 812.3, "QT": 380.0, "QTc": 421.7}
    assert body["evidence"] == [
        {"code": "SR", "start": 1.2, "end": 2.0, "leads": ["II", "V1"]},
        {"code": "PVC", "start": 0.0, "end": 10.0, "leads": ["I"]},
    ]
    assert (
        reader.get(f"/api/decisions/{body['id']}/").json()["evidence"]
        == (body["evidence"])
    )
    (revision,) = reader.get(f"/api/decisions/{body['id']}/history/").json()
    assert revision["measurements"] == body["measurements"]
    assert revision["evidence"] == body["evidence"]


def test_a_read_without_them_stores_none(campaign, cast):
    reader = api_for(cast.reader1)
    body = submit(reader, claim(reader, campaign), {"labels": ["SR"]}).json()
    assert (body["measurements"], body["evidence"]) == ({}, [])


def test_times_are_kept_to_the_millisecond(campaign, cast):
    reader = api_for(cast.reader1)
    span = {"code": "SR", "start": 0.12345, "end": 9.99961, "leads": ["aVF"]}
    body = submit(
        reader, claim(reader, campaign), {"labels": ["SR"], "evidence": [span]}
    ).json()
    assert body["evidence"][0] == {
        "code": "SR",
        "start": 0.123,
        "end": 10.0,
        "leads": ["aVF"],
    }


def span(**changes):
    return {**SR_SPAN, **changes}


BAD = [
    # measurements
    ({"measurements": ["RR", 800]}, "measurements", "measurements must be an object"),
    ({"measurements": {"HR": 72}}, "measurements", "measurements: HR not measured"),
    ({"measurements": {"QRS": 0}}, "measurements", "measurements.QRS must be a number"),
    ({"measurements": {"QRS": -4}}, "measurements", "between 0 and 5000"),
    ({"measurements": {"QT": 5000.5}}, "measurements", "measurements.QT must"),
    ({"measurements": {"PR": "160"}}, "measurements", "not '160'"),
    ({"measurements": {"PR": True}}, "measurements", "measurements.PR must"),
    ({"measurements": {"RR": None}}, "measurements", "not null"),
    ({"measurements": {"RR": [800]}}, "measurements", "measurements.RR must"),
    # evidence
    ({"evidence": {"code": "SR"}}, "evidence", "evidence must be a list"),
    ({"evidence": [span()] * 201}, "evidence", "at most 200"),
    ({"evidence": ["SR"]}, "evidence", "evidence[0] must be an object"),
    ({"evidence": [{"code": "SR", "start": 1, "end": 2}]}, "evidence", "lacks leads"),
    ({"evidence": [span(lead="II")]}, "evidence", "unknown keys lead"),
    (
        {"evidence": [span(), span(), span(code="AF")]},
        "evidence",
        "evidence[2].code 'AF' is not among the read's labels",
    ),
    ({"evidence": [span(code=7)]}, "evidence", "evidence[0].code 7 is not among"),
    ({"evidence": [span(start="1.2")]}, "evidence", "evidence[0].start must be"),
    ({"evidence": [span(end=False)]}, "evidence", "evidence[0].end must be a number"),
    ({"evidence": [span(start=-0.5)]}, "evidence", "within the record (0–10 s)"),
    ({"evidence": [span(start=2, end=2)]}, "evidence", "must start before it ends"),
    ({"evidence": [span(start=3, end=2)]}, "evidence", "evidence[0]: the span 3–2"),
    ({"evidence": [span(end=10.01)]}, "evidence", "within the record"),
    ({"evidence": [span(start=1.0001, end=1.0004)]}, "evidence", "before it ends"),
    ({"evidence": [span(leads=[])]}, "evidence", "leads must be a non-empty list"),
    ({"evidence": [span(leads="II")]}, "evidence", "leads must be a non-empty list"),
    (
        {"evidence": [span(leads=["II", "V7"])]},
        "evidence",
        "evidence[0].leads: 'V7' is not a lead of this exam (I, II, III, aVR",
    ),
    ({"evidence": [span(leads=[2])]}, "evidence", "2 is not a lead of this exam"),
    ({"evidence": [span(leads=["II", "II"])]}, "evidence", "names a lead twice"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_a_bad_measurement_or_span_is_refused_naming_it(
    campaign, cast, change, field, message
):
    reader = api_for(cast.reader1)
    assignment = claim(reader, campaign)
    response = submit(reader, assignment, {"labels": ["SR"], **change})
    assert response.status_code == 400, response.content
    answer = response.json()
    assert message in answer["detail"], answer
    assert answer[field] == [answer["detail"]]
    assert not Decision.objects.exists()
    assert not LabelRevision.objects.exists()
    assert Assignment.objects.get(pk=assignment).status == "claimed"


@pytest.mark.parametrize(("change", "field", "message"), BAD[:3] + BAD[-3:])
def test_a_bad_edit_is_refused_and_changes_nothing(
    campaign, cast, change, field, message
):
    reader = api_for(cast.reader1)
    decision = submit(reader, claim(reader, campaign), GOOD).json()
    response = reader.put(
        f"/api/decisions/{decision['id']}/",
        {"labels": ["SR"], **change},
        format="json",
        HTTP_IF_MATCH='"1"',
    )
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    stored = Decision.objects.get()
    assert (stored.version, stored.evidence) == (1, decision["evidence"])
    assert LabelRevision.objects.count() == 1


def test_an_edit_replaces_them_and_the_history_keeps_both(campaign, cast):
    reader = api_for(cast.reader1)
    first = submit(reader, claim(reader, campaign), GOOD).json()
    url = f"/api/decisions/{first['id']}/"
    edit = {
        "labels": ["SR"],
        "measurements": {"PR": 164},
        "evidence": [span(start=4, end=4.5, leads=["V6"])],
    }
    stale = reader.put(url, edit, format="json", HTTP_IF_MATCH='"2"')
    assert stale.status_code == 412
    edited = reader.put(url, edit, format="json", HTTP_IF_MATCH='"1"')
    assert edited.status_code == 200, edited.content
    assert edited.json()["measurements"] == {"PR": 164.0}
    assert edited.json()["evidence"] == [
        {"code": "SR", "start": 4.0, "end": 4.5, "leads": ["V6"]}
    ]
    history = reader.get(f"{url}history/").json()
    assert [(h["version"], h["measurements"], h["evidence"]) for h in history] == [
        (1, first["measurements"], first["evidence"]),
        (2, {"PR": 164.0}, edited.json()["evidence"]),
    ]
    # An edit without them clears them (the body is the whole read).
    cleared = reader.put(url, {"labels": ["SR"]}, format="json", HTTP_IF_MATCH='"2"')
    assert (cleared.json()["measurements"], cleared.json()["evidence"]) == ({}, [])


def read_both(campaign, cast) -> int:
    """Reader 1 and 2 disagree on the first exam; returns its id."""
    exam = campaign.exam_links.order_by("exam_id").first().exam_id
    for user, body in (
        (cast.reader1, GOOD),
        (
            cast.reader2,
            {
                "labels": ["AF"],
                "measurements": {"QRS": 96},
                "evidence": [
                    {"code": "AF", "start": 0.5, "end": 3, "leads": ["II", "V1"]}
                ],
            },
        ),
    ):
        client = api_for(user)
        assignment = claim(client, campaign)
        assert Assignment.objects.get(pk=assignment).exam_id == exam
        assert submit(client, assignment, body).status_code == 201
    return exam


def test_the_adjudicator_sees_each_readers_measurements_and_evidence(campaign, cast):
    read_both(campaign, cast)
    queue = api_for(cast.adjudicator).get(f"/api/campaigns/{campaign.pk}/adjudication/")
    (item,) = queue.json()["results"]
    assert [
        (d["reader"], d["measurements"], [e["code"] for e in d["evidence"]])
        for d in item["decisions"]
    ] == [
        ("reader1", {"RR": 812.3, "QT": 380.0, "QTc": 421.7}, ["SR", "PVC"]),
        ("reader2", {"QRS": 96.0}, ["AF"]),
    ]
    assert item["decisions"][1]["evidence"][0]["leads"] == ["II", "V1"]


def jsonl(campaign) -> bytes:
    out = io.BytesIO()
    exports.write_export(campaign, "jsonl", out, include_unresolved=True)
    return out.getvalue()


def test_the_jsonl_export_carries_them_in_seconds_and_samples(campaign, cast):
    exam = read_both(campaign, cast)
    exam_row = campaign.exams.get(pk=exam)
    exam_row.sampling_rate = 400.0  # samples are counted at the exam's own rate
    exam_row.save(update_fields=["sampling_rate"])
    data = jsonl(campaign)
    assert data == jsonl(campaign)  # the same bytes twice
    records = [json.loads(line) for line in data.decode().splitlines()]
    (record,) = [r for r in records if r["exam_id"] == exam_row.exam_id]
    first, second = record["readers"]
    assert first["measurements"] == {"RR": 812.3, "QT": 380.0, "QTc": 421.7}
    assert first["evidence"][0] == {
        "code": "SR",
        "start": 1.2,
        "end": 2.0,
        "start_sample": 480,
        "end_sample": 800,
        "leads": ["II", "V1"],
    }
    assert first["evidence"][1]["end_sample"] == 4000
    assert second["evidence"] == [
        {
            "code": "AF",
            "start": 0.5,
            "end": 3.0,
            "start_sample": 200,
            "end_sample": 1200,
            "leads": ["II", "V1"],
        }
    ]
    other = next(r for r in records if r["exam_id"] != exam_row.exam_id)
    assert other["readers"] == []


def test_the_csv_export_is_unchanged_by_them(campaign, cast):
    read_both(campaign, cast)
    out = io.BytesIO()
    exports.write_export(campaign, "csv", out, include_unresolved=True)
    header = out.getvalue().decode().splitlines()[0].split(",")
    assert header[:2] == ["exam_id", "patient_pseudonym"]
    assert header[-1] == "consensus_method"
    assert not {"measurements", "evidence"} & set(header)


def test_imported_reads_need_neither_and_may_carry_both(campaign, cast):
    first, second = campaign.exams.order_by("pk")
    plain = services.record_reading(
        campaign=campaign, exam=first, reader=cast.reader1, labels=["SR"]
    )
    assert (plain.measurements, plain.evidence) == ({}, [])
    full = services.record_reading(
        campaign=campaign,
        exam=second,
        reader=cast.reader1,
        labels=["SR"],
        measurements={"QT": 401.26},
        evidence=[span()],
    )
    assert full.measurements == {"QT": 401.3}
    assert full.revisions.get().evidence == [
        {"code": "SR", "start": 1.2, "end": 2.0, "leads": ["II", "V1"]}
    ]
    with pytest.raises(services.InvalidLabels, match=r"evidence\[0\]\.leads: 'X'"):
        services.record_reading(
            campaign=campaign,
            exam=first,
            reader=cast.reader2,
            labels=["SR"],
            evidence=[span(leads=["X"])],
        )
    assert Decision.objects.count() == 2
