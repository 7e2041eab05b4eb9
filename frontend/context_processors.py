"""Template context shared by every page."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.http import HttpRequest

from annotator.models import CampaignExam, Decision, Job
from annotator.roles import is_manager

# Modules that page scripts import (relative "./name.js"). base.html maps each to
# its hashed static name, so an import is long-cached and never a stale copy.
SHARED_MODULES = (
    "dom.js",
    "viewer.js",
    "viewer-paper.js",
    "viewer-signal.js",
    "viewer-calipers.js",
    "viewer-controls.js",
    "viewer-evidence.js",
    "measurements.js",
    "taxonomy-picker.js",
    "read-form.js",
    "read-drafts.js",
    "job-list.js",
    "charts.js",
    "agreement-classes.js",
    "agreement-readers.js",
    "agreement-pairs.js",
    "agreement-reference.js",
    "agreement-groups.js",
    "agreement-checks.js",
    "campaign-status.js",
    "reader-activity.js",
    "exam-record.js",
)


def _choices(enum: type[models.TextChoices]) -> list[dict[str, str]]:
    # Labels stay lazy here; json_script renders them in the request's language.
    return [{"value": value, "label": label} for value, label in enum.choices]


def enums() -> dict[str, list[dict[str, str]]]:
    """The enumerations the pages show, in their model order, with their labels.

    Emitted once per page by base.html (``json_script``) and read by ``enums()``
    in dom.js, so no script carries its own copy of a value or a label.
    """
    return {
        "quality": _choices(Decision.Quality),
        "consensus_states": _choices(CampaignExam.ConsensusState),
        "job_kinds": _choices(Job.Kind),
        "job_statuses": _choices(Job.Status),
    }


def app(request: HttpRequest) -> dict[str, Any]:
    import plotly

    return {
        "plotly_version": plotly.__version__,
        "is_manager": is_manager(request.user) if hasattr(request, "user") else False,
        "enums": enums(),
        "shared_modules": SHARED_MODULES,
    }
