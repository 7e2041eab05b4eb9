"""Creating and changing campaigns: their exams, readers, adjudicators and options.

Every entry point (the API, the admin, ``create_campaign``, ``import_readings``,
the demo) parses its input and calls these. Field rules live in
``Campaign.clean()``; the rules that look at other rows live here, in
``check_campaign``, which the admin's form also calls to show a refusal next to
its field before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from annotator.models import Assignment, Campaign, CampaignExam, CampaignReader, Exam
from annotator.services.claims import release_claims
from annotator.services.errors import WorkflowError
from annotator.services.locks import for_update
from annotator.services.progress import Tally

CREATE_BATCH = 5000
# Options a campaign takes at creation and may change later (with the checks
# of ``check_campaign``).
OPTIONS = (
    "description",
    "taxonomy",
    "readers_per_exam",
    "show_machine_statements",
    "show_machine_measurements",
    "show_acquisition_date",
    "show_machine_readings",
    "reference_source",
    "display_filters",
    "adjudication_policy",
    "adjudication_codes",
    "majority_vote",
    "lease_minutes",
    "min_read_ms",
    "calibration_every",
    "reread_every",
    "status",
)


class CampaignRefused(WorkflowError):
    """A campaign change the rules refuse; ``field`` names what to correct."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _ids(users: Iterable[Any]) -> set[Any]:
    return {u.pk for u in users}


def check_campaign(
    campaign: Campaign,
    *,
    readers: Sequence[Any],
    adjudicators: Sequence[Any],
) -> None:
    """Refuse a campaign (new or changed, not yet saved) that breaks a rule.

    ``campaign`` carries the proposed field values; for an existing campaign
    the stored row says what already happened (claims, reads, taxonomy).
    Raises ``CampaignRefused`` naming the field.
    """
    try:
        campaign.clean_fields(exclude=["taxonomy", "created_by"])
        campaign.clean()
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise CampaignRefused(" ".join(messages), field=field) from None
    if campaign.readers_per_exam < 1:
        raise CampaignRefused(
            "readers_per_exam must be at least 1.", field="readers_per_exam"
        )
    if len(readers) < campaign.readers_per_exam:
        raise CampaignRefused(
            f"{campaign.readers_per_exam} readers per exam needs at least that many "
            f"readers in the pool; {len(readers)} given.",
            field="readers",
        )
    if _ids(readers) & _ids(adjudicators):
        raise CampaignRefused(
            "An adjudicator cannot also read in the same campaign (they would "
            "read while seeing everyone's labels).",
            field="adjudicators",
        )
    if campaign.pk is None:
        return
    stored = Campaign.objects.get(pk=campaign.pk)
    started = Assignment.objects.filter(campaign=stored)
    if campaign.taxonomy_id != stored.taxonomy_id and started.exists():
        raise CampaignRefused(
            "The taxonomy cannot change once exams have been claimed or read: "
            "the reads refer to its classes. Create a new campaign instead.",
            field="taxonomy",
        )
    if campaign.readers_per_exam != stored.readers_per_exam:
        if stored.n_reads_submitted:
            raise CampaignRefused(
                f"Readers per exam cannot change after reads were submitted "
                f"({stored.n_reads_submitted} so far): settled exams would change "
                "meaning. Create a new campaign instead.",
                field="readers_per_exam",
            )
        held = (
            CampaignExam.objects.filter(campaign=stored).aggregate(
                most=Max("n_assigned")
            )["most"]
            or 0
        )
        if campaign.readers_per_exam < held:
            raise CampaignRefused(
                f"Readers per exam cannot go below {held}: an exam is already "
                f"claimed by {held} readers.",
                field="readers_per_exam",
            )


@transaction.atomic
def create_campaign(
    *,
    name: str,
    taxonomy: Any,
    exams: Iterable[Exam] | Any,
    readers: Sequence[Any],
    adjudicators: Sequence[Any] = (),
    readers_per_exam: int = 2,
    created_by: Any = None,
    **options: Any,
) -> Campaign:
    """Create a campaign over ``exams`` (a queryset or a list) and freeze its taxonomy.

    ``options`` are further Campaign fields (blinding, adjudication policy,
    majority vote, lease minutes, minimum reading time, default display
    filters, description).
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise WorkflowError(f"Unknown campaign option(s): {', '.join(unknown)}.")
    if Campaign.objects.filter(name=name).exists():
        raise CampaignRefused("A campaign with this name exists already.", "name")
    options["lease_minutes"] = options.get("lease_minutes") or _default_lease()
    campaign = Campaign(
        name=name,
        taxonomy=taxonomy,
        readers_per_exam=readers_per_exam,
        created_by=created_by,
        **options,
    )
    check_campaign(campaign, readers=readers, adjudicators=adjudicators)
    campaign.save()
    _add_members(campaign, readers)
    campaign.adjudicators.set(adjudicators)
    add_exams(campaign=campaign, exams=exams)
    return campaign


@transaction.atomic
def change_campaign(
    *,
    campaign: Campaign,
    readers: Sequence[Any] | None = None,
    adjudicators: Sequence[Any] | None = None,
    **changes: Any,
) -> Campaign:
    """Change a campaign's options and people, refused if a rule forbids it.

    ``readers`` / ``adjudicators``, when given, are the new complete lists:
    readers who leave have their unfinished claims released (their submitted
    reads stay); readers who join start where their past assignments end.
    """
    unknown = sorted(set(changes) - {"name", *OPTIONS})
    if unknown:
        raise WorkflowError(f"Unknown campaign option(s): {', '.join(unknown)}.")
    campaign = for_update(Campaign.objects.filter(pk=campaign.pk)).get()
    for field, value in changes.items():
        setattr(campaign, field, value)
    current_readers = list(campaign.readers.all())
    new_readers = list(readers) if readers is not None else current_readers
    new_adjudicators = (
        list(adjudicators)
        if adjudicators is not None
        else list(campaign.adjudicators.all())
    )
    if "name" in changes and (
        Campaign.objects.filter(name=campaign.name).exclude(pk=campaign.pk).exists()
    ):
        raise CampaignRefused("A campaign with this name exists already.", "name")
    check_campaign(campaign, readers=new_readers, adjudicators=new_adjudicators)
    campaign.save(update_fields=list(changes) or None)
    if "readers_per_exam" in changes:
        _reopen(campaign)
    if readers is not None:
        kept = _ids(new_readers)
        leaving = [u for u in current_readers if u.pk not in kept]
        joining = [u for u in new_readers if u.pk not in _ids(current_readers)]
        _remove_members(campaign, leaving)
        _add_members(campaign, joining)
    if adjudicators is not None:
        campaign.adjudicators.set(new_adjudicators)
    if "taxonomy" in changes:
        campaign.taxonomy.freeze()
    return campaign


def _readers_now(campaign: Campaign) -> list[Any]:
    """The campaign's readers as stored now (not an instance's prefetched list,
    which an earlier change in the same request leaves stale)."""
    return list(
        Campaign.readers.field.related_model.objects.filter(reader_campaigns=campaign)
    )


def add_readers(*, campaign: Campaign, readers: Sequence[Any]) -> Campaign:
    """Add readers to the campaign (the rules of ``change_campaign`` apply)."""
    current = _readers_now(campaign)
    joining = [u for u in readers if u.pk not in _ids(current)]
    return change_campaign(campaign=campaign, readers=[*current, *joining])


def remove_readers(*, campaign: Campaign, readers: Sequence[Any]) -> Campaign:
    """Take readers out of the campaign: their unfinished claims are released,
    their submitted reads stay."""
    leaving = _ids(readers)
    current = _readers_now(campaign)
    return change_campaign(
        campaign=campaign, readers=[u for u in current if u.pk not in leaving]
    )


def _add_members(campaign: Campaign, readers: Sequence[Any]) -> None:
    """Membership rows for new readers, with the counters of any past reads."""
    for reader in readers:
        past = Assignment.objects.filter(campaign=campaign, reader_id=reader.pk)
        CampaignReader.objects.create(
            campaign=campaign,
            user_id=reader.pk,
            cursor=past.filter(kind=Assignment.Kind.READ).aggregate(top=Max("exam_id"))[
                "top"
            ]
            or 0,
            n_submitted=past.filter(status=Assignment.Status.SUBMITTED).count(),
        )


def _remove_members(campaign: Campaign, readers: Sequence[Any]) -> None:
    tally = Tally()
    for reader in readers:
        release_claims(campaign=campaign, reader=reader, tally=tally)
        CampaignReader.objects.filter(campaign=campaign, user_id=reader.pk).delete()
    tally.flush(campaign.pk)


def _reopen(campaign: Campaign) -> None:
    """After a change of readers per exam (before any read), which exams have room."""
    links = CampaignExam.objects.filter(campaign=campaign).in_consensus()
    links.filter(n_assigned__lt=campaign.readers_per_exam).update(is_open=True)
    links.filter(n_assigned__gte=campaign.readers_per_exam).update(is_open=False)


@transaction.atomic
def add_exams(*, campaign: Campaign, exams: Iterable[Exam] | Any) -> int:
    """Add exams (a queryset or a list) to a campaign; ones already in it are kept.

    Also freezes the campaign's taxonomy, since labels will now refer to it.
    Returns how many exams were added.
    """
    exam_ids = (
        exams.values_list("pk", flat=True).iterator(chunk_size=CREATE_BATCH)
        if hasattr(exams, "values_list")
        else (e.pk for e in exams)
    )
    before = campaign.exam_links.count()
    batch: list[CampaignExam] = []
    for exam_id in exam_ids:
        batch.append(CampaignExam(campaign=campaign, exam_id=exam_id))
        if len(batch) >= CREATE_BATCH:
            CampaignExam.objects.bulk_create(batch, ignore_conflicts=True)
            batch.clear()
    CampaignExam.objects.bulk_create(batch, ignore_conflicts=True)
    campaign.taxonomy.freeze()
    added = campaign.exam_links.count() - before
    tally = Tally(n_exams=added, n_pending=added)
    tally.flush(campaign.pk)
    campaign.refresh_from_db(fields=["n_exams", "n_pending"])
    return added


_Status = Campaign.Status
# Where a campaign's status can go from each status; closed is final.
STATUS_MOVES = {
    _Status.DRAFT: {_Status.OPEN, _Status.CLOSED},
    _Status.OPEN: {_Status.PAUSED, _Status.CLOSED},
    _Status.PAUSED: {_Status.OPEN, _Status.CLOSED},
    _Status.CLOSED: set(),
}


@transaction.atomic
def set_campaign_status(*, campaign: Campaign, status: str) -> Campaign:
    """Open, pause, resume or close a campaign (``STATUS_MOVES``); the same
    status again changes nothing. A paused or closed campaign hands out no new
    claim; its readers' unfinished claims and every read stay."""
    stored = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if status not in _Status.values:
        raise CampaignRefused(
            _("Unknown status %(status)r.") % {"status": status}, "status"
        )
    if status != stored.status:
        if status not in STATUS_MOVES[stored.status]:
            raise CampaignRefused(
                _("A %(old)s campaign cannot become %(new)s.")
                % {
                    "old": stored.get_status_display().lower(),
                    "new": _Status(status).label.lower(),
                },
                "status",
            )
        stored.status = status
        stored.save(update_fields=["status"])
    campaign.status = stored.status
    return stored


def _default_lease() -> int:
    return settings.ANNOTATOR_LEASE_MINUTES
