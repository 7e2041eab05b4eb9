"""Calibration exams and re-reads: mixed blind into readers' queues, kept out of
the consensus, scored in the agreement report."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from sklearn.metrics import cohen_kappa_score, f1_score, recall_score

from annotator import exports, jobs, services
from annotator.models import Assignment, Campaign, CampaignExam, Decision
from annotator.services import checks
from tests import factories

LABELS = (["SR"], ["AF"], ["SB"], ["NORM"])
Kind = Assignment.Kind
CALIBRATION = CampaignExam.ConsensusState.CALIBRATION


def labels_for(reader: str, exam_id: int, *, again: bool = False) -> list[str]:
    """A deterministic read; a re-read differs now and then, as people do."""
    shift = 1 if again and exam_id % 3 == 0 else 0
    return LABELS[(exam_id + len(reader) * 7 + shift) % len(LABELS)]


def client_for(user) -> APIClient:
    client = APIClient()
    token = Token.objects.get_or_create(user=user)[0]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def make_study(cast, *, n_exams=40, n_gold=10, **fields) -> tuple[Campaign, list]:
    """A campaign of ``n_exams`` whose last ``n_gold`` are calibration exams
    (reference: AF)."""
    exams = factories.make_exams(n_exams)
    campaign = factories.make_campaign(cast, exams, **fields)
    gold = exams[n_exams - n_gold :]
    services.set_reference_labels(
        campaign=campaign, actor=cast.manager, labels=[(e, ["AF"]) for e in gold]
    )
    services.set_calibration_exams(campaign=campaign, exams=gold)
    return campaign, gold


def read_all(campaign, reader, *, limit=200) -> list[Assignment]:
    """The reader claims and submits until nothing is left; their claims in order."""
    claims = []
    for _ in range(limit):
        claim = services.claim_next(campaign=campaign, reader=reader)
        if claim is None:
            break
        again = claim.kind == Kind.REREAD
        services.submit_decision(
            assignment=claim,
            reader=reader,
            labels=labels_for(reader.username, claim.exam_id, again=again),
            quality=[],
            comment="",
            duration_ms=3000,
        )
        claims.append(claim)
    return claims


# --- Marking calibration exams ------------------------------------------------------


def test_calibration_exams_leave_the_pool_and_the_consensus_counters(cast):
    campaign, gold = make_study(cast)
    campaign.refresh_from_db()
    assert (campaign.n_exams, campaign.n_pending, campaign.n_calibration) == (
        40,
        30,
        10,
    )
    links = CampaignExam.objects.filter(campaign=campaign, exam__in=gold)
    assert set(links.values_list("consensus_state", "is_open")) == {
        (CALIBRATION, False)
    }
    assert services.recount_progress(campaign)["n_calibration"] == 10
    # Back to the pool: open and pending again.
    done = services.set_calibration_exams(
        campaign=campaign, exams=gold[:4], calibration=False
    )
    assert (done.returned, done.marked, done.unchanged) == (4, 0, 0)
    campaign.refresh_from_db()
    assert (campaign.n_pending, campaign.n_calibration) == (34, 6)
    assert all(
        link.is_open and link.consensus_state == "pending"
        for link in CampaignExam.objects.filter(campaign=campaign, exam__in=gold[:4])
    )


def test_an_exam_without_a_reference_or_already_claimed_is_refused_and_nothing_changes(
    cast,
):
    campaign, _gold = make_study(cast, n_gold=2)
    plain = list(campaign.exams.order_by("pk")[:3])
    before = list(CampaignExam.objects.order_by("pk").values_list("consensus_state"))
    with pytest.raises(services.Conflict, match="needs a reference"):
        services.set_calibration_exams(campaign=campaign, exams=[plain[0]])
    claim = services.claim_next(campaign=campaign, reader=cast.reader1)
    services.set_reference_labels(
        campaign=campaign, actor=cast.manager, labels=[(claim.exam, ["SR"])]
    )
    with pytest.raises(services.Conflict, match="already claimed"):
        services.set_calibration_exams(campaign=campaign, exams=[claim.exam])
    stranger = factories.make_exam("X1", dataset="elsewhere")
    with pytest.raises(services.NotFound):
        services.set_calibration_exams(campaign=campaign, exams=[stranger])
    after = list(CampaignExam.objects.order_by("pk").values_list("consensus_state"))
    assert after == before
    campaign.refresh_from_db()
    assert campaign.n_calibration == 2


def test_the_calibration_route_is_for_managers(cast):
    campaign, gold = make_study(cast, n_gold=3)
    manager = client_for(cast.manager)
    url = f"/api/campaigns/{campaign.pk}/calibration/"
    body = manager.get(url).json()
    assert body == {
        "exams": sorted(e.pk for e in gold),
        "calibration_every": 0,
        "reread_every": 0,
    }
    back = manager.put(
        url, {"exams": [gold[0].pk], "calibration": False}, format="json"
    )
    assert back.status_code == 200, back.content
    assert back.json()["returned"] == 1 and gold[0].pk not in back.json()["exams"]
    for bad, status in (
        ({"exams": "all"}, 400),
        ({"exams": []}, 400),
        ({"exams": [10**9]}, 404),
        ({"exams": [2**70]}, 400),  # no id is that large: refused, not overflowed
        ({"exams": [campaign.exams.order_by("pk").first().pk]}, 409),  # no reference
    ):
        response = manager.put(url, bad, format="json")
        assert response.status_code == status, (bad, response.content)
    assert len(manager.get(url).json()["exams"]) == 2
    for reader in (cast.reader1, cast.adjudicator):
        assert client_for(reader).get(url).status_code == 404
        assert client_for(reader).put(url, {"exams": [gold[1].pk]}).status_code == 404


def test_the_check_rates_are_validated_and_hidden_from_readers(cast):
    factories.make_exams(3)
    manager = client_for(cast.manager)
    body = {
        "name": "Rates",
        "dataset": "test",
        "readers": ["reader1"],
        "readers_per_exam": 1,
    }
    refused = manager.post("/api/campaigns/", {**body, "calibration_every": 1})
    assert refused.status_code == 400
    assert "calibration_every" in json.dumps(refused.json())
    assert (
        manager.post("/api/campaigns/", {**body, "reread_every": -2}).status_code == 400
    )
    assert not Campaign.objects.filter(name="Rates").exists()
    made = manager.post(
        "/api/campaigns/", {**body, "calibration_every": 20, "reread_every": 25}
    )
    assert made.status_code == 201, made.content
    assert (made.json()["calibration_every"], made.json()["reread_every"]) == (20, 25)
    seen = client_for(cast.reader1).get(f"/api/campaigns/{made.json()['id']}/").json()
    assert "calibration_every" not in seen and "reread_every" not in seen


# --- The schedule ---------------------------------------------------------------------


def test_one_position_in_every_block_is_a_check_keyed_by_the_secret(cast, settings):
    campaign = factories.make_campaign(
        cast, factories.make_exams(2), calibration_every=7
    )
    positions = {
        reader: [p for p in range(700) if checks.due(campaign, reader, p)]
        for reader in (1, 2)
    }
    for found in positions.values():
        assert [p // 7 for p in found] == list(range(100))  # exactly one per block
    assert positions[1] != positions[2]
    settings.SECRET_KEY = "another secret of fifty characters, for this test only"
    assert [p for p in range(700) if checks.due(campaign, 1, p)] != positions[1]


def test_one_claim_in_n_is_a_calibration_exam_and_each_is_served_once(cast):
    campaign, gold = make_study(cast, calibration_every=5)
    claims = read_all(campaign, cast.reader1)
    kinds = [claim.kind for claim in claims]
    calibration = [c.exam_id for c in claims if c.kind == Kind.CALIBRATION]
    assert len(calibration) == len(set(calibration))  # never the same twice
    # Every position the schedule names gets a calibration exam while any is left.
    for position, kind in enumerate(kinds):
        due = checks.due(campaign, cast.reader1.pk, position) == Kind.CALIBRATION
        left = kinds[:position].count(Kind.CALIBRATION) < len(gold)
        assert (kind == Kind.CALIBRATION) == (due and left), position
    assert kinds.count(Kind.READ) == 30  # every exam of the pool, once
    assert set(calibration) <= {e.pk for e in gold}


def test_check_reads_do_not_touch_the_exams_or_the_consensus(cast):
    campaign, gold = make_study(cast, calibration_every=4, reread_every=6)
    for reader in (cast.reader1, cast.reader2):
        read_all(campaign, reader)
    reads = Assignment.objects.filter(campaign=campaign)
    assert reads.filter(kind=Kind.CALIBRATION).exists()
    assert reads.filter(kind=Kind.REREAD).exists()
    for link in CampaignExam.objects.filter(campaign=campaign):
        regular = reads.filter(exam_id=link.exam_id, kind=Kind.READ).count()
        assert (link.n_assigned, link.n_submitted) == (regular, regular), link
        if link.exam_id in {e.pk for e in gold}:
            assert (regular, link.consensus_state) == (0, CALIBRATION)
        else:
            assert regular == 2 and link.consensus_state != "pending"
    campaign.refresh_from_db()
    live = {f: getattr(campaign, f) for f in ("n_reads_submitted", "n_pending")}
    live |= {f: getattr(campaign, f) for f in ("n_calibration", "n_claims_open")}
    assert live["n_reads_submitted"] == reads.count()
    recounted = services.recount_progress(campaign)
    assert {f: recounted[f] for f in live} == live
    # The readers' cursors are the pool's, whatever the checks' exam ids.
    for member in campaign.campaignreader_set.all():
        top = reads.filter(reader_id=member.user_id, kind=Kind.READ).order_by(
            "-exam_id"
        )
        assert member.cursor == top.first().exam_id


def test_a_reread_is_the_readers_own_exam_long_after_and_only_once(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(60), reread_every=4)
    claims = read_all(campaign, cast.reader1)
    order = [(c.exam_id, c.kind) for c in claims]
    rereads = [i for i, (_exam, kind) in enumerate(order) if kind == Kind.REREAD]
    assert len(rereads) >= 8
    reread_exams = [order[i][0] for i in rereads]
    assert len(reread_exams) == len(set(reread_exams))
    for i in rereads:
        first = order.index((order[i][0], Kind.READ))
        reads_between = sum(kind == Kind.READ for _e, kind in order[first + 1 : i])
        assert reads_between >= checks.REREAD_GAP
    link = CampaignExam.objects.get(campaign=campaign, exam_id=reread_exams[0])
    assert (link.n_assigned, link.n_submitted) == (1, 1)  # the re-read is not counted


def test_check_claims_look_like_any_claim_in_every_payload(cast):
    campaign, _gold = make_study(cast, calibration_every=3, reread_every=3, n_exams=60)
    client = client_for(cast.reader1)
    seen: dict[str, list] = {}
    for _ in range(45):
        claim = client.post(f"/api/campaigns/{campaign.pk}/next/", {}, format="json")
        if claim.status_code == 204:
            break
        body = claim.json()
        kind = Assignment.objects.get(pk=body["assignment"]).kind
        exam = body["exam"]["id"]
        again = kind == Kind.REREAD
        decision = client.post(
            f"/api/assignments/{body['assignment']}/decision/",
            {
                "labels": labels_for("reader1", exam, again=again),
                "quality": [],
                "comment": "",
                "duration_ms": 4000,
            },
            format="json",
        )
        assert decision.status_code == 201, decision.content
        detail = client.get(f"/api/assignments/{body['assignment']}/").json()
        seen.setdefault(kind, []).append((body, decision.json(), detail))
    assert set(seen) == set(Kind.values)

    def shape(value):
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items()}
        if isinstance(value, list):
            return ["list"]
        return type(value).__name__

    shapes = {
        kind: {
            json.dumps([shape(part) for part in entry], sort_keys=True)
            for entry in entries
        }
        for kind, entries in seen.items()
    }
    assert shapes[Kind.CALIBRATION] <= shapes[Kind.READ]
    assert shapes[Kind.REREAD] <= shapes[Kind.READ]
    for entries in seen.values():
        for claim, decision, detail in entries:
            text = json.dumps([claim, decision, detail]).lower()
            assert "calibration" not in text and "reread" not in text
    # Ids are one sequence: a check claim's id is the next id, like any claim's.
    ids = [c["assignment"] for entries in seen.values() for c, _d, _a in entries]
    assert sorted(ids) == list(range(min(ids), min(ids) + len(ids)))
    # The reader's own reads list shows them all alike.
    mine = client.get(f"/api/campaigns/{campaign.pk}/reads/").json()
    rows = mine["results"] if isinstance(mine, dict) else mine
    assert len({json.dumps(shape(row), sort_keys=True) for row in rows}) == 1
    assert "calibration" not in json.dumps(mine).lower()


def test_a_check_read_stays_editable_and_an_expired_check_claim_frees_no_slot(cast):
    campaign, _gold = make_study(cast, n_gold=3, calibration_every=2)
    claims = read_all(campaign, cast.reader1, limit=6)
    check = next(c for c in claims if c.kind == Kind.CALIBRATION)
    decision = Decision.objects.get(assignment=check)
    edited = services.edit_decision(
        decision=decision,
        reader=cast.reader1,
        expected_version=1,
        labels=["SR"],
        quality=[],
        comment="second look",
        duration_ms=None,
    )
    assert edited.version == 2
    # A calibration claim left to expire: its exam's link never moves.
    later = timezone.now() + dt.timedelta(days=1)
    pending = None
    for _ in range(6):
        claim = services.claim_next(campaign=campaign, reader=cast.reader2, now=later)
        if claim.kind == Kind.CALIBRATION:
            pending = claim
            break
        services.submit_decision(assignment=claim, reader=cast.reader2, labels=["SR"])
    assert pending is not None
    services.expire_leases(campaign=campaign, now=later + dt.timedelta(days=1))
    link = CampaignExam.objects.get(campaign=campaign, exam_id=pending.exam_id)
    assert (link.n_assigned, link.n_submitted, link.is_open) == (0, 0, False)
    pending.refresh_from_db()
    assert pending.status == Assignment.Status.EXPIRED
    # The late read of it is kept all the same.
    services.submit_decision(assignment=pending, reader=cast.reader2, labels=["AF"])
    assert Decision.objects.filter(assignment=pending).exists()


def test_imported_reads_of_a_calibration_exam_are_refused(cast):
    campaign, gold = make_study(cast, n_gold=1)
    with pytest.raises(services.Conflict, match="calibration exam"):
        services.record_reading(
            campaign=campaign,
            exam=gold[0],
            reader=cast.reader1,
            labels=["AF"],
            quality=[],
            comment="",
            duration_ms=None,
        )
    assert not Assignment.objects.filter(exam=gold[0]).exists()


# --- The report and the exports -------------------------------------------------------


def test_the_report_scores_calibration_and_retest_and_keeps_them_out_of_agreement(cast):
    campaign, gold = make_study(
        cast, n_exams=70, n_gold=10, calibration_every=4, reread_every=4
    )
    for reader in (cast.reader1, cast.reader2):
        read_all(campaign, reader)
    services.record_machine_readings(
        campaign=campaign,
        machine=services.machine_account("model-x"),
        labels=[(exam, ["AF"]) for exam in campaign.exams.all()],
    )
    report = jobs.agreement_report(campaign, bootstrap=30, seed=4)
    assert report["n_exams"] == 60  # the pool, not the calibration exams
    assert report["reference"]["n_exams"] == 0  # every reference is a calibration one
    calibration = report["calibration"]
    assert calibration["n_exams"] == len(
        set(Assignment.objects.filter(kind=Kind.CALIBRATION).values_list("exam_id"))
    )
    for reader in (cast.reader1, cast.reader2):
        rows = Decision.objects.filter(
            assignment__kind=Kind.CALIBRATION, reader=reader
        ).order_by("assignment__exam_id")
        said = [int("AF" in d.labels) for d in rows]
        mine = calibration["readers"][reader.username]
        assert mine["n_reads"] == len(said)
        assert mine["classes"]["AF"]["recall"] == pytest.approx(
            recall_score([1] * len(said), said)
        )
        assert mine["classes"]["AF"]["specificity"] is None  # the reference is all AF
        week = timezone.localtime(rows[0].assignment.submitted_at).isocalendar()
        assert list(mine["periods"]) == [f"{week[0]}-W{week[1]:02d}"]
        assert set(mine["classes"]["AF"]["ci95"]) >= {"recall", "f1"}
    retest = report["retest"]
    for reader in (cast.reader1, cast.reader2):
        again = Decision.objects.filter(assignment__kind=Kind.REREAD, reader=reader)
        first = {
            d.assignment.exam_id: d.labels
            for d in Decision.objects.filter(
                assignment__kind=Kind.READ,
                reader=reader,
                assignment__exam_id__in=again.values("assignment__exam_id"),
            ).select_related("assignment")
        }
        pairs = [
            (first[d.assignment.exam_id], d.labels)
            for d in again.select_related("assignment")
        ]
        mine = retest["readers"][reader.username]
        assert mine["n_exams"] == len(pairs) > 0
        for code in ("SR", "AF"):
            a = [int(code in p[0]) for p in pairs]
            b = [int(code in p[1]) for p in pairs]
            expected = cohen_kappa_score(a, b) if len(set(a + b)) > 1 else None
            got = mine["classes"][code]["kappa"]
            if expected is None or expected != expected:
                assert got is None
            else:
                assert got == pytest.approx(expected)
    # The pool's agreement is the one its reads give without any check.
    pool = [e for e in campaign.exams.order_by("pk") if e not in gold]
    plain = factories.make_campaign(cast, pool, name="Same reads, no checks")
    for decision in Decision.objects.filter(
        assignment__campaign=campaign, assignment__kind=Kind.READ
    ).select_related("assignment__exam", "reader"):
        services.record_reading(
            campaign=plain,
            exam=decision.assignment.exam,
            reader=decision.reader,
            labels=decision.labels,
            quality=[],
            comment="",
            duration_ms=None,
        )
    services.record_machine_readings(
        campaign=plain,
        machine=services.machine_account("model-x"),
        labels=[(exam, ["AF"]) for exam in pool],
    )
    same = jobs.agreement_report(plain, bootstrap=30, seed=4)
    for key in ("n_exams", "readers", "classes", "macro", "reader_stats", "groups"):
        assert report[key] == same[key], key
    assert same["calibration"] is None and same["retest"] is None


def test_exports_leave_out_calibration_exams_and_check_reads(cast):
    campaign, gold = make_study(
        cast, n_exams=30, n_gold=5, calibration_every=3, reread_every=3
    )
    for reader in (cast.reader1, cast.reader2):
        read_all(campaign, reader)
    out = io.BytesIO()
    exports.write_export(campaign, "jsonl", out, include_unresolved=True)
    rows = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    exported = {row["exam_id"] for row in rows}
    assert not exported & {e.exam_id for e in gold}
    assert len(rows) == 25
    for row in rows:
        assert len(row["readers"]) == 2, row  # each exam's two reads, no re-read


def test_f1_intervals_are_the_percentiles_of_exam_weighted_replicates():
    import numpy as np

    from annotator.agreement import checks as maths
    from annotator.agreement import poisson_weights

    rng = np.random.default_rng(3)
    n = 80
    truth = rng.integers(0, 2, (n, 2)).astype(np.int8)
    labels = np.where(rng.random((n, 2)) < 0.8, truth, 1 - truth).astype(np.int8)
    keys = np.arange(1, n + 1) * 11
    result = maths.calibration(
        labels,
        truth,
        np.zeros(n, int),
        np.zeros(n, int),
        keys,
        class_codes=["A", "B"],
        reader_names=["r"],
        period_names=["W"],
        bootstrap=60,
        seed=9,
    )
    weights = poisson_weights(keys, 9, 60)
    replicates = [f1_score(truth[:, 0], labels[:, 0], sample_weight=w) for w in weights]
    low, high = np.percentile(replicates, [2.5, 97.5])
    assert result["readers"]["r"]["classes"]["A"]["ci95"]["f1"] == pytest.approx(
        [low, high]
    )


# --- Commands ---------------------------------------------------------------------


def test_a_gold_standard_file_can_become_the_calibration_exams(cast, tmp_path):
    from django.core.management import CommandError, call_command

    campaign = factories.make_campaign(cast, factories.make_exams(6))
    gold = tmp_path / "gold.csv"
    gold.write_text("exam_id,labels\nE00004,AF\nE00005,SR\n")
    out = io.StringIO()
    call_command(
        "import_readings",
        str(gold),
        "--campaign",
        "Pilot",
        "--reference",
        "--calibration",
        stdout=out,
    )
    assert "2 exams became calibration exams" in out.getvalue()
    assert sorted(
        CampaignExam.objects.filter(
            campaign=campaign, consensus_state=CALIBRATION
        ).values_list("exam__exam_id", flat=True)
    ) == ["E00004", "E00005"]
    with pytest.raises(CommandError, match="with --reference"):
        call_command(
            "import_readings", str(gold), "--campaign", "Pilot", "--calibration"
        )
    # An exam a reader already claimed refuses the whole file: no new reference.
    claim = services.claim_next(campaign=campaign, reader=cast.reader1)
    more = tmp_path / "more.csv"
    more.write_text(f"exam_id,labels\nE00003,AF\n{claim.exam.exam_id},AF\n")
    with pytest.raises(CommandError, match="already claimed"):
        call_command(
            "import_readings",
            str(more),
            "--campaign",
            "Pilot",
            "--reference",
            "--calibration",
        )
    assert campaign.reference_labels.count() == 2


def test_create_campaign_sets_the_check_rates(cast):
    from django.core.management import CommandError

    factories.make_exams(3)
    with pytest.raises(CommandError, match="at least 2"):
        factories.command_campaign("Too often", "--calibration-every", "1")
    factories.command_campaign(
        "Checked", "--calibration-every", "20", "--reread-every", "30"
    )
    made = Campaign.objects.get(name="Checked")
    assert (made.calibration_every, made.reread_every) == (20, 30)
