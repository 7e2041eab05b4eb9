"""Progress counters: the deltas a transaction makes, written once at its end.

Claims, submissions, releases and settlements move a campaign's counters (and
a reader's) with ``F()`` updates in their own transaction, so no page counts
rows. The campaign row is shared by every reader of the campaign, so its
update is the last statement of each transaction: its lock is held only while
the transaction commits, and no transaction holding it waits for another lock.
"""

from __future__ import annotations

from collections import Counter

from annotator.models import Campaign, CampaignReader, state_counter
from annotator.services import sql


class Tally(Counter[str]):
    """Deltas of Campaign counters (field name → change) for one transaction."""

    def move(self, old_state: str, new_state: str) -> None:
        """An exam's consensus state changed from ``old_state`` to ``new_state``."""
        if old_state != new_state:
            self[state_counter(old_state)] -= 1
            self[state_counter(new_state)] += 1

    def flush(self, campaign_id: int) -> None:
        """Write the deltas in one UPDATE of the campaign row; then forget them."""
        changes = {field: delta for field, delta in self.items() if delta}
        if changes:
            sql.add_to_campaign(campaign_id, changes)
        self.clear()


def recount_progress(campaign: Campaign) -> dict[str, int]:
    """Recompute the campaign's counters from its rows (a repair after bulk loads).

    Counts every row, so it costs what the counters save; the services never
    need it. Returns the campaign's counter values.
    """
    from django.db.models import Count, Max, Q

    from annotator.models import Assignment, CampaignExam

    states = dict(
        CampaignExam.objects.filter(campaign=campaign)
        .values("consensus_state")
        .annotate(n=Count("pk"))
        .values_list("consensus_state", "n")
        .order_by()
    )
    reads = Assignment.objects.filter(campaign=campaign)
    values = {
        "n_exams": sum(states.values()),
        "n_reads_submitted": reads.filter(status=Assignment.Status.SUBMITTED).count(),
        "n_claims_open": reads.filter(status=Assignment.Status.CLAIMED).count(),
        **{
            state_counter(state): states.get(state, 0)
            for state in CampaignExam.ConsensusState.values
        },
    }
    Campaign.objects.filter(pk=campaign.pk).update(**values)
    per_reader = (
        reads.values("reader_id")
        .annotate(
            submitted=Count("pk", filter=Q(status=Assignment.Status.SUBMITTED)),
            # The cursor walks the pool: check claims are not in it.
            top=Max("exam_id", filter=Q(kind=Assignment.Kind.READ)),
        )
        .order_by()
    )
    for row in per_reader:
        CampaignReader.objects.filter(
            campaign=campaign, user_id=row["reader_id"]
        ).update(n_submitted=row["submitted"], cursor=row["top"] or 0)
    return values
