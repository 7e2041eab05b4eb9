"""A campaign's reference standard: imported, replaced with history, scored by the job.

The CODE-test readings (Ribeiro et al., Nat Commun 2020; ``../shared/data/code-test``,
MIT licence) go in through ``import_readings`` and the gold standard through
``import_readings --reference``; the agreement job must then give the paper's
scores table and McNemar table cell by cell.
"""

from __future__ import annotations

import csv

import pytest
from django.core.management import CommandError, call_command

from annotator import jobs, services
from annotator.models import Campaign, LabelRevision, ReferenceLabel
from tests import factories
from tests.test_agreement_reference import (
    CLASSES,
    CODE_TEST,
    PUBLISHED,
    PUBLISHED_MCNEMAR,
    READERS,
)

pytestmark = pytest.mark.django_db


def _rows(name: str) -> list[list[str]]:
    with open(CODE_TEST / f"{name}.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    start = 1 if rows[0][0] == "" else 0
    return [row[start:] for row in rows[1:]]


def _write(path, header, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def code_test_campaign(cast, readers, **fields):
    """A campaign over the 827 CODE-test exams (CT0000…) read by ``readers``."""
    if not (CODE_TEST / "gold_standard.csv").exists():
        pytest.skip(f"CODE-test readings not found in {CODE_TEST}; set CODE_TEST_DATA")
    exams = [
        factories.make_exam(f"CT{i:04d}", dataset="code-test")
        for i in range(len(_rows("gold_standard")))
    ]
    return services.create_campaign(
        name="CODE-test",
        taxonomy=factories.default_taxonomy(),
        exams=exams,
        readers=[factories.make_user(name, "reader") for name in readers],
        readers_per_exam=len(readers),
        created_by=cast.manager,
        **fields,
    )


@pytest.fixture
def code_test(tmp_path, cast):
    campaign = code_test_campaign(cast, READERS)
    gold = _rows("gold_standard")
    readings = [
        [f"CT{i:04d}", reader, *row]
        for reader in READERS
        for i, row in enumerate(_rows(reader))
    ]
    call_command(
        "import_readings",
        _write(tmp_path / "reads.csv", ["exam_id", "reader", *CLASSES], readings),
        "--campaign",
        "CODE-test",
    )
    gold_file = _write(
        tmp_path / "gold.csv",
        ["exam_id", *CLASSES],
        [[f"CT{i:04d}", *row] for i, row in enumerate(gold)],
    )
    return campaign, gold_file, gold


@pytest.fixture
def small(cast):
    """A campaign of three exams CT0000-CT0002 and no reads."""
    exams = [factories.make_exam(f"CT{i:04d}", dataset="code-test") for i in range(3)]
    return factories.make_campaign(cast, exams, name="CODE-test")


def test_the_job_reproduces_the_papers_scores_and_mcnemar_tables(
    code_test, cast, inline_tasks, django_capture_on_commit_callbacks
):
    campaign, gold_file, _gold = code_test
    call_command("import_readings", gold_file, "--campaign", "CODE-test", "--reference")
    with django_capture_on_commit_callbacks(execute=True):
        job = services.start_agreement_job(
            campaign=campaign, user=cast.manager, seed=3, bootstrap=20
        )
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    reference = job.result["reference"]
    assert reference["source"] == "imported" and reference["n_exams"] == 827
    for name, table in PUBLISHED.items():
        for r, reader in enumerate(READERS):
            for k, code in enumerate(CLASSES):
                value = reference["readers"][reader][code][name]
                assert round(value, 3) == table[r][k], (name, reader, code)
    pairs = [(a, b) for i, a in enumerate(READERS) for b in READERS[i + 1 :]]
    for (a, b), row in zip(pairs, PUBLISHED_MCNEMAR, strict=True):
        tests = reference["mcnemar"]["|".join(sorted((a, b)))]
        assert [round(tests[code]["p_value"], 3) for code in CLASSES] == row
    # The in-process path (manage.py agreement) gives the same report.
    direct = jobs.agreement_report(campaign, seed=3, bootstrap=20)
    assert direct["reference"] == reference
    assert direct["groups"] == job.result["groups"]
    rhythm = job.result["groups"]["dominant_rhythm"]
    assert rhythm["categories"][-1] == "none"
    assert {"SB", "ST", "AF"} <= set(rhythm["categories"])


def test_replacing_the_reference_keeps_every_version_in_the_history(
    small, cast, tmp_path
):
    header = ["exam_id", "labels"]
    first_file = _write(
        tmp_path / "gold.csv", header, [["CT0000", "AF"], ["CT0001", ""]]
    )
    call_command(
        "import_readings", first_file, "--campaign", "CODE-test", "--reference"
    )
    assert ReferenceLabel.objects.filter(campaign=small).count() == 2
    second_file = _write(
        tmp_path / "gold2.csv", header, [["CT0000", "RBBB;SB"], ["CT0001", ""]]
    )
    call_command(
        "import_readings",
        second_file,
        "--campaign",
        "CODE-test",
        "--reference",
        "--by",
        cast.reader1.username,
    )
    first = ReferenceLabel.objects.get(campaign=small, exam__exam_id="CT0000")
    assert first.labels == ["SB", "RBBB"] and first.version == 2  # taxonomy order
    history = LabelRevision.objects.filter(reference=first).order_by("version")
    assert [(h.version, h.old_labels, h.new_labels) for h in history] == [
        (1, None, ["AF"]),
        (2, ["AF"], ["SB", "RBBB"]),
    ]
    assert {h.kind for h in history} == {"reference"}
    assert [h.actor for h in history] == [cast.manager, cast.reader1]
    # The unchanged exam kept its one version.
    assert LabelRevision.objects.filter(kind="reference").count() == 3


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (["exam_id", "reader", "AF"], ["CT0000", "x", "1"], "no 'reader' column"),
        (["exam_id", "NOPE"], ["CT0000", "1"], "not class codes"),
        (["exam_id", "AF"], ["UNKNOWN", "1"], "no such exam in this campaign"),
        (["exam_id", "AF"], ["CT0000", "yes"], "expected 0 or 1"),
        (["exam_id", "labels"], ["CT0000", "AF;SB"], "mutually exclusive"),
        (["exam_id", "labels"], ["CT0000", "AF<script>"], "Unknown class code"),
    ],
)
def test_a_bad_reference_file_is_refused_whole_and_changes_nothing(
    small, tmp_path, header, row, message
):
    campaign = small
    good = ["CT0001", *(["0"] * (len(header) - 1))]
    if header[-1] == "labels":
        good = ["CT0001", "SB"]
    path = _write(tmp_path / "bad.csv", header, [good, row])
    with pytest.raises(CommandError, match=message):
        call_command("import_readings", path, "--campaign", "CODE-test", "--reference")
    assert not ReferenceLabel.objects.filter(campaign=campaign).exists()
    assert not LabelRevision.objects.filter(kind="reference").exists()


def test_an_exam_given_twice_is_refused(small, tmp_path):
    campaign = small
    path = _write(
        tmp_path / "twice.csv",
        ["exam_id", "labels"],
        [["CT0001", "SB"], ["CT0001", ""]],
    )
    with pytest.raises(CommandError, match="given again"):
        call_command("import_readings", path, "--campaign", "CODE-test", "--reference")
    assert not ReferenceLabel.objects.filter(campaign=campaign).exists()


def test_the_consensus_can_be_the_reference(cast):
    exams = factories.make_exams(3)
    campaign = factories.make_campaign(cast, exams, name="Consensus")
    for exam, labels in zip(exams, (["AF"], ["SB"], []), strict=True):
        for reader in (cast.reader1, cast.reader2):
            services.record_reading(
                campaign=campaign, exam=exam, reader=reader, labels=labels
            )
    assert jobs.agreement_report(campaign)["reference"] is None
    Campaign.objects.filter(pk=campaign.pk).update(reference_source="consensus")
    campaign.refresh_from_db()
    reference = jobs.agreement_report(campaign)["reference"]
    assert reference["source"] == "consensus" and reference["n_exams"] == 3
    # Unanimous reads score perfectly against their own consensus.
    assert reference["readers"][cast.reader1.username]["AF"]["recall"] == 1.0


def test_foreign_exams_are_refused_by_the_service(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(1), name="A")
    stranger = factories.make_exam("ELSEWHERE")
    with pytest.raises(services.NotFound):
        services.set_reference_labels(
            campaign=campaign, actor=cast.manager, labels=[(stranger, ["AF"])]
        )
    assert not ReferenceLabel.objects.exists()


def test_the_api_stores_a_reference_for_managers_only(small, cast):
    from rest_framework.test import APIClient

    exams = list(small.exams.order_by("pk"))
    url = f"/api/campaigns/{small.pk}/reference/"
    body = {"labels": [{"exam": exams[0].pk, "labels": ["AF"]}]}
    reader = APIClient()
    reader.force_authenticate(cast.reader1)
    assert reader.get(url).status_code == 404
    assert reader.put(url, body, format="json").status_code == 404
    manager = APIClient()
    manager.force_authenticate(cast.manager)
    assert manager.get(url).json() == {"source": None, "n_exams": 0}
    answer = manager.put(url, body, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "source": "imported",
        "n_exams": 1,
        "created": 1,
        "changed": 0,
        "unchanged": 0,
    }
    assert manager.get("/api/campaigns/999999/reference/").status_code == 404
    # Bad input changes nothing: an unknown code, a foreign exam, wrong types.
    stranger = factories.make_exam("ELSEWHERE")
    for bad, code in (
        ({"labels": [{"exam": exams[1].pk, "labels": ["NOPE"]}]}, 400),
        ({"labels": [{"exam": stranger.pk, "labels": ["AF"]}]}, 404),
        ({"labels": [{"exam": 10**9, "labels": ["AF"]}]}, 404),
        ({"labels": [{"exam": "x", "labels": "AF"}]}, 400),
        ({"labels": []}, 400),
        (
            {
                "labels": [
                    {"exam": exams[1].pk, "labels": ["SB"]},
                    {"exam": exams[2].pk, "labels": ["AF", "SB"]},
                ]
            },
            400,
        ),
    ):
        assert manager.put(url, bad, format="json").status_code == code, bad
    assert list(ReferenceLabel.objects.values_list("exam_id", "labels")) == [
        (exams[0].pk, ["AF"])
    ]
