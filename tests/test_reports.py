"""The dashboard's report endpoints: the latest report without pairs; pair matrices."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from sklearn.metrics import cohen_kappa_score

from annotator import reports, services
from annotator.models import Job
from tests import factories

READERS = ["reader1", "reader2", "reader3"]


def labels(e: int, j: int) -> list[str]:
    chosen = {"SR"} if e % 4 else {"AF"}
    if (e + j) % 3 == 0:
        chosen |= {"RBBB"}
    if e % 5 == 0 and j == 2:
        chosen = {"AF"} if "SR" in chosen else {"SR"}
    return sorted(chosen)


@pytest.fixture
def study(cast, django_capture_on_commit_callbacks, inline_tasks):
    """24 exams read by three readers, and one succeeded agreement job."""
    readers = [cast.reader1, cast.reader2, factories.make_user("reader3", "reader")]
    campaign = services.create_campaign(
        name="Reported",
        taxonomy=factories.default_taxonomy(),
        exams=factories.make_exams(24),
        readers=readers,
        adjudicators=[cast.adjudicator],
        readers_per_exam=3,
        created_by=cast.manager,
    )
    factories.seed_reads(campaign, readers, labels)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.start_agreement_job(
            campaign=campaign, user=cast.manager, bootstrap=10
        )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return campaign, job


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_the_report_has_no_pairs_and_names_its_job(study, cast):
    campaign, job = study
    response = client_of(cast.manager).get(f"/api/campaigns/{campaign.pk}/report/")
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["readers"] == READERS and report["n_exams"] == 24
    assert set(report["classes"]) == set(campaign.taxonomy.codes())
    for entry in [*report["classes"].values(), report["macro"], report["micro"]]:
        assert "cohen_kappa" not in entry
        assert "cohen_kappa" not in entry["ci95"]
        assert "cohen_kappa" not in entry.get("undefined", {})
    rbbb = report["classes"]["RBBB"]
    assert rbbb["fleiss_kappa"] == job.result["classes"]["RBBB"]["fleiss_kappa"]
    assert (
        rbbb["ci95"]["fleiss_kappa"]
        == job.result["classes"]["RBBB"]["ci95"]["fleiss_kappa"]
    )
    assert report["reader_stats"] == job.result["reader_stats"]
    assert report["job"]["id"] == job.pk
    assert report["job"]["params"]["bootstrap"] == 10
    assert report["job"]["finished_at"].startswith(str(job.finished_at.date()))


def test_the_report_is_the_latest_one(study, cast, django_capture_on_commit_callbacks):
    campaign, first = study
    with django_capture_on_commit_callbacks(execute=True):
        second = services.start_agreement_job(
            campaign=campaign, user=cast.manager, bootstrap=0
        )
    report = client_of(cast.manager).get(f"/api/campaigns/{campaign.pk}/report/")
    assert report.json()["job"]["id"] == second.pk != first.pk
    assert report.json()["bootstrap"] == 0


def test_pairs_are_a_square_matrix_in_reader_order(study, cast):
    campaign, _ = study
    response = client_of(cast.manager).get(
        f"/api/campaigns/{campaign.pk}/report/pairs/?code=RBBB"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["readers"] == READERS and body["code"] == "RBBB"
    kappa = body["kappa"]
    assert len(kappa) == 3 and all(len(row) == 3 for row in kappa)
    reads = [[int("RBBB" in labels(e, j)) for e in range(24)] for j in range(3)]
    for i in range(3):
        assert kappa[i][i] is None
        for j in range(3):
            if i != j:
                expected = cohen_kappa_score(reads[i], reads[j])
                assert kappa[i][j] == pytest.approx(expected, abs=1e-9)
                assert kappa[i][j] == kappa[j][i]


def test_pairs_of_a_class_nobody_chose_are_null(study, cast):
    campaign, _ = study
    body = (
        client_of(cast.manager)
        .get(f"/api/campaigns/{campaign.pk}/report/pairs/?code=DIG")
        .json()
    )
    assert body["kappa"] == [[None] * 3] * 3


@pytest.mark.parametrize("query", ["?code=NOPE", "?code=", ""])
def test_an_unknown_or_missing_code_is_refused_by_name(study, cast, query):
    campaign, _ = study
    response = client_of(cast.manager).get(
        f"/api/campaigns/{campaign.pk}/report/pairs/{query}"
    )
    assert response.status_code == 400
    assert "code" in response.json()
    if "NOPE" in query:
        assert "NOPE" in str(response.json()["code"])


@pytest.mark.parametrize("role", ["reader1", "adjudicator", "outsider"])
@pytest.mark.parametrize("route", ["report/", "report/pairs/?code=AF"])
def test_only_managers_see_reports(study, cast, role, route):
    campaign, _ = study
    response = client_of(getattr(cast, role)).get(
        f"/api/campaigns/{campaign.pk}/{route}"
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("route", ["report/", "report/pairs/?code=AF"])
def test_an_unknown_campaign_or_one_without_a_report_is_404(study, cast, route):
    client = client_of(cast.manager)
    assert client.get(f"/api/campaigns/999999/{route}").status_code == 404
    bare = factories.make_campaign(
        cast, factories.make_exams(2, dataset="bare"), name="Bare"
    )
    Job.objects.create(kind=Job.Kind.AGREEMENT, campaign=bare, status="failed")
    response = client.get(f"/api/campaigns/{bare.pk}/{route}")
    assert response.status_code == 404
    assert "no agreement report yet" in response.json()["detail"]


def test_anonymous_callers_are_asked_to_log_in(study):
    campaign, _ = study
    response = APIClient().get(f"/api/campaigns/{campaign.pk}/report/")
    assert response.status_code == 401


def test_without_pairs_strips_every_pair_dict_and_keeps_the_rest():
    report = {
        "readers": ["a", "b"],
        "classes": {
            "X": {
                "fleiss_kappa": 0.5,
                "cohen_kappa": {"a|b": 0.5},
                "ci95": {"fleiss_kappa": [0, 1], "cohen_kappa": {"a|b": [0, 1]}},
                "undefined": {
                    "cohen_kappa": {"a|b": "why"},
                    "ci95": {"cohen_kappa": {"a|b": "why"}, "pabak": "why"},
                },
            }
        },
        "macro": {"cohen_kappa": {"a|b": 0.5}, "ci95": {}, "n_classes": {}},
        "groups": {
            "axis": {
                "fleiss_kappa": 0.4,
                "cohen_kappa": {"a|b": 0.4},
                "ci95": {"cohen_kappa": {"a|b": None}},
            }
        },
        "reference": {"source": "imported", "readers": {}, "mcnemar": {"a|b": {}}},
    }
    out = reports.without_pairs(report)
    assert out["groups"] == {"axis": {"fleiss_kappa": 0.4, "ci95": {}}}
    assert out["reference"] == {"source": "imported", "readers": {}}
    assert out["classes"]["X"] == {
        "fleiss_kappa": 0.5,
        "ci95": {"fleiss_kappa": [0, 1]},
        "undefined": {"ci95": {"pabak": "why"}},
    }
    assert out["macro"] == {"ci95": {}, "n_classes": {}}
    assert "micro" not in out
    assert report["classes"]["X"]["cohen_kappa"] == {"a|b": 0.5}  # not changed


def test_pair_matrix_reads_sorted_pair_names_whatever_the_order():
    matrix = reports.pair_matrix(["b", "a", "c"], {"a|b": 0.1, "b|c": 0.3})
    assert matrix == [[None, 0.1, 0.3], [0.1, None, None], [0.3, None, None]]
