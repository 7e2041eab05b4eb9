"""Every write that spans models: campaigns, claims, decisions, adjudications, jobs.

Views, commands, the admin and tasks call these; nothing else saves a Decision,
Assignment, Adjudication or CampaignExam, or changes a Campaign. Each function
is atomic, and the invariants that matter under concurrency (overlap, one read
per reader, versions, progress counters) are enforced by conditional UPDATEs
and database constraints, not by reading then writing. One module per concept;
every public name is importable from here.
"""

from annotator.services.adjudication import adjudicate, settle_exam
from annotator.services.campaigns import (
    CampaignRefused,
    add_exams,
    add_readers,
    change_campaign,
    check_campaign,
    create_campaign,
    remove_readers,
    set_campaign_status,
)
from annotator.services.checks import (
    CalibrationSummary,
    calibration_exam_ids,
    set_calibration_exams,
)
from annotator.services.claims import claim_next, expire_leases
from annotator.services.decisions import (
    READS_COMPLETE,
    edit_decision,
    record_reading,
    submit_decision,
)
from annotator.services.errors import (
    AlreadySubmitted,
    Conflict,
    InvalidLabels,
    NotFound,
    PreconditionFailed,
    Unavailable,
    WorkflowError,
)
from annotator.services.jobs import (
    retry_job,
    start_agreement_job,
    start_export_job,
    start_import_job,
    start_job,
    start_readings_import_job,
)
from annotator.services.labels import clean_labels, clean_quality
from annotator.services.machines import machine_account, record_machine_readings
from annotator.services.people import (
    PEOPLE_ROLES,
    AccountRefused,
    create_account,
    password_link,
    set_active,
    set_role,
)
from annotator.services.progress import Tally, recount_progress
from annotator.services.reference import (
    ReferenceSummary,
    reference_in_use,
    set_reference_labels,
)

__all__ = [
    "PEOPLE_ROLES",
    "READS_COMPLETE",
    "AccountRefused",
    "AlreadySubmitted",
    "CalibrationSummary",
    "CampaignRefused",
    "Conflict",
    "InvalidLabels",
    "NotFound",
    "PreconditionFailed",
    "ReferenceSummary",
    "Tally",
    "Unavailable",
    "WorkflowError",
    "add_exams",
    "add_readers",
    "adjudicate",
    "calibration_exam_ids",
    "change_campaign",
    "check_campaign",
    "claim_next",
    "clean_labels",
    "clean_quality",
    "create_account",
    "create_campaign",
    "edit_decision",
    "expire_leases",
    "machine_account",
    "password_link",
    "record_machine_readings",
    "record_reading",
    "recount_progress",
    "reference_in_use",
    "remove_readers",
    "retry_job",
    "set_active",
    "set_calibration_exams",
    "set_campaign_status",
    "set_reference_labels",
    "set_role",
    "settle_exam",
    "start_agreement_job",
    "start_export_job",
    "start_import_job",
    "start_job",
    "start_readings_import_job",
    "submit_decision",
]
