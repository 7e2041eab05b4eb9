"""JSON errors a person can act on, including the workflow's own refusals."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from annotator.services import WorkflowError


class PreconditionRequired(APIException):
    status_code = status.HTTP_428_PRECONDITION_REQUIRED
    default_detail = "Send the version you edit in an If-Match header."
    default_code = "precondition_required"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus workflow errors and model validation as JSON."""
    if isinstance(exc, WorkflowError):
        data: dict[str, Any] = {"detail": str(exc)}
        if getattr(exc, "code", None):
            data["code"] = exc.code  # for pages that act on the refusal
        field = getattr(exc, "field", None)
        if field:
            data[field] = [str(exc)]  # beside its field, as a form shows it
        return Response(data, status=exc.status)
    if isinstance(exc, DjangoValidationError):
        return Response({"detail": " ".join(exc.messages)}, status=400)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 404:
        # The same words for "does not exist" and "not yours": ids reveal nothing.
        response.data = {"detail": "Not found."}
    return response
