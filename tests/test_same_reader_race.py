"""Several sessions of one reader (tabs, a script beside the browser) at once."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import close_old_connections, connection, transaction
from django.test import Client

from annotator.models import Assignment, Decision
from tests import factories

SESSIONS_PER_READER = 4


def session(campaign, reader, statuses: Counter, errors: list, barrier) -> None:
    """Claim (sometimes ahead) and submit through the API until nothing is left."""
    client = Client()
    client.force_login(reader)
    url = f"/api/campaigns/{campaign.pk}/next/"
    try:
        barrier.wait()
        previous = None
        for step in range(1000):
            body = {"after": previous} if previous and step % 2 else {}
            claim = client.post(url, body, content_type="application/json")
            statuses[("next", claim.status_code)] += 1
            if claim.status_code == 204:
                break
            if claim.status_code != 200:
                errors.append(claim.content[:300])
                break
            assignment = claim.json()["assignment"]
            submitted = client.post(
                f"/api/assignments/{assignment}/decision/",
                {"labels": ["NORM"]},
                content_type="application/json",
            )
            statuses[("submit", submitted.status_code)] += 1
            if submitted.status_code not in {201, 409}:
                errors.append(submitted.content[:300])
                break
            previous = assignment
    except BaseException as exc:  # reported by the test
        errors.append(repr(exc))
    finally:
        close_old_connections()
        connection.close()


@pytest.mark.both_databases
@pytest.mark.django_db(transaction=True)
def test_four_sessions_of_each_of_two_readers_never_fail_and_read_each_exam_once():
    cast = factories.make_cast()
    exams = factories.make_exams(200)
    campaign = factories.make_campaign(cast, exams, name="Tabs")
    statuses: Counter = Counter()
    errors: list = []
    readers = [cast.reader1, cast.reader2]
    barrier = threading.Barrier(SESSIONS_PER_READER * len(readers))
    threads = [
        threading.Thread(
            target=session, args=(campaign, reader, statuses, errors, barrier)
        )
        for reader in readers
        for _ in range(SESSIONS_PER_READER)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:3]
    assert not [key for key in statuses if key[1] >= 500], statuses
    for reader in readers:
        reads = Decision.objects.filter(reader=reader).values_list(
            "assignment__exam_id", flat=True
        )
        assert sorted(reads) == sorted(e.pk for e in exams), reader
    assert Assignment.objects.filter(status="claimed").count() == 0
    campaign.refresh_from_db()
    assert campaign.n_reads_submitted == 400 and campaign.n_claims_open == 0
    assert campaign.n_unanimous == 200


@pytest.mark.django_db(transaction=True)
def test_an_exam_locked_by_a_claim_in_flight_is_not_the_end_of_the_campaign(
    postgres,
):
    """The last open exam, locked by another reader's unfinished claim, is
    waited for, not skipped: the claim in flight leaves it room for one more
    reader, so "nothing left" (204) would strand it with one read."""
    from annotator import services

    cast = factories.make_cast()
    campaign = factories.make_campaign(cast, factories.make_exams(1), name="Last")
    holding = threading.Event()
    release = threading.Event()
    got: dict = {}

    def first_reader() -> None:
        try:
            with transaction.atomic():
                got["first"] = services.claim_next(
                    campaign=campaign, reader=cast.reader1
                )
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    def second_reader() -> None:
        try:
            got["second"] = services.claim_next(campaign=campaign, reader=cast.reader2)
        finally:
            connection.close()

    first = threading.Thread(target=first_reader)
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=second_reader)
    second.start()
    # Let the second claim reach the locked row before the first one commits.
    for _ in range(300):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0] or not second.is_alive():
                break
        time.sleep(0.01)
    release.set()
    first.join(30)
    second.join(30)
    exam = campaign.exam_links.get().exam_id
    assert got["first"].exam_id == exam
    assert got["second"] is not None and got["second"].exam_id == exam
