"""The REST API: every route for every role, the blinded flow, actionable errors."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotator import services
from annotator.models import (
    Adjudication,
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    LabelRevision,
)
from tests import factories

ROLES = ("anonymous", "reader1", "reader2", "adjudicator", "manager", "outsider")


@pytest.fixture
def world(cast):
    """A pilot campaign (readers 1 and 2) and one that only the outsider reads."""
    exams = factories.make_exams(4)
    for exam in exams:
        exam.machine_statements = ["Sinus rhythm"]
        exam.save()
    pilot = factories.make_campaign(cast, exams)
    other_exams = factories.make_exams(2, dataset="other")
    other = factories.make_campaign(cast, other_exams, name="Other", readers_per_exam=1)
    other.readers.set([cast.outsider])
    other.adjudicators.set([])
    return {"cast": cast, "pilot": pilot, "other": other, "exams": exams}


MACHINE = "model-x"


def client_for(world, role: str) -> APIClient:
    client = APIClient()
    if role != "anonymous":
        user = getattr(world["cast"], role)
        client.credentials(
            HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0]}"
        )
    return client


def claim_and_submit(client, campaign, labels):
    claim = client.post(f"/api/campaigns/{campaign.pk}/next/")
    assert claim.status_code == 200, claim.content
    response = client.post(
        f"/api/assignments/{claim.json()['assignment']}/decision/",
        {"labels": labels, "quality": [], "comment": "", "duration_ms": 1200},
        format="json",
    )
    assert response.status_code == 201, response.content
    return claim.json(), response.json()


# --- Authentication ----------------------------------------------------------------


def test_token_endpoint_gives_a_token_that_authenticates(cast):
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "reader1", "password": factories.PASSWORD}
    )
    assert response.status_code == 200
    token = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/taxonomies/").status_code == 200


def test_wrong_password_is_a_json_error_and_failures_are_throttled(cast):
    client = APIClient()
    bad = {"username": "reader1", "password": "wrong"}
    first = client.post("/api/auth/token/", bad)
    assert first.status_code == 400
    assert first.json() == {"detail": "Wrong username or password."}
    for _ in range(9):
        client.post("/api/auth/token/", bad)
    blocked = client.post("/api/auth/token/", bad)
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers
    # Even the right password waits now: guessing cannot continue.
    right = {"username": "reader1", "password": factories.PASSWORD}
    assert client.post("/api/auth/token/", right).status_code == 429


def test_anonymous_requests_get_401_with_a_challenge(world):
    response = APIClient().get("/api/campaigns/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Token")


def test_session_writes_need_the_csrf_token(world):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="reader1", password=factories.PASSWORD)
    response = client.post(f"/api/campaigns/{world['pilot'].pk}/next/")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not Assignment.objects.exists()


# --- Route by role table -------------------------------------------------------------

EXPECTED = {
    # route name: status per role, in ROLES order
    "taxonomies": (401, 200, 200, 200, 200, 200),
    "taxonomy": (401, 200, 200, 200, 200, 200),
    "campaigns": (401, 200, 200, 200, 200, 200),
    "pilot": (401, 200, 200, 200, 200, 404),
    "other": (401, 404, 404, 404, 200, 200),
    "pilot-next": (401, 200, 200, 404, 404, 404),
    "pilot-queue": (401, 404, 404, 200, 200, 404),
    "pilot-reference": (401, 404, 404, 404, 200, 404),
    "pilot-machine-readings": (401, 404, 404, 404, 200, 404),
    "pilot-calibration": (401, 404, 404, 404, 200, 404),
    "pilot-status": (401, 404, 404, 404, 200, 404),
    "pilot-readers": (401, 404, 404, 404, 200, 404),
    "pilot-reader-stats": (401, 404, 404, 404, 200, 404),
    "exams": (401, 200, 200, 200, 200, 200),
    "exam": (401, 404, 404, 404, 200, 404),
    "exam-record": (401, 404, 404, 404, 200, 404),
    "exams-count": (401, 404, 404, 404, 200, 404),
    "create-campaign": (401, 403, 403, 403, 201, 403),
    "schema": (200, 200, 200, 200, 200, 200),  # the schema holds no data
}


def request_route(client, name, world):
    pilot, other = world["pilot"], world["other"]
    exam = world["exams"][0]
    taxonomy = pilot.taxonomy
    routes = {
        "taxonomies": ("get", "/api/taxonomies/", None),
        "taxonomy": ("get", f"/api/taxonomies/{taxonomy.pk}/", None),
        "campaigns": ("get", "/api/campaigns/", None),
        "pilot": ("get", f"/api/campaigns/{pilot.pk}/", None),
        "other": ("get", f"/api/campaigns/{other.pk}/", None),
        "pilot-next": ("post", f"/api/campaigns/{pilot.pk}/next/", None),
        "pilot-queue": ("get", f"/api/campaigns/{pilot.pk}/adjudication/", None),
        "pilot-reference": ("get", f"/api/campaigns/{pilot.pk}/reference/", None),
        "pilot-machine-readings": (
            "put",
            f"/api/campaigns/{pilot.pk}/machine-readings/",
            {"machine": "model-y", "labels": [{"exam": exam.pk, "labels": ["AF"]}]},
        ),
        "pilot-calibration": ("get", f"/api/campaigns/{pilot.pk}/calibration/", None),
        "pilot-status": (
            "post",
            f"/api/campaigns/{pilot.pk}/status/",
            {"status": "open"},
        ),
        "pilot-reader-stats": ("get", f"/api/campaigns/{pilot.pk}/reader-stats/", None),
        "pilot-readers": (
            "post",
            f"/api/campaigns/{pilot.pk}/readers/",
            {"add": [], "remove": []},
        ),
        "exams": ("get", "/api/exams/", None),
        "exam": ("get", f"/api/exams/{exam.pk}/", None),
        "exam-record": ("get", f"/api/exams/{exam.pk}/record/", None),
        "exams-count": ("get", "/api/exams/count/", None),
        "create-campaign": (
            "post",
            "/api/campaigns/",
            {"name": "New", "dataset": "test", "readers": ["reader1", "reader2"]},
        ),
        "schema": ("get", "/api/schema/", None),
    }
    method, url, body = routes[name]
    return getattr(client, method)(url, body, format="json")


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_its_rights_allow(world, name, role):
    # A model's reading of every pilot exam: no route but a manager's shows it.
    services.record_machine_readings(
        campaign=world["pilot"],
        machine=services.machine_account(MACHINE),
        labels=[(exam, ["AF"]) for exam in world["exams"]],
    )
    response = request_route(client_for(world, role), name, world)
    expected = EXPECTED[name][ROLES.index(role)]
    assert response.status_code == expected, (name, role, response.content[:300])
    if expected == 404:  # a message, and nothing about the object
        assert set(response.json()) == {"detail"}
    if role != "manager":
        assert MACHINE.encode() not in response.content, (name, role)


# --- Visibility and blinding ---------------------------------------------------------


def test_lists_hold_only_what_the_caller_may_see(world):
    cast = world["cast"]
    reader1 = client_for(world, "reader1")
    claim, _ = claim_and_submit(reader1, world["pilot"], ["NORM"])
    names = {c["name"] for c in reader1.get("/api/campaigns/").json()["results"]}
    assert names == {"Pilot"}
    exams = reader1.get("/api/exams/").json()["results"]
    assert [e["id"] for e in exams] == [claim["exam"]["id"]]
    manager_exams = client_for(world, "manager").get("/api/exams/?dataset=other").json()
    assert len(manager_exams["results"]) == 2
    outsider = client_for(world, "outsider")
    assert outsider.get(f"/api/exams/{claim['exam']['id']}/").status_code == 404
    assert Assignment.objects.filter(reader=cast.outsider).count() == 0


def test_readers_are_blinded_to_machine_statements_and_each_other(world):
    reader1, reader2 = client_for(world, "reader1"), client_for(world, "reader2")
    claim1, decision1 = claim_and_submit(reader1, world["pilot"], ["AF"])
    assert claim1["exam"]["machine_statements"] is None
    claim2 = reader2.post(f"/api/campaigns/{world['pilot'].pk}/next/").json()
    assert claim2["exam"]["id"] == claim1["exam"]["id"]  # same exam, read blind
    assert (
        reader2.get(f"/api/exams/{claim2['exam']['id']}/").json()["machine_statements"]
        is None
    )
    assert reader2.get(f"/api/decisions/{decision1['id']}/").status_code == 404
    assert reader2.get("/api/decisions/").json()["results"] == []
    assert reader2.get(f"/api/decisions/{decision1['id']}/history/").status_code == 404
    progress = reader2.get(f"/api/campaigns/{world['pilot'].pk}/").json()["progress"]
    assert "needs_adjudication" not in progress and "unanimous" not in progress


def test_a_campaign_can_show_machine_statements(world):
    Campaign.objects.filter(pk=world["pilot"].pk).update(show_machine_statements=True)
    claim = client_for(world, "reader1").post(
        f"/api/campaigns/{world['pilot'].pk}/next/"
    )
    assert claim.json()["exam"]["machine_statements"] == ["Sinus rhythm"]


# --- The whole blinded two-reader flow -----------------------------------------------


def test_two_readers_disagree_and_the_adjudicator_settles_it(world):
    pilot = world["pilot"]
    reader1, reader2 = client_for(world, "reader1"), client_for(world, "reader2")
    adjudicator = client_for(world, "adjudicator")
    claim, _ = claim_and_submit(reader1, pilot, ["SR", "RBBB"])
    claim_and_submit(reader2, pilot, ["SR", "IRBBB"])
    exam = claim["exam"]["id"]

    queue = adjudicator.get(f"/api/campaigns/{pilot.pk}/adjudication/").json()
    assert queue["count"] == 1
    item = queue["results"][0]
    assert item["exam"] == exam
    assert item["disagreeing_classes"] == ["RBBB", "IRBBB"]
    assert {d["reader"]: d["labels"] for d in item["decisions"]} == {
        "reader1": ["SR", "RBBB"],
        "reader2": ["SR", "IRBBB"],
    }
    settle = adjudicator.post(
        f"/api/campaigns/{pilot.pk}/adjudication/{exam}/",
        {"labels": ["SR", "RBBB"], "note": "QRS 124 ms"},
        format="json",
    )
    assert settle.status_code == 200, settle.content
    assert settle.json()["labels"] == ["SR", "RBBB"]
    link = CampaignExam.objects.get(campaign=pilot, exam_id=exam)
    assert link.consensus_state == "adjudicated"
    assert (
        adjudicator.get(f"/api/campaigns/{pilot.pk}/adjudication/").json()["count"] == 0
    )
    progress = client_for(world, "manager").get(f"/api/campaigns/{pilot.pk}/").json()
    assert progress["progress"]["adjudicated"] == 1
    assert progress["progress"]["reads_submitted"] == 2


def test_unanimous_exams_never_reach_the_queue(world):
    pilot = world["pilot"]
    claim_and_submit(client_for(world, "reader1"), pilot, ["NORM"])
    claim_and_submit(client_for(world, "reader2"), pilot, ["NORM"])
    queue = client_for(world, "adjudicator").get(
        f"/api/campaigns/{pilot.pk}/adjudication/"
    )
    assert queue.json()["count"] == 0
    assert CampaignExam.objects.filter(consensus_state="unanimous").count() == 1


def test_next_answers_204_when_nothing_is_left(world):
    other = world["other"]
    outsider = client_for(world, "outsider")
    claim_and_submit(outsider, other, ["NORM"])
    claim_and_submit(outsider, other, ["NORM"])
    response = outsider.post(f"/api/campaigns/{other.pk}/next/")
    assert response.status_code == 204
    assert response.content == b""


# --- Decisions: validation and versions ----------------------------------------------


def test_bad_labels_get_a_message_and_change_nothing(world):
    reader1 = client_for(world, "reader1")
    claim = reader1.post(f"/api/campaigns/{world['pilot'].pk}/next/").json()
    url = f"/api/assignments/{claim['assignment']}/decision/"
    cases = [
        ({"labels": ["SR", "AF"]}, "SR and AF are mutually exclusive"),
        ({"labels": ["XYZ"]}, "Unknown class code(s)"),
        ({"labels": "AF"}, "Expected a list"),
        ({"labels": ["AF"], "duration_ms": -5}, "greater than or equal to 0"),
        ({}, "required"),
    ]
    for body, message in cases:
        response = reader1.post(url, body, format="json")
        assert response.status_code == 400, body
        assert message in str(response.json()), (body, response.json())
    assert not Decision.objects.exists()
    assert Assignment.objects.get().status == "claimed"


def test_submitting_on_someone_elses_assignment_is_not_found(world):
    claim = client_for(world, "reader1").post(
        f"/api/campaigns/{world['pilot'].pk}/next/"
    )
    response = client_for(world, "reader2").post(
        f"/api/assignments/{claim.json()['assignment']}/decision/",
        {"labels": ["AF"]},
        format="json",
    )
    assert response.status_code == 404
    assert not Decision.objects.exists()


def test_edits_need_if_match_and_a_stale_version_is_refused(world):
    reader1 = client_for(world, "reader1")
    _, decision = claim_and_submit(reader1, world["pilot"], ["SR"])
    url = f"/api/decisions/{decision['id']}/"
    assert decision["version"] == 1
    got = reader1.get(url)
    assert got.headers["ETag"] == '"1"'

    missing = reader1.put(url, {"labels": ["SB"]}, format="json")
    assert missing.status_code == 428
    assert "If-Match" in missing.json()["detail"]

    ok = reader1.put(url, {"labels": ["SB"]}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200 and ok.json()["version"] == 2
    assert ok.headers["ETag"] == '"2"'

    stale = reader1.put(url, {"labels": ["ST"]}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert "reload" in stale.json()["detail"]
    assert Decision.objects.get().labels == ["SB"]

    history = reader1.get(f"{url}history/").json()
    assert [(h["version"], h["old_labels"], h["new_labels"]) for h in history] == [
        (1, None, ["SR"]),
        (2, ["SR"], ["SB"]),
    ]
    assert LabelRevision.objects.count() == 2


def test_other_readers_cannot_edit_a_decision(world):
    _, decision = claim_and_submit(client_for(world, "reader1"), world["pilot"], ["SR"])
    for role in ("reader2", "outsider", "adjudicator"):
        response = client_for(world, role).put(
            f"/api/decisions/{decision['id']}/",
            {"labels": ["AF"]},
            format="json",
            HTTP_IF_MATCH='"1"',
        )
        assert response.status_code == 404, role
    assert Decision.objects.get().labels == ["SR"]


# --- Campaign creation ----------------------------------------------------------------


def test_manager_creates_a_campaign_from_a_list_of_exam_ids(world):
    manager = client_for(world, "manager")
    ids = [e.pk for e in world["exams"][:3]]
    response = manager.post(
        "/api/campaigns/",
        {
            "name": "Trial",
            "exams": ids,
            "readers": ["reader1", "reader2"],
            "adjudicators": ["adjudicator"],
            "readers_per_exam": 2,
            "adjudication_policy": "classes",
            "adjudication_codes": ["AF", "RBBB"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["readers"] == ["reader1", "reader2"]
    assert body["progress"]["exams"] == 3
    assert body["adjudication_codes"] == ["AF", "RBBB"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "X", "exams": [999999], "readers": ["reader1"]}, "Unknown exam ids"),
        (
            {"name": "X", "dataset": "test", "readers": ["nobody"]},
            "Unknown users: nobody",
        ),
        (
            {"name": "X", "dataset": "nope", "readers": ["reader1"]},
            "No exams in dataset",
        ),
        (
            {"name": "X", "dataset": "test", "exams": [1], "readers": ["reader1"]},
            "either 'exams'",
        ),
        (
            {"name": "Pilot", "dataset": "test", "readers": ["reader1", "reader2"]},
            "exists already",
        ),
        (
            {"name": "X", "dataset": "test", "readers": ["reader1"]},
            "at least that many",
        ),
        (
            {
                "name": "X",
                "dataset": "test",
                "readers": ["reader1", "reader2"],
                "adjudication_policy": "classes",
                "adjudication_codes": ["NOPE"],
            },
            "Unknown class codes",
        ),
    ],
)
def test_campaign_creation_errors_say_what_is_wrong(world, body, message):
    before = Campaign.objects.count()
    response = client_for(world, "manager").post("/api/campaigns/", body, format="json")
    assert response.status_code == 400
    assert message in str(response.json())
    assert Campaign.objects.count() == before


def test_readers_cannot_adjudicate_through_the_api(world):
    pilot = world["pilot"]
    claim, _ = claim_and_submit(client_for(world, "reader1"), pilot, ["AF"])
    claim_and_submit(client_for(world, "reader2"), pilot, ["AFL"])
    response = client_for(world, "reader1").post(
        f"/api/campaigns/{pilot.pk}/adjudication/{claim['exam']['id']}/",
        {"labels": ["AF"]},
        format="json",
    )
    assert response.status_code == 404
    assert not Adjudication.objects.exists()


def test_api_docs_are_served_without_any_cdn(world):
    response = client_for(world, "manager").get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist" in html
    assert "cdn." not in html and "unpkg" not in html


def test_next_with_after_claims_the_following_exam(world):
    reader1 = client_for(world, "reader1")
    url = f"/api/campaigns/{world['pilot'].pk}/next/"
    first = reader1.post(url).json()
    ahead = reader1.post(url, {"after": first["assignment"]}, format="json").json()
    assert ahead["assignment"] != first["assignment"]
    assert ahead["exam"]["id"] != first["exam"]["id"]
    bad = reader1.post(url, {"after": "soon"}, format="json")
    assert bad.status_code == 400 and "after" in bad.json()
    assert Assignment.objects.filter(status="claimed").count() == 2


def test_a_browser_session_claims_and_submits(world):
    """The session user is a lazy object; the workflow must treat it as the user."""
    client = APIClient()
    client.login(username="reader1", password=factories.PASSWORD)
    claim_and_submit(client, world["pilot"], ["NORM"])
    assert Decision.objects.get().assignment.reader.username == "reader1"
