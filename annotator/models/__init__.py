"""The domain model: exams, taxonomies, campaigns, reads, adjudications and jobs.

One module per concept; every public name is importable from here.
"""

from annotator.models.campaigns import (
    MAX_MIN_READ_MS,
    Campaign,
    CampaignExam,
    CampaignReader,
    state_counter,
)
from annotator.models.exams import AGE_CAP, Exam, PatientLink, age_text
from annotator.models.jobs import Job
from annotator.models.people import AccountEvent
from annotator.models.reads import (
    Adjudication,
    Assignment,
    Decision,
    LabelRevision,
    MachineReading,
    ReferenceLabel,
)
from annotator.models.taxonomy import DiagnosticClass, TaxonomyVersion
from annotator.roles import Role

__all__ = [
    "AGE_CAP",
    "MAX_MIN_READ_MS",
    "AccountEvent",
    "Adjudication",
    "Assignment",
    "Campaign",
    "CampaignExam",
    "CampaignReader",
    "Decision",
    "DiagnosticClass",
    "Exam",
    "Job",
    "LabelRevision",
    "MachineReading",
    "PatientLink",
    "ReferenceLabel",
    "Role",
    "TaxonomyVersion",
    "age_text",
    "state_counter",
]
