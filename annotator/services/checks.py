"""Check reads: calibration exams and re-reads, mixed blind into a reader's queue.

A campaign can serve, among a reader's claims, exams that check the reader
rather than feed the consensus:

- a **calibration exam** (``Campaign.calibration_every``): an exam with a
  reference label set, taken out of the pool (its link's state is
  ``calibration``), scored against its reference — per reader and by week,
  so a drifting reader is seen;
- a **re-read** (``Campaign.reread_every``): one of the reader's own earlier
  exams, served again at least ``REREAD_GAP`` of their reads later, for
  test–retest (intra-rater) agreement.

Both are ordinary claims (``Assignment.kind`` says which), in the same
payload as any other: nothing the reader receives tells them apart. Which of
a reader's claims are checks is decided per block of ``every`` claims, one
per block at a position keyed by the server's secret, so the rate is exact
and the schedule cannot be worked out from the code and the ids a reader
sees. A check claim never counts on the exam's link (its claims, reads and
consensus); it counts in the reader's and the campaign's read counters, as
every read does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from annotator.models import Assignment, Campaign, CampaignExam, Exam, ReferenceLabel
from annotator.models.reads import HOLDING
from annotator.services import sql
from annotator.services.errors import Conflict, NotFound
from annotator.services.progress import Tally

# A re-read comes at least this many of the reader's reads after the read.
REREAD_GAP = 10

Kind = Assignment.Kind


def due(campaign: Campaign, reader_id: Any, position: int) -> str | None:
    """The kind of check the reader's claim number ``position`` (0-based, in
    the order of their reads) is, or None for a read. Calibration comes first
    where both schedules pick one position."""
    for kind, every in (
        (Kind.CALIBRATION, campaign.calibration_every),
        (Kind.REREAD, campaign.reread_every),
    ):
        if every and _is_slot(campaign.pk, reader_id, position, every, kind):
            return kind
    return None


def _is_slot(
    campaign_id: int, reader_id: Any, position: int, every: int, kind: str
) -> bool:
    """Whether ``position`` is the one position of its block of ``every`` that
    serves ``kind``; where in the block comes from an HMAC under the secret key."""
    block, offset = divmod(position, every)
    message = f"{kind}:{campaign_id}:{reader_id}:{block}".encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % every == offset


def claim_check(
    campaign: Campaign,
    reader: Any,
    position: int,
    now: dt.datetime,
    lease: dt.datetime,
) -> Assignment | None:
    """The check claim due at ``position``, or None when none is due or none is
    left to serve (the reader then gets a read, as anyone would)."""
    kind = due(campaign, reader.pk, position)
    if kind is None:
        return None
    find = _calibration_exam if kind == Kind.CALIBRATION else _reread_exam
    exam_id = find(campaign, reader.pk)
    if exam_id is None:
        return None
    # An expired check claim of the exam comes back rather than a second row.
    revived = Assignment.objects.filter(
        campaign=campaign,
        exam_id=exam_id,
        reader_id=reader.pk,
        kind=kind,
        status=Assignment.Status.EXPIRED,
    ).update(status=Assignment.Status.CLAIMED, claimed_at=now, lease_expires_at=lease)
    if revived:
        return Assignment.objects.get(
            campaign=campaign, exam_id=exam_id, reader_id=reader.pk, kind=kind
        )
    return sql.insert_claim(campaign.pk, exam_id, reader.pk, now, lease, kind)


def _held(campaign: Campaign, reader_id: Any, kind: str) -> Any:
    """Exam ids of the reader's claims of ``kind`` they hold or have read."""
    return Assignment.objects.filter(
        campaign=campaign, reader_id=reader_id, kind=kind, status__in=HOLDING
    ).values("exam_id")


def _calibration_exam(campaign: Campaign, reader_id: Any) -> int | None:
    """The first calibration exam (in exam order) the reader has not read."""
    return (
        CampaignExam.objects.filter(
            campaign=campaign,
            consensus_state=CampaignExam.ConsensusState.CALIBRATION,
        )
        .exclude(exam_id__in=_held(campaign, reader_id, Kind.CALIBRATION))
        .order_by("exam_id")
        .values_list("exam_id", flat=True)
        .first()
    )


def _reread_exam(campaign: Campaign, reader_id: Any) -> int | None:
    """The reader's oldest read not yet re-read, among all but their latest
    ``REREAD_GAP`` reads, so a re-read is never next to its read."""
    reads = Assignment.objects.filter(
        campaign=campaign,
        reader_id=reader_id,
        kind=Kind.READ,
        status=Assignment.Status.SUBMITTED,
    )
    latest = list(
        reads.order_by("-submitted_at", "-id").values_list("pk", flat=True)[:REREAD_GAP]
    )
    if len(latest) < REREAD_GAP:
        return None
    return (
        reads.exclude(pk__in=latest)
        .exclude(exam_id__in=_held(campaign, reader_id, Kind.REREAD))
        .order_by("submitted_at", "id")
        .values_list("exam_id", flat=True)
        .first()
    )


@dataclass
class CalibrationSummary:
    """What a change of calibration exams did."""

    marked: int = 0  # became calibration exams
    returned: int = 0  # went back to the pool
    unchanged: int = 0


@transaction.atomic
def set_calibration_exams(
    *, campaign: Campaign, exams: Iterable[Exam], calibration: bool = True
) -> CalibrationSummary:
    """Make ``exams`` calibration exams of the campaign (or, ``calibration``
    False, return them to the pool for reading); all or nothing.

    An exam becomes one only with a reference label set (what it is scored
    against) and before any reader has claimed it for a read (its reads would
    otherwise count in the consensus and in the calibration both). Refusals:
    an exam outside the campaign (NotFound), without a reference or already
    claimed (Conflict). Calibration reads already made stay in the scores
    when an exam returns to the pool; whoever read it as a calibration exam
    is never served it again.
    """
    state = CampaignExam.ConsensusState
    wanted = {exam.pk: exam for exam in exams}
    links = {
        link.exam_id: link
        for link in CampaignExam.objects.select_for_update()
        .filter(campaign=campaign, exam_id__in=list(wanted))
        .order_by("exam_id")
    }
    strangers = sorted(e.exam_id for pk, e in wanted.items() if pk not in links)
    if strangers:
        raise NotFound(
            _("Not an exam of this campaign: %(exams)s.")
            % {"exams": ", ".join(strangers[:5])}
        )
    summary = CalibrationSummary()
    change = {
        pk: link
        for pk, link in links.items()
        if (link.consensus_state == state.CALIBRATION) != calibration
    }
    summary.unchanged = len(links) - len(change)
    if calibration and change:
        _check_can_calibrate(campaign, change, wanted)
    tally = Tally()
    for link in change.values():
        new = state.CALIBRATION if calibration else state.PENDING
        tally.move(link.consensus_state, new)
        link.consensus_state, link.consensus_labels = new, None
        link.disagreeing_classes = []
        link.is_open = not calibration
        link.save(
            update_fields=[
                "consensus_state",
                "consensus_labels",
                "disagreeing_classes",
                "is_open",
            ]
        )
    if calibration:
        summary.marked = len(change)
    else:
        summary.returned = len(change)
    tally.flush(campaign.pk)
    return summary


def _check_can_calibrate(
    campaign: Campaign, links: dict[int, CampaignExam], exams: dict[int, Exam]
) -> None:
    with_reference = set(
        ReferenceLabel.objects.filter(
            campaign=campaign, exam_id__in=list(links)
        ).values_list("exam_id", flat=True)
    )
    missing = sorted(exams[pk].exam_id for pk in links if pk not in with_reference)
    if missing:
        raise Conflict(
            _(
                "A calibration exam needs a reference label set; these have none: "
                "%(exams)s."
            )
            % {"exams": ", ".join(missing[:5])}
        )
    claimed = sorted(
        exams[pk].exam_id
        for pk in Assignment.objects.filter(
            campaign=campaign, exam_id__in=list(links), kind=Kind.READ
        )
        .values_list("exam_id", flat=True)
        .distinct()
    )
    if claimed:
        raise Conflict(
            _(
                "Readers have already claimed these exams for the consensus, so "
                "they cannot become calibration exams: %(exams)s."
            )
            % {"exams": ", ".join(claimed[:5])}
        )


def calibration_exam_ids(campaign: Campaign) -> list[int]:
    """The campaign's calibration exams (their ids), in exam order."""
    return list(
        CampaignExam.objects.filter(
            campaign=campaign, consensus_state=CampaignExam.ConsensusState.CALIBRATION
        )
        .order_by("exam_id")
        .values_list("exam_id", flat=True)
    )
