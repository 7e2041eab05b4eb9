"""The blinded multi-reader workflow: claims, leases, reads, consensus, adjudication."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import Counter

import pytest
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from annotator import consensus, services
from annotator.models import (
    Adjudication,
    Assignment,
    CampaignExam,
    Decision,
    LabelRevision,
)
from annotator.services import checks, sql
from tests import factories

State = CampaignExam.ConsensusState


@pytest.fixture
def campaign(cast):
    return factories.make_campaign(cast, factories.make_exams(3))


def read(campaign, reader, labels, **kwargs):
    assignment = services.claim_next(campaign=campaign, reader=reader)
    assert assignment is not None
    return services.submit_decision(
        assignment=assignment, reader=reader, labels=labels, **kwargs
    )


def link_of(decision) -> CampaignExam:
    return CampaignExam.objects.get(
        campaign=decision.assignment.campaign, exam=decision.assignment.exam
    )


def test_unfinished_claim_is_returned_again_before_a_new_one(campaign, cast):
    first = services.claim_next(campaign=campaign, reader=cast.reader1)
    again = services.claim_next(campaign=campaign, reader=cast.reader1)
    assert again.pk == first.pk
    assert Assignment.objects.filter(reader=cast.reader1).count() == 1


def test_a_reader_never_gets_the_same_exam_twice_and_none_is_left_after_all(
    campaign, cast
):
    exams = []
    while (
        a := services.claim_next(campaign=campaign, reader=cast.reader1)
    ) is not None:
        exams.append(a.exam_id)
        services.submit_decision(assignment=a, reader=cast.reader1, labels=["NORM"])
    assert sorted(exams) == sorted(campaign.exams.values_list("pk", flat=True))
    assert services.claim_next(campaign=campaign, reader=cast.reader1) is None


def test_an_exam_never_gets_more_readers_than_the_overlap(cast, taxonomy):
    campaign = factories.make_campaign(
        cast, factories.make_exams(1), readers_per_exam=1
    )
    assert services.claim_next(campaign=campaign, reader=cast.reader1) is not None
    assert services.claim_next(campaign=campaign, reader=cast.reader2) is None
    link = campaign.exam_links.get()
    assert (link.n_assigned, link.is_open) == (1, False)


def test_only_the_campaigns_readers_can_claim(campaign, cast):
    for outsider in (cast.outsider, cast.adjudicator, cast.manager):
        with pytest.raises(services.NotFound):
            services.claim_next(campaign=campaign, reader=outsider)
    assert not Assignment.objects.exists()


def test_agreeing_readers_settle_the_exam_unanimously(campaign, cast):
    read(campaign, cast.reader1, ["SR", "RBBB"])
    decision = read(campaign, cast.reader2, ["RBBB", "SR"])
    link = link_of(decision)
    assert link.consensus_state == State.UNANIMOUS
    assert link.consensus_labels == ["SR", "RBBB"]  # taxonomy order


def test_disagreement_enters_the_queue_with_the_disagreeing_classes(campaign, cast):
    read(campaign, cast.reader1, ["SR", "RBBB", "LAFB"])
    decision = read(campaign, cast.reader2, ["SR", "IRBBB", "LAFB"])
    link = link_of(decision)
    assert link.consensus_state == State.NEEDS_ADJUDICATION
    assert link.disagreeing_classes == ["RBBB", "IRBBB"]
    assert link.consensus_labels is None


def test_one_read_leaves_the_exam_pending(campaign, cast):
    decision = read(campaign, cast.reader1, ["AF"])
    assert link_of(decision).consensus_state == State.PENDING


def test_adjudication_records_final_labels_and_history(campaign, cast):
    read(campaign, cast.reader1, ["AF"])
    decision = read(campaign, cast.reader2, ["AFL"])
    exam = decision.assignment.exam
    services.adjudicate(
        campaign=campaign,
        exam=exam,
        adjudicator=cast.adjudicator,
        labels=["AF"],
        note="f waves in V1",
    )
    link = link_of(decision)
    assert (link.consensus_state, link.consensus_labels) == (State.ADJUDICATED, ["AF"])
    services.adjudicate(
        campaign=campaign, exam=exam, adjudicator=cast.adjudicator, labels=["AFL"]
    )
    assert Adjudication.objects.get().version == 2
    history = LabelRevision.objects.filter(kind="adjudication").order_by("version")
    assert [(r.old_labels, r.new_labels) for r in history] == [
        (None, ["AF"]),
        (["AF"], ["AFL"]),
    ]


def test_adjudication_is_refused_for_exams_that_do_not_need_it(campaign, cast):
    read(campaign, cast.reader1, ["NORM"])
    decision = read(campaign, cast.reader2, ["NORM"])
    with pytest.raises(services.Conflict, match="does not need adjudication"):
        services.adjudicate(
            campaign=campaign,
            exam=decision.assignment.exam,
            adjudicator=cast.adjudicator,
            labels=["AF"],
        )
    assert not Adjudication.objects.exists()


def test_readers_cannot_adjudicate(campaign, cast):
    read(campaign, cast.reader1, ["AF"])
    decision = read(campaign, cast.reader2, ["AFL"])
    with pytest.raises(services.NotFound):
        services.adjudicate(
            campaign=campaign,
            exam=decision.assignment.exam,
            adjudicator=cast.reader1,
            labels=["AF"],
        )


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["AF", "NOPE"], "Unknown class code(s)"),
        (["SR", "AF"], "SR and AF are mutually exclusive"),
        (["RBBB", "IRBBB"], "RBBB and IRBBB are mutually exclusive"),
    ],
)
def test_invalid_labels_are_refused_and_nothing_is_stored(
    campaign, cast, labels, message
):
    assignment = services.claim_next(campaign=campaign, reader=cast.reader1)
    with pytest.raises(services.InvalidLabels, match=re.escape(message)):
        services.submit_decision(
            assignment=assignment, reader=cast.reader1, labels=labels
        )
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.CLAIMED
    assert not Decision.objects.exists() and not LabelRevision.objects.exists()


def test_unknown_quality_flags_are_refused(campaign, cast):
    assignment = services.claim_next(campaign=campaign, reader=cast.reader1)
    with pytest.raises(services.InvalidLabels, match="Unknown quality flag"):
        services.submit_decision(
            assignment=assignment,
            reader=cast.reader1,
            labels=["NORM"],
            quality=["blurry"],
        )


def test_a_second_submit_on_the_same_assignment_is_a_conflict(campaign, cast):
    decision = read(campaign, cast.reader1, ["NORM"])
    with pytest.raises(services.Conflict, match="already has your read"):
        services.submit_decision(
            assignment=decision.assignment, reader=cast.reader1, labels=["AF"]
        )
    assert Decision.objects.get().labels == ["NORM"]


def test_another_readers_assignment_is_not_found(campaign, cast):
    assignment = services.claim_next(campaign=campaign, reader=cast.reader1)
    with pytest.raises(services.NotFound):
        services.submit_decision(
            assignment=assignment, reader=cast.reader2, labels=["AF"]
        )


def test_edits_need_the_current_version_and_every_version_is_kept(campaign, cast):
    decision = read(campaign, cast.reader1, ["SR"], comment="first")
    decision = services.edit_decision(
        decision=decision, reader=cast.reader1, expected_version=1, labels=["SB"]
    )
    assert decision.version == 2
    with pytest.raises(services.PreconditionFailed, match="version 2, you sent 1"):
        services.edit_decision(
            decision=decision, reader=cast.reader1, expected_version=1, labels=["ST"]
        )
    decision.refresh_from_db()
    assert decision.labels == ["SB"]
    history = [
        (r.version, r.old_labels, r.new_labels, r.actor_id)
        for r in decision.revisions.order_by("version")
    ]
    assert history == [
        (1, None, ["SR"], cast.reader1.pk),
        (2, ["SR"], ["SB"], cast.reader1.pk),
    ]


def test_an_edit_before_the_other_reads_is_what_the_exam_settles_on(campaign, cast):
    first = read(campaign, cast.reader1, ["AF"])
    assert link_of(first).consensus_state == State.PENDING
    services.edit_decision(
        decision=first, reader=cast.reader1, expected_version=1, labels=["AFL"]
    )
    read(campaign, cast.reader2, ["AFL"])
    assert link_of(first).consensus_state == State.UNANIMOUS


def test_a_single_readers_read_stays_editable_and_resettles(cast):
    campaign = factories.make_campaign(
        cast, factories.make_exams(1), name="Solo", readers_per_exam=1
    )
    first = read(campaign, cast.reader1, ["AF"])
    assert link_of(first).consensus_labels == ["AF"]
    services.edit_decision(
        decision=first, reader=cast.reader1, expected_version=1, labels=["SR"]
    )
    assert link_of(first).consensus_labels == ["SR"]


def _settled_three_ways(campaign, cast):
    """Exams whose reads agree, disagree, and were adjudicated: reader1's reads."""
    agreed = read(campaign, cast.reader1, ["SR"])
    read(campaign, cast.reader2, ["SR"])
    contradicted = read(campaign, cast.reader1, ["AF"])
    read(campaign, cast.reader2, ["AFL"])
    adjudicated = read(campaign, cast.reader1, ["AF"])
    read(campaign, cast.reader2, ["SR"])
    services.adjudicate(
        campaign=campaign,
        exam=adjudicated.assignment.exam,
        adjudicator=cast.adjudicator,
        labels=["AF"],
    )
    states = [link_of(d).consensus_state for d in (agreed, contradicted, adjudicated)]
    assert states == [State.UNANIMOUS, State.NEEDS_ADJUDICATION, State.ADJUDICATED]
    return agreed, contradicted, adjudicated


def test_a_refused_edit_tells_nothing_of_the_other_reads(cast):
    """No blinding oracle: whatever the others read, a reader's edit of a
    settled exam gets the same answer, and a stale version always 412."""
    campaign = factories.make_campaign(cast, factories.make_exams(3), name="Oracle")
    client = APIClient()
    client.force_authenticate(cast.reader1)
    answers = []
    for decision in _settled_three_ways(campaign, cast):
        before = decision.labels
        url = f"/api/decisions/{decision.pk}/"
        body = {"labels": ["ST"]}
        stale = client.put(url, body, format="json", HTTP_IF_MATCH='"7"')
        current = client.put(url, body, format="json", HTTP_IF_MATCH='"1"')
        answers.append(
            (stale.status_code, current.status_code, current.json()["detail"])
        )
        decision.refresh_from_db()
        assert (decision.version, decision.labels) == (1, before)
    assert answers == [(412, 409, services.READS_COMPLETE)] * 3
    assert LabelRevision.objects.filter(version__gt=1).count() == 0


def test_an_expired_lease_returns_the_exam_to_the_queue(cast):
    campaign = factories.make_campaign(
        cast, factories.make_exams(1), readers_per_exam=1, lease_minutes=30
    )
    now = timezone.now()
    held = services.claim_next(campaign=campaign, reader=cast.reader1, now=now)
    assert services.claim_next(campaign=campaign, reader=cast.reader2, now=now) is None
    later = now + dt.timedelta(minutes=31)
    taken = services.claim_next(campaign=campaign, reader=cast.reader2, now=later)
    assert taken is not None and taken.exam_id == held.exam_id
    held.refresh_from_db()
    assert held.status == Assignment.Status.EXPIRED
    # The first reader's late submission is refused: the exam went to someone else.
    with pytest.raises(services.Conflict, match="expired"):
        services.submit_decision(assignment=held, reader=cast.reader1, labels=["AF"])
    assert campaign.exam_links.get().n_assigned == 1


def test_a_late_submission_counts_when_nobody_took_the_exam(cast):
    campaign = factories.make_campaign(
        cast, factories.make_exams(1), readers_per_exam=1
    )
    now = timezone.now()
    held = services.claim_next(campaign=campaign, reader=cast.reader1, now=now)
    services.expire_leases(campaign=campaign, now=now + dt.timedelta(hours=1))
    decision = services.submit_decision(
        assignment=held, reader=cast.reader1, labels=["AF"]
    )
    link = link_of(decision)
    assert (link.n_assigned, link.n_submitted, link.is_open) == (1, 1, False)


def test_majority_settles_three_readers_and_a_tie_needs_adjudication():
    codes = ["SR", "AF", "RBBB", "LAFB"]
    settled = consensus.settle_reads(
        [["AF", "RBBB"], ["AF"], ["AF", "RBBB"]], codes, majority=True
    )
    assert (settled.method, settled.labels) == (State.MAJORITY, ["AF", "RBBB"])
    tie = consensus.settle_reads(
        [["AF", "RBBB"], ["AF"], ["AF", "LAFB"], ["AF", "RBBB"]], codes, majority=True
    )
    assert tie.method == State.NEEDS_ADJUDICATION and tie.disagreeing == ["RBBB"]
    without = consensus.settle_reads([["AF", "RBBB"], ["AF"], ["AF", "RBBB"]], codes)
    assert without.method == State.NEEDS_ADJUDICATION


def test_policy_adjudicates_only_the_chosen_classes():
    codes = ["SR", "AF", "RBBB", "LAFB"]
    outside = consensus.settle_reads(
        [["AF", "LAFB"], ["AF"]], codes, adjudicate_only=["AF", "RBBB"]
    )
    assert (outside.method, outside.labels) == (State.POLICY, ["AF"])
    inside = consensus.settle_reads(
        [["AF", "RBBB"], ["AF", "LAFB"]], codes, adjudicate_only=["RBBB"]
    )
    assert (inside.method, inside.disagreeing) == (State.NEEDS_ADJUDICATION, ["RBBB"])


def test_creating_a_campaign_freezes_its_taxonomy(campaign):
    campaign.taxonomy.refresh_from_db()
    assert campaign.taxonomy.is_frozen


def test_campaign_needs_enough_readers_for_its_overlap(cast, taxonomy):
    with pytest.raises(services.WorkflowError, match="at least that many readers"):
        services.create_campaign(
            name="x",
            taxonomy=taxonomy,
            exams=[],
            readers=[cast.reader1],
            readers_per_exam=2,
        )


# --- Concurrency ----------------------------------------------------------------


def racers(cast, n: int) -> list:
    """Readers 1 and 2 and ``n - 2`` more."""
    extra = [factories.make_user(f"racer{i}", "reader") for i in range(n - 2)]
    return [cast.reader1, cast.reader2, *extra]


def race(campaign, readers, *, rounds: int = 1000) -> Counter:
    """Every reader claims and submits in its own thread/connection until done."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(readers))

    def work(reader):
        try:
            barrier.wait()
            for _ in range(rounds):
                a = services.claim_next(campaign=campaign, reader=reader)
                if a is None:
                    break
                services.submit_decision(assignment=a, reader=reader, labels=["NORM"])
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(r,)) for r in readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    return Counter(
        Assignment.objects.filter(campaign=campaign).values_list("exam_id", flat=True)
    )


@pytest.mark.both_databases
@pytest.mark.django_db(transaction=True)
def test_eight_readers_racing_over_200_exams_give_each_exactly_two_reads():
    cast = factories.make_cast()
    readers = racers(cast, 8)
    exams = factories.make_exams(200)
    campaign = factories.make_campaign(cast, exams, name="Race")
    campaign.readers.set(readers)
    per_exam = race(campaign, readers)
    assert set(per_exam) == {e.pk for e in exams}  # none missed
    assert set(per_exam.values()) == {2}  # none over-assigned
    pairs = Assignment.objects.values_list("exam_id", "reader_id")
    assert len(pairs) == len(set(pairs)) == 400  # no reader twice on an exam
    assert Decision.objects.count() == 400
    assert set(campaign.exam_links.values_list("n_assigned", "n_submitted")) == {(2, 2)}
    assert not campaign.exam_links.filter(is_open=True).exists()


@pytest.mark.both_databases
@pytest.mark.django_db(transaction=True)
def test_readers_racing_with_calibration_exams_and_rereads_keep_every_count():
    cast = factories.make_cast()
    readers = racers(cast, 6)
    exams = factories.make_exams(126)
    campaign = factories.make_campaign(
        cast, exams, name="Race", calibration_every=5, reread_every=6
    )
    campaign.readers.set(readers)
    gold = exams[120:]
    services.set_reference_labels(
        campaign=campaign, actor=cast.manager, labels=[(e, ["NORM"]) for e in gold]
    )
    services.set_calibration_exams(campaign=campaign, exams=gold)
    race(campaign, readers)
    reads = Assignment.objects.filter(campaign=campaign)
    pool = Counter(reads.filter(kind="read").values_list("exam_id", flat=True))
    assert pool == {e.pk: 2 for e in exams[:120]}  # the pool, exactly two reads each
    for reader in readers:
        # Claims come one after another (no read ahead): claim k is position k.
        mine = reads.filter(reader=reader)
        due = sum(
            checks.due(campaign, reader.pk, p) == "calibration"
            for p in range(mine.count())
        )
        calibration = mine.filter(kind="calibration")
        assert calibration.count() == min(len(gold), due), reader
        assert {a.exam_id for a in calibration} <= {e.pk for e in gold}
    assert reads.filter(kind="reread").exists()
    triples = reads.values_list("exam_id", "reader_id", "kind")
    assert len(triples) == len(set(triples))
    assert Decision.objects.count() == reads.count()
    assert set(
        campaign.exam_links.filter(exam__in=gold).values_list(
            "n_assigned", "n_submitted", "consensus_state"
        )
    ) == {(0, 0, "calibration")}
    campaign.refresh_from_db()
    assert campaign.n_reads_submitted == reads.count()
    assert campaign.n_claims_open == 0


def _waiting_for_a_lock() -> int:
    """Sessions of this database that wait for a lock (read afresh each time)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_claim_that_waits_for_an_exam_in_flight_keeps_no_lock_on_it(postgres):
    """The last open exam is held by a claim in flight; the next reader's claim
    waits for it and, when that claim takes the last slot, finds nothing left.
    It must not keep the row locked: two waiting claims that each kept rows
    they had waited for then waited for each other (a deadlock under load)."""
    cast = factories.make_cast()
    exams = factories.make_exams(1)
    campaign = factories.make_campaign(cast, exams, readers_per_exam=1)
    exam = exams[0].pk
    held, go, claimed, checked = (threading.Event() for _ in range(4))
    outcome: dict = {}

    def in_flight():  # another claim of the exam, not yet committed
        try:
            with transaction.atomic():
                sql.lock_link(campaign.pk, exam)
                held.set()
                go.wait(10)
                sql.take_slot(campaign.pk, exam, 1)
        finally:
            connection.close()

    def waiting_claim():
        try:
            held.wait(10)
            with transaction.atomic():  # hold the claim's locks until checked
                outcome["claim"] = services.claim_next(
                    campaign=campaign, reader=cast.reader1
                )
                claimed.set()
                checked.wait(10)
        except BaseException as exc:
            outcome["error"] = exc
            claimed.set()
        finally:
            connection.close()

    threads = [
        threading.Thread(target=in_flight),
        threading.Thread(target=waiting_claim),
    ]
    for thread in threads:
        thread.start()
    held.wait(10)
    deadline = time.monotonic() + 10
    while not _waiting_for_a_lock() and time.monotonic() < deadline:
        time.sleep(0.01)
    go.set()
    claimed.wait(10)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM annotator_campaignexam WHERE campaign_id = %s "
                "AND exam_id = %s FOR NO KEY UPDATE NOWAIT",
                [campaign.pk, exam],
            )
    finally:
        checked.set()
        for thread in threads:
            thread.join(timeout=30)
    assert "error" not in outcome, outcome
    assert outcome["claim"] is None


def test_claiming_ahead_holds_at_most_one_more_exam(campaign, cast):
    first = services.claim_next(campaign=campaign, reader=cast.reader1)
    ahead = services.claim_next(campaign=campaign, reader=cast.reader1, after=first.pk)
    assert ahead.pk != first.pk and ahead.exam_id != first.exam_id
    # Asking again gives the same two claims, never a third.
    again = services.claim_next(campaign=campaign, reader=cast.reader1, after=first.pk)
    assert again.pk == ahead.pk
    back = services.claim_next(campaign=campaign, reader=cast.reader1, after=ahead.pk)
    assert back.pk == first.pk
    assert services.claim_next(campaign=campaign, reader=cast.reader1).pk == first.pk
    assert Assignment.objects.filter(reader=cast.reader1, status="claimed").count() == 2
    # Submitting the first makes the prefetched claim the current one.
    services.submit_decision(assignment=first, reader=cast.reader1, labels=["NORM"])
    assert services.claim_next(campaign=campaign, reader=cast.reader1).pk == ahead.pk


def test_a_single_reader_campaign_marks_reads_single_not_unanimous(cast):
    campaign = factories.make_campaign(
        cast, factories.make_exams(1), readers_per_exam=1
    )
    decision = read(campaign, cast.reader1, ["AF", "PVC"])
    link = link_of(decision)
    assert (link.consensus_state, link.consensus_labels) == ("single", ["AF", "PVC"])


def test_settle_reads_follows_the_batch_rule_of_consensus_labels():
    codes = ["SR", "AF", "RBBB", "LAFB"]
    reads = [["AF", "RBBB"], ["AF"], ["AF", "RBBB"]]
    import numpy as np

    tensor = np.zeros((1, 3, 4), dtype=np.int8)
    for j, chosen in enumerate(reads):
        tensor[0, j, [codes.index(c) for c in chosen]] = 1
    labels, method = consensus.consensus_labels(tensor, majority=True)
    settled = consensus.settle_reads(reads, codes, majority=True)
    assert settled.labels == [codes[k] for k in np.flatnonzero(labels[0] == 1)]
    assert settled.method == consensus.Method(int(method[0])).name.lower()
