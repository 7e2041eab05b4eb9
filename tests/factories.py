"""Deterministic factories: a fixed cast of users and small domain objects."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from django.contrib.auth.models import Group, User

from annotator import services
from annotator.models import Campaign, Exam, TaxonomyVersion
from annotator.taxonomy import load_default_taxonomy
from annotator.waveforms import STANDARD_LEADS

PASSWORD = "correct horse battery staple"


@dataclass
class Cast:
    reader1: User
    reader2: User
    adjudicator: User
    manager: User
    outsider: User


def make_user(username: str, *roles: str) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    for role in roles:
        # get_or_create: transactional tests flush the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def make_cast() -> Cast:
    return Cast(
        reader1=make_user("reader1", "reader"),
        reader2=make_user("reader2", "reader"),
        adjudicator=make_user("adjudicator", "adjudicator"),
        manager=make_user("manager", "manager"),
        outsider=make_user("outsider", "reader"),
    )


def default_taxonomy() -> TaxonomyVersion:
    return load_default_taxonomy()


def make_exam(exam_id: str = "E1", *, dataset: str = "test", **fields) -> Exam:
    """An exam row without a stored signal (workflow tests do not read signals)."""
    key = hashlib.sha256(f"{dataset}/{exam_id}".encode()).hexdigest()
    values = {
        "patient_pseudonym": "P-" + key[:12],
        "sampling_rate": 500.0,
        "n_samples": 5000,
        "lead_names": list(STANDARD_LEADS),
        "signal_key": f"signals/test/{key}.npy",
        "signal_sha256": key,
        "source_format": "npy",
    }
    values.update(fields)
    return Exam.objects.create(dataset=dataset, exam_id=exam_id, **values)


def make_exams(n: int, *, dataset: str = "test") -> list[Exam]:
    return [make_exam(f"E{i:05d}", dataset=dataset) for i in range(n)]


def make_campaign(
    cast: Cast, exams: list[Exam], *, name: str = "Pilot", **fields
) -> Campaign:
    """Readers 1 and 2, the adjudicator, created by the manager, via the service."""
    return services.create_campaign(
        name=name,
        taxonomy=default_taxonomy(),
        exams=exams,
        readers=[cast.reader1, cast.reader2],
        adjudicators=[cast.adjudicator],
        created_by=cast.manager,
        **fields,
    )


def command_campaign(name: str, *options: str) -> None:
    """``create_campaign NAME`` over dataset "test" for reader1, one reader per
    exam, with more ``options``; CommandError when refused."""
    import io

    from django.core.management import call_command

    call_command(
        "create_campaign",
        name,
        "--dataset",
        "test",
        "--readers",
        "reader1",
        "--readers-per-exam",
        "1",
        *options,
        stdout=io.StringIO(),
    )


def sine_signal(n_leads: int = 12, n_samples: int = 5000, seed: int = 0) -> np.ndarray:
    """A small deterministic int16 signal in microvolts (not an ECG)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples)
    base = 500 * np.sin(2 * np.pi * t / 500)
    return (base + rng.integers(-20, 20, size=(n_leads, n_samples))).astype(np.int16)


def seed_reads(campaign: Campaign, readers: list[User], labels_for) -> None:
    """Submitted reads for every exam of a campaign, in bulk (large fixtures).

    ``labels_for(exam_index, reader_index)`` gives the labels. Consensus states
    are then settled by the workflow's own rule, exam by exam.
    """
    from django.utils import timezone

    from annotator.models import Assignment, CampaignExam, Decision, LabelRevision

    now = timezone.now()
    links = list(campaign.exam_links.order_by("exam_id"))
    assignments = Assignment.objects.bulk_create(
        Assignment(
            campaign=campaign,
            exam_id=link.exam_id,
            reader=reader,
            status=Assignment.Status.SUBMITTED,
            submitted_at=now,
        )
        for link in links
        for reader in readers
    )
    decisions = Decision.objects.bulk_create(
        Decision(
            assignment=a,
            reader=a.reader,
            labels=labels_for(i // len(readers), i % len(readers)),
        )
        for i, a in enumerate(assignments)
    )
    LabelRevision.objects.bulk_create(
        LabelRevision(
            kind="decision",
            decision=d,
            campaign=campaign,
            exam_id=a.exam_id,
            actor=a.reader,
            version=1,
            new_labels=d.labels,
            source="test",
        )
        for a, d in zip(assignments, decisions, strict=True)
    )
    CampaignExam.objects.filter(campaign=campaign).update(
        n_assigned=len(readers), n_submitted=len(readers), is_open=False
    )
    tally = services.Tally()
    for link in CampaignExam.objects.filter(campaign=campaign).select_related(
        "campaign"
    ):
        services.settle_exam(link, tally)
    services.recount_progress(campaign)
