"""The exam browser for running a study: prefix search, counts, an exam's record."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator import services
from tests import factories


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}"
    )
    return client


def test_managers_search_by_id_prefix_and_count(cast):
    factories.make_exams(12)  # E00000 … E00011
    factories.make_exams(3, dataset="other")
    manager = client_for(cast.manager)
    found = manager.get("/api/exams/?exam_id_prefix=E0001&dataset=test").json()
    assert [e["exam_id"] for e in found["results"]] == ["E00010", "E00011"]
    assert manager.get("/api/exams/count/?exam_id_prefix=E0001").json() == {"count": 2}
    assert manager.get("/api/exams/count/?dataset=test").json() == {"count": 12}
    assert manager.get("/api/exams/count/").json() == {"count": 15}
    reader = client_for(cast.reader1)
    assert reader.get("/api/exams/?exam_id_prefix=E").status_code == 400
    assert reader.get("/api/exams/count/").status_code == 404
    long = "E" * 300
    assert manager.get(f"/api/exams/?exam_id_prefix={long}").status_code == 400


def test_an_exams_record_holds_its_reads_consensus_and_history_for_managers_only(cast):
    exams = factories.make_exams(1)
    campaign = factories.make_campaign(cast, exams, name="Record")
    for reader, labels in ((cast.reader1, ["SR"]), (cast.reader2, ["AF"])):
        claim = services.claim_next(campaign=campaign, reader=reader)
        services.submit_decision(assignment=claim, reader=reader, labels=labels)
    services.adjudicate(
        campaign=campaign, exam=exams[0], adjudicator=cast.adjudicator, labels=["AF"]
    )
    url = f"/api/exams/{exams[0].pk}/record/"
    body = client_for(cast.manager).get(url).json()
    (entry,) = body["campaigns"]
    assert entry["name"] == "Record" and entry["consensus_state"] == "adjudicated"
    assert [(r["reader"], r["labels"]) for r in entry["reads"]] == [
        ("reader1", ["SR"]),
        ("reader2", ["AF"]),
    ]
    assert entry["adjudication"]["adjudicator"] == "adjudicator"
    kinds = sorted(h["kind"] for h in entry["history"])
    assert kinds == ["adjudication", "decision", "decision"]
    # A reader who read the exam sees it, never its record (the others' labels).
    assert client_for(cast.reader1).get(f"/api/exams/{exams[0].pk}/").status_code == 200
    assert client_for(cast.reader1).get(url).status_code == 404
    assert client_for(cast.manager).get("/api/exams/999999/record/").status_code == 404
