"""Error pages: the site's own 400, 403, 404 and 500 pages, JSON under /api/.

This module is also the URL configuration of its 500 and 400 tests: the site's
routes plus two that fail, with the site's own handlers.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import path

from annotator.urls import urlpatterns as site_urlpatterns


def broken(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug in a view")


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("a request that makes no sense")


urlpatterns = [
    path("api/broken/", broken),
    path("broken/", broken),
    path("suspicious/", suspicious),
    *site_urlpatterns,
]
handler400 = "frontend.errors.bad_request"
handler403 = "frontend.errors.permission_denied"
handler404 = "frontend.errors.page_not_found"
handler500 = "frontend.errors.server_error"


@pytest.fixture(autouse=True)
def _not_debugging(settings) -> None:
    settings.DEBUG = False  # DEBUG pages would stand in for the site's own


@pytest.fixture
def failing(settings) -> Client:
    """An anonymous client on this module's routes that gets the 500 page
    instead of the exception."""
    settings.ROOT_URLCONF = __name__
    return Client(raise_request_exception=False)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_missing_page_is_the_styled_404_with_the_sites_navigation(cast):
    page = logged_in(cast.reader1).get("/some-missing-page/")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    assert "Page not found" in html
    assert "frontend/css/app.css" in html
    assert 'href="/"' in html  # the campaigns
    assert 'action="/logout/"' in html
    assert 'href="/exams/"' not in html  # a reader has no exam browser
    assert "reader1" in html  # the site's header names who is logged in


def test_a_managers_404_links_to_the_managers_pages(cast):
    html = logged_in(cast.manager).get("/no/such/page/").content.decode()
    assert 'href="/exams/"' in html and 'href="/jobs/"' in html


def test_an_anonymous_404_offers_to_log_in(db):
    page = Client().get("/some-missing-page/")
    assert page.status_code == 404
    html = page.content.decode()
    assert 'href="/login/"' in html and "/logout/" not in html


def test_the_api_answers_json_for_a_missing_exam_and_a_missing_route(cast):
    client = logged_in(cast.reader1)
    for url in ("/api/exams/999999/", "/api/no-such-endpoint/"):
        answer = client.get(url)
        assert answer.status_code == 404, url
        assert answer["Content-Type"] == "application/json", url
        assert answer.json() == {"detail": "Not found."}, url


def test_a_reader_opening_a_managers_page_gets_the_styled_403(cast):
    page = logged_in(cast.reader1).get("/jobs/")
    assert page.status_code == 403
    html = page.content.decode()
    assert "This page is not open to you" in html
    assert 'href="/"' in html and 'action="/logout/"' in html


def test_the_api_still_refuses_in_json(cast):
    answer = logged_in(cast.reader1).post("/api/campaigns/", {}, format="json")
    assert answer.status_code == 403
    assert "detail" in answer.json()


def test_a_failing_page_is_the_styled_500_without_touching_the_database(failing):
    # No database for this test: a query while answering would fail it.
    page = failing.get("/broken/")
    assert page.status_code == 500
    html = page.content.decode()
    assert "Something went wrong on the server" in html
    assert "frontend/css/app.css" in html
    assert 'href="/"' in html and 'href="/login/"' in html


def test_a_failing_api_call_is_a_json_500(failing):
    answer = failing.get("/api/broken/")
    assert answer.status_code == 500
    assert answer["Content-Type"] == "application/json"
    assert "detail" in answer.json()


def test_a_request_that_makes_no_sense_is_the_styled_400(failing):
    page = failing.get("/suspicious/")
    assert page.status_code == 400
    html = page.content.decode()
    assert "The request could not be understood" in html
    assert 'href="/"' in html
