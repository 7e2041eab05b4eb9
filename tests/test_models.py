"""Invariants the database itself enforces, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from annotator.models import (
    AGE_CAP,
    Assignment,
    Campaign,
    CampaignExam,
    Decision,
    Job,
    LabelRevision,
    PatientLink,
)
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.both_databases]


@pytest.fixture
def campaign(cast):
    return factories.make_campaign(cast, factories.make_exams(2))


def test_exam_id_is_unique_within_a_dataset_but_not_across(db):
    factories.make_exam("E1", dataset="a")
    factories.make_exam("E1", dataset="b")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_exam("E1", dataset="a", signal_key="other")


@pytest.mark.parametrize(
    "fields",
    [{"sampling_rate": 0}, {"n_samples": 0}, {"age": AGE_CAP + 1}],
    ids=["rate0", "no-samples", "age-over-cap"],
)
def test_exam_rejects_impossible_values(db, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.make_exam("bad", **fields)


def test_patient_pseudonym_links_are_unique(db):
    PatientLink.objects.create(dataset="d", source_patient_id="p1", pseudonym="X1")
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientLink.objects.create(dataset="d", source_patient_id="p1", pseudonym="X2")
    with pytest.raises(IntegrityError), transaction.atomic():
        PatientLink.objects.create(dataset="d", source_patient_id="p2", pseudonym="X1")


def test_one_assignment_per_campaign_exam_and_reader(campaign, cast):
    exam = campaign.exams.first()
    Assignment.objects.create(campaign=campaign, exam=exam, reader=cast.reader1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(campaign=campaign, exam=exam, reader=cast.reader1)
    Assignment.objects.create(campaign=campaign, exam=exam, reader=cast.reader2)
    assert Assignment.objects.filter(campaign=campaign, exam=exam).count() == 2


def test_one_decision_per_assignment(campaign, cast):
    a = Assignment.objects.create(
        campaign=campaign, exam=campaign.exams.first(), reader=cast.reader1
    )
    Decision.objects.create(assignment=a, labels=["AF"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(assignment=a, labels=["SR"])
    assert Decision.objects.get(assignment=a).labels == ["AF"]


def test_an_exam_joins_a_campaign_once(campaign):
    exam = campaign.exams.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignExam.objects.create(campaign=campaign, exam=exam)


def test_campaign_needs_at_least_one_reader_per_exam(cast, taxonomy):
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(name="zero", taxonomy=taxonomy, readers_per_exam=0)


def test_submitted_reads_never_exceed_assigned(campaign):
    link = campaign.exam_links.first()
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignExam.objects.filter(pk=link.pk).update(n_submitted=1, n_assigned=0)


def test_job_progress_stays_between_0_and_100(db):
    Job.objects.create(kind=Job.Kind.EXPORT, progress=100)
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(kind=Job.Kind.EXPORT, progress=101)


def make_revision(campaign, cast) -> LabelRevision:
    a = Assignment.objects.create(
        campaign=campaign, exam=campaign.exams.first(), reader=cast.reader1
    )
    d = Decision.objects.create(assignment=a, labels=["AF"])
    return LabelRevision.objects.create(
        kind=LabelRevision.Kind.DECISION,
        decision=d,
        campaign=campaign,
        exam=a.exam,
        actor=cast.reader1,
        version=1,
        new_labels=["AF"],
    )


def test_label_history_rows_cannot_be_changed_or_deleted_through_the_orm(
    campaign, cast
):
    revision = make_revision(campaign, cast)
    revision.new_labels = ["SR"]
    with pytest.raises(ValidationError, match="append-only"):
        revision.save()
    with pytest.raises(ValidationError, match="append-only"):
        revision.delete()
    assert LabelRevision.objects.get(pk=revision.pk).new_labels == ["AF"]


def test_a_revision_must_point_at_the_object_of_its_kind(campaign, cast):
    with pytest.raises(IntegrityError), transaction.atomic():
        LabelRevision.objects.create(
            kind=LabelRevision.Kind.ADJUDICATION,
            campaign=campaign,
            exam=campaign.exams.first(),
            actor=cast.reader1,
            version=1,
            new_labels=[],
        )


def test_postgres_trigger_refuses_update_and_delete_of_history(
    postgres, campaign, cast
):
    revision = make_revision(campaign, cast)
    statements = [
        "UPDATE annotator_labelrevision SET new_labels = '[\"SR\"]' WHERE id = %s",
        "DELETE FROM annotator_labelrevision WHERE id = %s",
        "DELETE FROM annotator_labelrevision",
    ]
    for sql in statements:
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [revision.pk] if "%s" in sql else [])
    assert LabelRevision.objects.get(pk=revision.pk).new_labels == ["AF"]
