"""Least privilege in the database: the application's role cannot rewrite the
label history, tried as an attacker holding that role's connection would."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from annotator import services
from annotator.models import Decision, LabelRevision
from tests import factories

ROLE = "ecg_app_test"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def as_app(postgres):
    """A connection to the test database as the application role."""
    call_command("grant_app_role", ROLE)
    settings = connection.settings_dict
    conn = psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=ROLE,
        autocommit=True,
    )
    yield conn
    conn.close()


@pytest.fixture
def a_read(cast):
    campaign = factories.make_campaign(cast, factories.make_exams(1))
    claim = services.claim_next(campaign=campaign, reader=cast.reader1)
    return services.submit_decision(
        assignment=claim, reader=cast.reader1, labels=["SR"]
    )


def refused(conn, sql: str, *params) -> str:
    with pytest.raises(psycopg.Error) as failure:
        conn.execute(sql, params or None)
    return str(failure.value)


@pytest.mark.parametrize(
    "attack",
    [
        "TRUNCATE annotator_labelrevision",
        "TRUNCATE annotator_labelrevision CASCADE",
        "ALTER TABLE annotator_labelrevision DISABLE TRIGGER ALL",
        "ALTER TABLE annotator_labelrevision DISABLE TRIGGER "
        "annotator_labelrevision_append_only",
        "DROP TRIGGER annotator_labelrevision_append_only ON annotator_labelrevision",
        "DROP TRIGGER annotator_decision_change_recorded ON annotator_decision",
        "CREATE OR REPLACE FUNCTION annotator_label_history_append_only() "
        "RETURNS trigger AS $$ BEGIN RETURN NEW; END; $$ LANGUAGE plpgsql",
        "SET session_replication_role = replica",
        "DROP TABLE annotator_labelrevision",
        "ALTER TABLE annotator_labelrevision OWNER TO " + ROLE,
        "CREATE TABLE annotator_shadow (id int)",
    ],
)
def test_the_app_role_cannot_disarm_the_history(as_app, a_read, attack):
    assert "permission denied" in refused(as_app, attack) or "must be owner" in (
        refused(as_app, attack)
    )
    assert LabelRevision.objects.filter(decision=a_read).count() == 1


def test_the_app_role_cannot_update_or_delete_history_rows(as_app, a_read):
    for attack in (
        "UPDATE annotator_labelrevision SET new_labels = '[\"AF\"]'",
        "DELETE FROM annotator_labelrevision",
    ):
        assert "permission denied" in refused(as_app, attack)
    (revision,) = LabelRevision.objects.filter(decision=a_read)
    assert revision.new_labels == ["SR"]


def test_a_back_dated_revision_gets_the_database_clock(as_app, a_read):
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM auth_user WHERE username = 'reader1'")
        (actor,) = cursor.fetchone()
    as_app.execute(
        "INSERT INTO annotator_labelrevision (kind, decision_id, campaign_id, "
        "exam_id, actor_id, version, new_labels, new_quality, note, source, "
        "created_at) VALUES ('decision', %s, %s, %s, %s, 2, '[\"AF\"]', '[]', '', "
        "'api', '2001-01-01T00:00:00Z')",
        (a_read.pk, a_read.assignment.campaign_id, a_read.assignment.exam_id, actor),
    )
    forged = LabelRevision.objects.get(decision=a_read, version=2)
    assert forged.created_at > before


def test_a_decision_changed_behind_the_service_is_refused(as_app, a_read):
    message = refused(
        as_app,
        "UPDATE annotator_decision SET labels = '[\"AF\"]', version = version + 1 "
        "WHERE id = %s",
        a_read.pk,
    )
    assert "labels change only with their entry in the label history" in message
    a_read.refresh_from_db()
    assert (a_read.labels, a_read.version) == (["SR"], 1)


def test_the_app_role_can_do_the_applications_work(as_app, a_read, cast):
    """Read and write where the application does, including an edit through
    the history as the services make it."""
    (count,) = as_app.execute("SELECT count(*) FROM annotator_exam").fetchone()
    assert count == 1
    with as_app.transaction():
        as_app.execute(
            "UPDATE annotator_decision SET labels = '[\"SB\"]', version = 2 "
            "WHERE id = %s",
            (a_read.pk,),
        )
        as_app.execute(
            "INSERT INTO annotator_labelrevision (kind, decision_id, campaign_id, "
            "exam_id, actor_id, version, old_labels, new_labels, new_quality, note, "
            "source, created_at) VALUES ('decision', %s, %s, %s, %s, 2, '[\"SR\"]', "
            "'[\"SB\"]', '[]', '', 'api', now())",
            (
                a_read.pk,
                a_read.assignment.campaign_id,
                a_read.assignment.exam_id,
                cast.reader1.pk,
            ),
        )
    assert Decision.objects.get(pk=a_read.pk).labels == ["SB"]


def test_the_command_refuses_the_owner_and_odd_names(postgres):
    with pytest.raises(CommandError, match="must not be the owner"):
        call_command("grant_app_role", connection.settings_dict["USER"])
    with pytest.raises(CommandError, match="not a plain role name"):
        call_command("grant_app_role", 'x"; DROP TABLE annotator_exam; --')
