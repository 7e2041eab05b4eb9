"""Several sessions of one reader (tabs, a script beside the browser) at once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import close_old_connections, connection
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
