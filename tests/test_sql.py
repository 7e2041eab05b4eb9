"""The hot-path statements of ``services/sql.py``, each on SQLite and PostgreSQL.

``make test`` runs this file on the configured database and, when that is
PostgreSQL, again on SQLite (the ``both_databases`` marker).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator import services
from annotator.models import Assignment, Campaign, CampaignExam, CampaignReader
from annotator.services import sql
from tests import factories

pytestmark = [pytest.mark.both_databases, pytest.mark.django_db]

NOW = dt.datetime(2026, 5, 4, 10, 30, 15, 123456, tzinfo=dt.UTC)


@pytest.fixture
def pilot(cast):
    return factories.make_campaign(cast, factories.make_exams(4), readers_per_exam=2)


def exam_ids(campaign: Campaign) -> list[int]:
    links = campaign.exam_links.order_by("exam_id")
    return list(links.values_list("exam_id", flat=True))


def test_lock_member_is_the_reader_row_or_none(pilot, cast):
    member = sql.lock_member(pilot.pk, cast.reader1.pk)
    assert isinstance(member, CampaignReader)
    assert (member.campaign_id, member.user_id, member.cursor) == (
        pilot.pk,
        cast.reader1.pk,
        0,
    )
    assert sql.lock_member(pilot.pk, cast.adjudicator.pk) is None
    assert sql.lock_member(pilot.pk + 999, cast.reader1.pk) is None


def test_lock_member_of_claim_only_for_the_claims_reader(pilot, cast):
    claim = services.claim_next(campaign=pilot, reader=cast.reader1)
    member = CampaignReader.objects.get(campaign=pilot, user=cast.reader1)
    assert sql.lock_member_of_claim(claim.pk, cast.reader1.pk) == member.pk
    # reader2 is a member of the campaign, but the claim is not theirs to lock
    # through: the row returned would be reader2's, which the caller then
    # finds holds no such assignment. A stranger gets nothing.
    assert sql.lock_member_of_claim(claim.pk, cast.outsider.pk) is None
    assert sql.lock_member_of_claim(claim.pk + 999, cast.reader1.pk) is None


def test_update_member_counts_and_never_moves_the_cursor_down(pilot, cast):
    member = CampaignReader.objects.get(campaign=pilot, user=cast.reader1)
    sql.update_member(member.pk, cursor=40)
    sql.update_member(member.pk, submitted=2, cursor=7)
    member.refresh_from_db()
    assert (member.n_submitted, member.cursor) == (2, 40)


def test_stale_claims_are_the_claimed_ones_past_their_lease(pilot, cast):
    first = exam_ids(pilot)[0]
    old = Assignment.objects.create(
        campaign=pilot,
        exam_id=first,
        reader=cast.reader1,
        claimed_at=NOW - dt.timedelta(hours=2),
        lease_expires_at=NOW - dt.timedelta(seconds=1),
    )
    Assignment.objects.create(  # still leased
        campaign=pilot,
        exam_id=first,
        reader=cast.reader2,
        claimed_at=NOW,
        lease_expires_at=NOW + dt.timedelta(minutes=5),
    )
    assert sql.stale_claims(pilot.pk, NOW, 10) == [(old.pk, first, "read")]
    assert sql.stale_claims(pilot.pk, NOW, 0) == []
    Assignment.objects.filter(pk=old.pk).update(status=Assignment.Status.SUBMITTED)
    assert sql.stale_claims(pilot.pk, NOW, 10) == []


def test_renew_oldest_claim_renews_the_oldest_unfinished_claim(pilot, cast):
    a, b = exam_ids(pilot)[:2]
    older = sql.insert_claim(pilot.pk, a, cast.reader1.pk, NOW, NOW)
    newer = sql.insert_claim(
        pilot.pk, b, cast.reader1.pk, NOW + dt.timedelta(seconds=1), NOW
    )
    lease = NOW + dt.timedelta(minutes=30)
    renewed = sql.renew_oldest_claim(pilot.pk, cast.reader1.pk, lease, besides=0)
    assert renewed.pk == older.pk
    assert renewed.lease_expires_at == lease  # an aware datetime on both engines
    assert renewed.claimed_at == NOW
    assert sql.renew_oldest_claim(
        pilot.pk, cast.reader1.pk, lease, besides=older.pk
    ).pk == (newer.pk)
    Assignment.objects.filter(pk__in=[older.pk, newer.pk]).update(
        status=Assignment.Status.SUBMITTED
    )
    assert sql.renew_oldest_claim(pilot.pk, cast.reader1.pk, lease, besides=0) is None
    assert sql.renew_oldest_claim(pilot.pk, cast.reader2.pk, lease, besides=0) is None


def test_open_exams_skip_what_the_reader_holds(pilot, cast):
    ids = exam_ids(pilot)
    links = dict(
        CampaignExam.objects.filter(campaign=pilot).values_list("exam_id", "pk")
    )
    sql.insert_claim(pilot.pk, ids[0], cast.reader1.pk, NOW, NOW)
    expired = sql.insert_claim(pilot.pk, ids[1], cast.reader1.pk, NOW, NOW)
    Assignment.objects.filter(pk=expired.pk).update(status=Assignment.Status.EXPIRED)
    CampaignExam.objects.filter(campaign=pilot, exam_id=ids[3]).update(is_open=False)
    found = sql.open_exams(pilot.pk, cast.reader1.pk, after=0, limit=8)
    assert found == [(links[i], i) for i in (ids[1], ids[2])]
    assert sql.open_exams(pilot.pk, cast.reader1.pk, after=ids[1], limit=8) == [
        (links[ids[2]], ids[2])
    ]
    assert sql.open_exams(pilot.pk, cast.reader2.pk, after=0, limit=2) == [
        (links[ids[0]], ids[0]),
        (links[ids[1]], ids[1]),
    ]


def test_take_slot_counts_up_to_the_overlap_and_closes_the_exam(pilot):
    exam = exam_ids(pilot)[0]
    link = CampaignExam.objects.filter(campaign=pilot, exam_id=exam)
    assert sql.take_slot(pilot.pk, exam, 2)
    assert link.values_list("n_assigned", "is_open").get() == (1, True)
    assert sql.take_slot(pilot.pk, exam, 2)
    assert link.values_list("n_assigned", "is_open").get() == (2, False)
    assert not sql.take_slot(pilot.pk, exam, 2)
    assert link.values_list("n_assigned", "is_open").get() == (2, False)
    assert not sql.take_slot(pilot.pk, 10**9, 2)


def test_insert_claim_returns_the_stored_row_and_keeps_the_unique_rule(pilot, cast):
    exam = exam_ids(pilot)[0]
    claim = sql.insert_claim(
        pilot.pk, exam, cast.reader1.pk, NOW, NOW + dt.timedelta(minutes=30)
    )
    stored = Assignment.objects.get(pk=claim.pk)
    for field in ("campaign_id", "exam_id", "reader_id", "status", "claimed_at"):
        assert getattr(claim, field) == getattr(stored, field)
    assert claim.lease_expires_at == stored.lease_expires_at
    assert claim.submitted_at is None
    assert claim.status == Assignment.Status.CLAIMED
    assert claim.kind == Assignment.Kind.READ
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.insert_claim(pilot.pk, exam, cast.reader1.pk, NOW, NOW)
    assert Assignment.objects.filter(campaign=pilot).count() == 1
    # A re-read of the exam by the same reader is another kind of claim.
    again = sql.insert_claim(
        pilot.pk, exam, cast.reader1.pk, NOW, NOW, Assignment.Kind.REREAD
    )
    assert Assignment.objects.get(pk=again.pk).kind == Assignment.Kind.REREAD


def test_lock_link_and_mark_submitted(pilot, cast):
    exam = exam_ids(pilot)[0]
    link = sql.lock_link(pilot.pk, exam)
    assert isinstance(link, CampaignExam)
    assert (link.exam_id, link.n_assigned, link.consensus_state) == (
        exam,
        0,
        CampaignExam.ConsensusState.PENDING,
    )
    claim = sql.insert_claim(pilot.pk, exam, cast.reader1.pk, NOW, NOW)
    later = NOW + dt.timedelta(minutes=3)
    sql.mark_submitted(claim.pk, later)
    claim.refresh_from_db()
    assert (claim.status, claim.submitted_at) == (Assignment.Status.SUBMITTED, later)


def test_add_to_campaign_moves_only_counters(pilot):
    before = Campaign.objects.values_list("n_claims_open", "n_reads_submitted").get(
        pk=pilot.pk
    )
    sql.add_to_campaign(pilot.pk, {"n_claims_open": 3, "n_reads_submitted": -0})
    sql.add_to_campaign(pilot.pk, {"n_claims_open": -1})
    after = Campaign.objects.values_list("n_claims_open", "n_reads_submitted").get(
        pk=pilot.pk
    )
    assert after == (before[0] + 2, before[1])
    for hostile in ("name", "n_exams = 0; DROP TABLE annotator_exam; --", "id"):
        with pytest.raises(ValueError, match="Not a campaign counter"):
            sql.add_to_campaign(pilot.pk, {hostile: 1})
    pilot.refresh_from_db()
    assert (pilot.n_claims_open, pilot.name) == (before[0] + 2, "Pilot")


def test_a_claim_is_blinded_as_the_campaign_says_whoever_reads(cast):
    """A manager who reads in a blinded campaign reads blinded; as a manager
    (the exam list, the adjudication page) they see the statements."""
    exam = factories.make_exam("E1", machine_statements=["Sinus rhythm"])
    campaign = services.create_campaign(
        name="Blind",
        taxonomy=factories.default_taxonomy(),
        exams=[exam],
        readers=[cast.manager],
        created_by=cast.manager,
        readers_per_exam=1,
        show_machine_statements=False,
    )
    assert campaign.shows_machine_statements_to(cast.manager)
    assert not campaign.shows_machine_statements_to(cast.manager, reading=True)
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(cast.manager)
    claim = client.post(f"/api/campaigns/{campaign.pk}/next/").json()
    assert claim["exam"]["machine_statements"] is None


def test_a_readers_open_claims_are_counted(pilot, cast):
    """The caller's own open claims in the campaign list follow their claims."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(cast.reader1)

    def mine() -> int:
        row = client.get(f"/api/campaigns/{pilot.pk}/").json()
        return row["progress"]["my_claims_open"]

    assert mine() == 0
    first = services.claim_next(campaign=pilot, reader=cast.reader1)
    assert mine() == 1
    services.claim_next(campaign=pilot, reader=cast.reader1, after=first.pk)
    assert mine() == 2
    services.submit_decision(assignment=first, reader=cast.reader1, labels=[])
    assert mine() == 1
    listed = client.get("/api/campaigns/").json()["results"]
    assert [c["progress"]["my_claims_open"] for c in listed] == [1]
    services.expire_leases(campaign=pilot, now=timezone.now() + dt.timedelta(days=1))
    assert mine() == 0
