"""Errors the services raise, each with its HTTP status and a message to act on."""

from __future__ import annotations


class WorkflowError(Exception):
    """A request the workflow refuses; the message tells a person what to do."""

    status = 400


class NotFound(WorkflowError):
    status = 404


class Conflict(WorkflowError):
    status = 409


class AlreadySubmitted(Conflict):
    """The reader's read of this exam is already in (another tab sent it)."""

    code = "already_submitted"


class PreconditionFailed(WorkflowError):
    status = 412


class InvalidLabels(WorkflowError):
    status = 400


class Unavailable(WorkflowError):
    """A service the request needs (the job queue) cannot be reached now."""

    status = 503
