"""Every write that spans models: campaigns, claims, decisions, adjudications, jobs.

Views, commands, the admin and tasks call these; nothing else saves a Decision,
Assignment, Adjudication or CampaignExam, or changes a Campaign. Each function
is atomic, and the invariants that matter under concurrency (overlap, one read
per reader, versions, progress counters) are enforced by conditional UPDATEs
and database constraints, not by reading then writing. One module per concept;
every public name is importable from here.
"""

from annotator.services.adjudication import adjudicate, settle_exam
from annotator.services.campaigns import add_exams, create_campaign
from annotator.services.claims import claim_next, expire_leases
from annotator.services.decisions import (
    edit_decision,
    record_reading,
    submit_decision,
)
from annotator.services.errors import (
    Conflict,
    InvalidLabels,
    NotFound,
    PreconditionFailed,
    WorkflowError,
)
from annotator.services.labels import clean_labels, clean_quality

__all__ = [
    "Conflict",
    "InvalidLabels",
    "NotFound",
    "PreconditionFailed",
    "WorkflowError",
    "add_exams",
    "adjudicate",
    "claim_next",
    "clean_labels",
    "clean_quality",
    "create_campaign",
    "edit_decision",
    "expire_leases",
    "record_reading",
    "settle_exam",
    "submit_decision",
]
