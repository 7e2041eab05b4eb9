"""Machine readers: a model's predictions next to the cardiologists' reads.

Imported with ``import_readings --machine``, the CODE-test DNN must be scored
like a reader (the paper's tables), kept out of the consensus, the overlap and
the others' majority, marked in the report and the export, and never shown to
a reader or an adjudicator.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from annotator import agreement, exports, jobs, services
from annotator.models import (
    Assignment,
    CampaignExam,
    Decision,
    LabelRevision,
    MachineReading,
)
from tests import factories
from tests.test_agreement_reference import (
    CLASSES,
    PUBLISHED,
    PUBLISHED_MCNEMAR,
    _table,
)
from tests.test_reference_standard import _rows, _write, code_test_campaign

pytestmark = pytest.mark.django_db
PEOPLE = ("cardiology_residents", "emergency_residents", "medical_students")


@pytest.fixture
def study(tmp_path, cast):
    campaign = code_test_campaign(cast, PEOPLE, adjudicators=[cast.adjudicator])
    gold = _rows("gold_standard")

    def readings(names):
        return [
            [f"CT{i:04d}", name, *row]
            for name in names
            for i, row in enumerate(_rows(name))
        ]

    header = ["exam_id", "reader", *CLASSES]
    call_command(
        "import_readings",
        _write(tmp_path / "people.csv", header, readings(PEOPLE)),
        "--campaign",
        "CODE-test",
    )
    call_command(
        "import_readings",
        _write(tmp_path / "dnn.csv", header, readings(["dnn"])),
        "--campaign",
        "CODE-test",
        "--machine",
    )
    call_command(
        "import_readings",
        _write(
            tmp_path / "gold.csv",
            ["exam_id", *CLASSES],
            [[f"CT{i:04d}", *row] for i, row in enumerate(gold)],
        ),
        "--campaign",
        "CODE-test",
        "--reference",
    )
    campaign.refresh_from_db()
    return campaign


def test_a_machine_is_scored_like_a_reader_marked_and_kept_out_of_the_workflow(
    study,
):
    dnn = MachineReading.objects.filter(campaign=study).first().reader
    assert MachineReading.objects.filter(campaign=study, reader=dnn).count() == 827
    assert not Assignment.objects.filter(reader=dnn).exists()
    assert not Decision.objects.filter(reader=dnn).exists()
    # The overlap, the counters and the consensus are the people's.
    links = CampaignExam.objects.filter(campaign=study)
    assert set(links.values_list("n_assigned", "n_submitted")) == {(3, 3)}
    assert study.n_reads_submitted == 3 * 827
    assert set(
        LabelRevision.objects.filter(machine_reading__reader=dnn).values_list(
            "kind", "version"
        )
    ) == {("machine", 1)}

    report = jobs.agreement_report(study)
    assert report["machines"] == ["dnn"]
    assert report["readers"] == sorted(["dnn", *PEOPLE])
    reference = report["reference"]
    for name, table in PUBLISHED.items():
        got = [round(reference["readers"]["dnn"][code][name], 3) for code in CLASSES]
        assert got == table[0], name
    tests = reference["mcnemar"]["cardiology_residents|dnn"]
    assert [round(tests[code]["p_value"], 3) for code in CLASSES] == (
        PUBLISHED_MCNEMAR[0]
    )
    assert "cardiology_residents|dnn" in report["classes"]["AF"]["cohen_kappa"]

    # Each person's leave-one-out score ignores the model: as if it were absent.
    people = np.stack([_table(name) for name in PEOPLE], axis=1)
    alone = agreement.report(
        agreement.count_chunk(people), class_codes=CLASSES, reader_names=PEOPLE
    )["reader_stats_leave_one_out"]["readers"]
    loo = report["reader_stats_leave_one_out"]["readers"]
    for name in PEOPLE:
        for code in CLASSES:
            assert loo[name][code]["f1"] == alone[name][code]["f1"], (name, code)

    # The export gives the model's readings apart from the people's reads.
    out = io.BytesIO()
    exports.write_export(study, "jsonl", out, include_unresolved=True)
    first = json.loads(out.getvalue().decode().splitlines()[0])
    assert [r["reader"] for r in first["readers"]] == list(PEOPLE)
    assert first["machine_readings"] == [
        {
            "reader": "dnn",
            "labels": first["machine_readings"][0]["labels"],
            "version": 1,
            "machine": True,
        }
    ]


def test_no_reader_or_adjudicator_answer_names_the_machine(study, cast):
    reader = APIClient()
    reader.force_authenticate(study.readers.get(username="cardiology_residents"))
    adjudicator = APIClient()
    adjudicator.force_authenticate(cast.adjudicator)
    pk = study.pk
    answers = [
        reader.get("/api/campaigns/"),
        reader.get(f"/api/campaigns/{pk}/"),
        reader.get("/api/exams/"),
        reader.get("/api/decisions/"),
        adjudicator.get("/api/campaigns/"),
        adjudicator.get(f"/api/campaigns/{pk}/"),
        adjudicator.get(f"/api/campaigns/{pk}/adjudication/?state=all"),
        adjudicator.get("/api/exams/"),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.content[:200]
        assert b"dnn" not in answer.content, answer.request["PATH_INFO"]
    queue = answers[6].json()["results"]
    assert queue, "the CODE-test readers disagree on some exams"
    for item in queue[:5]:
        exam = adjudicator.get(f"/api/exams/{item['exam']}/")
        assert b"dnn" not in exam.content
        assert item["machine_readings"] == []
    # A campaign may show the models' readings to its adjudicators, not readers.
    services.change_campaign(campaign=study, show_machine_readings=True)
    shown = adjudicator.get(f"/api/campaigns/{pk}/adjudication/?state=all").json()
    item = shown["results"][0]
    stored = MachineReading.objects.get(campaign=study, exam_id=item["exam"])
    assert item["machine_readings"] == [
        {"reader": "dnn", "labels": stored.labels, "machine": True}
    ]
    assert b"dnn" not in reader.get(f"/api/campaigns/{pk}/").content


def test_a_persons_account_is_never_made_a_machine(cast, tmp_path):
    campaign = factories.make_campaign(cast, factories.make_exams(2), name="M")
    path = _write(
        tmp_path / "m.csv",
        ["exam_id", "reader", "labels"],
        [["E00000", "reader1", "AF"], ["E00001", "model-x", "AF;NOPE"]],
    )
    with pytest.raises(CommandError, match="No reading was imported"):
        call_command("import_readings", path, "--campaign", "M", "--machine")
    assert not MachineReading.objects.exists()
    assert not cast.reader1.groups.filter(name="machine").exists()
    with pytest.raises(services.WorkflowError, match="person's account"):
        services.machine_account("reader1")
    with pytest.raises(services.WorkflowError, match="machine account"):
        services.record_machine_readings(
            campaign=campaign, machine=cast.reader1, labels=[]
        )


def test_machine_readings_need_an_existing_campaign(tmp_path, cast):
    path = _write(
        tmp_path / "m.csv", ["exam_id", "reader", "labels"], [["E1", "m", ""]]
    )
    with pytest.raises(CommandError, match="existing campaign"):
        call_command("import_readings", path, "--campaign", "Nope", "--machine")
    with pytest.raises(CommandError, match="not both"):
        call_command(
            "import_readings", path, "--campaign", "Nope", "--machine", "--reference"
        )


def test_the_api_stores_a_models_readings_for_managers_only(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(2), name="API")
    exams = list(campaign.exams.order_by("pk"))
    url = f"/api/campaigns/{campaign.pk}/machine-readings/"
    body = {
        "machine": "ecg-net",
        "labels": [
            {"exam": exams[0].pk, "labels": ["AF"]},
            {"exam": exams[1].pk, "labels": []},
        ],
    }
    reader = APIClient()
    reader.force_authenticate(cast.reader1)
    assert reader.put(url, body, format="json").status_code == 404
    assert not MachineReading.objects.exists()
    manager = APIClient()
    manager.force_authenticate(cast.manager)
    answer = manager.put(url, body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "machine": "ecg-net",
        "n_exams": 2,
        "created": 2,
        "changed": 0,
        "unchanged": 0,
    }
    again = manager.put(url, body, format="json").json()
    assert (again["created"], again["unchanged"]) == (0, 2)
    stranger = factories.make_exam("ELSEWHERE")
    for bad, code in (
        ({**body, "machine": "reader1"}, 400),  # a person's account
        ({**body, "machine": "<script>"}, 400),
        ({"machine": "ecg-net", "labels": [{"exam": stranger.pk, "labels": []}]}, 404),
        (
            {"machine": "ecg-net", "labels": [{"exam": exams[0].pk, "labels": ["X"]}]},
            400,
        ),
    ):
        assert manager.put(url, bad, format="json").status_code == code, bad
    assert MachineReading.objects.count() == 2
    assert not cast.reader1.groups.filter(name="machine").exists()
