"""Schemathesis against the OpenAPI schema: generated requests never cause a 5xx.

Every operation of the schema gets bounded, derandomized generated requests,
each sent as a manager, a reader and an adjudicator (and, for the token
endpoint, without credentials).
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from annotator import services
from tests import factories


def _operations() -> list:
    from annotator.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    return [result.ok() for result in schema.get_all_operations()]


OPERATIONS = _operations()


@pytest.fixture
def keep_test_connection():
    """The WSGI handler closes the connection after each request, which would end
    the test's transaction; Django's own test client disconnects it the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(cast, keep_test_connection) -> dict:
    """Data for the generated requests to hit, real ids, and a token per role."""
    campaign = factories.make_campaign(cast, factories.make_exams(3))
    claim = services.claim_next(campaign=campaign, reader=cast.reader1)
    decision = services.submit_decision(
        assignment=claim, reader=cast.reader1, labels=["AF"]
    )
    services.claim_next(campaign=campaign, reader=cast.reader1)
    return {
        "tokens": [
            Token.objects.get_or_create(user=getattr(cast, role))[0].key
            for role in ("manager", "reader1", "adjudicator")
        ],
        "ids": {
            "campaigns": campaign.pk,
            "exams": claim.exam_id,
            "decisions": decision.pk,
            "assignments": claim.pk,
            "taxonomies": campaign.taxonomy_id,
            "exam_pk": claim.exam_id,
        },
    }


def _real_ids(case, ids: dict) -> None:
    """Point path parameters at existing objects, so handlers see real rows."""
    resource = case.path.split("/")[2]
    for name in case.path_parameters or {}:
        key = name if name in ids else resource
        if key in ids:
            case.path_parameters[name] = ids[key]


def test_the_schema_covers_every_route_of_the_design():
    paths = {op.path for op in OPERATIONS}
    for path in [
        "/api/auth/token/",
        "/api/taxonomies/",
        "/api/taxonomies/{id}/",
        "/api/exams/",
        "/api/exams/{id}/",
        "/api/campaigns/",
        "/api/campaigns/{id}/",
        "/api/campaigns/{id}/next/",
        "/api/assignments/{id}/decision/",
        "/api/decisions/{id}/",
        "/api/campaigns/{id}/adjudication/",
    ]:
        assert path in paths, path


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_generated_requests_never_cause_a_server_error(operation, world):
    seen = []

    @given(case=operation.as_strategy())
    @settings(
        max_examples=12,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(case):
        # Half the examples keep the generated (mostly unknown) ids.
        if len(seen) % 2:
            _real_ids(case, world["ids"])
        base = dict(case.headers or {})
        for token in world["tokens"]:
            case.headers = {**base, "Authorization": f"Token {token}"}
            response = case.call()
            case.validate_response(response, checks=[not_a_server_error])
            seen.append(response.status_code)

    check()
    assert seen, "no request was generated"


def test_the_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/exams/{id}/signal/" in out.read_text()
