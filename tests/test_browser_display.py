"""What small parts of the pages show, in headless Chromium: no "null" for a
missing note, ages at the cap as "90+", the fast reads on the dashboard, and the
styled 404 page.

Screenshots go to a temporary folder, or to ``$SCREENSHOTS`` when it is set::

    SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser_display.py
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from annotator import services
from annotator.models import AGE_CAP, Campaign, Decision, Exam
from tests import factories
from tests.test_browser_pages import (  # noqa: F401 (fixtures)
    NARROW,
    Console,
    console,
    ecg_exam,
    open_page,
    read_all,
    shots,
    wait_loaded,
)

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def settled(cast) -> Campaign:
    """Two exams both readers disagree on; the first adjudicated without a note,
    its patient 90 or older."""
    exams = [ecg_exam("N-001", 1), ecg_exam("N-002", 2)]
    Exam.objects.filter(pk=exams[0].pk).update(age=AGE_CAP)
    campaign = factories.make_campaign(cast, exams, name="Notes")
    read_all(campaign, cast.reader1, {"N-001": ["SR"], "N-002": ["AF"]})
    read_all(campaign, cast.reader2, {"N-001": ["AF"], "N-002": ["SR"]})
    services.adjudicate(
        campaign=campaign, exam=exams[0], adjudicator=cast.adjudicator, labels=["AF"]
    )
    return campaign


def shown_text(page: Any) -> str:
    """Everything the page shows, and the values of its form fields."""
    fields = "[...document.querySelectorAll('input, textarea')].map((f) => f.value)"
    return page.evaluate(f"() => [document.body.innerText, ...{fields}].join('\\n')")


def null_notes(route: Any) -> None:
    """The adjudication queue as an older server sent it: a missing note as null."""
    response = route.fetch()
    data = response.json()
    for item in data["results"]:
        if item["adjudication"]:
            item["adjudication"]["note"] = None
    route.fulfill(response=response, body=json.dumps(data))


@pytest.mark.parametrize("note", ["blank", "null"])
def test_an_adjudicated_exam_without_a_note_shows_no_null(
    browser, console, live_server, settled, note
):
    page = open_page(browser, console, live_server, "adjudicator")
    if note == "null":
        page.route("**/api/campaigns/*/adjudication/?*", null_notes)
    exam = Exam.objects.get(exam_id="N-001")
    page.goto(f"{live_server.url}/adjudicate/{settled.pk}/?state=all&exam={exam.pk}")
    wait_loaded(page, exam)
    prior = page.locator("#prior")
    assert prior.is_visible()
    assert "Adjudicated" in prior.inner_text() and "Note" not in prior.inner_text()
    assert page.locator("#note").input_value() == ""
    text = shown_text(page)
    assert "null" not in text and "undefined" not in text
    # The age at the cap, as every page shows it.
    assert "90+ years" in page.inner_text("#exam-meta")


def test_the_exam_browser_shows_an_age_at_the_cap_as_90_plus(
    browser, console, live_server, settled
):
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/exams/?dataset=browser")
    old = page.locator("#exam-body tr", has_text="N-001")
    old.wait_for()
    assert "90+" in old.inner_text() and "90 " not in old.inner_text()
    old.locator("button").click()
    meta = page.locator("#exam-meta")
    meta.get_by_text("90+ years").wait_for()
    text = shown_text(page)
    assert "null" not in text and "undefined" not in text


def test_the_dashboard_counts_the_fast_reads(browser, console, live_server, settled):
    fast = Decision.objects.filter(assignment__campaign=settled).order_by("pk")[:3]
    Decision.objects.filter(pk__in=[d.pk for d in fast]).update(fast=True)
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/campaigns/{settled.pk}/")
    line = page.locator("#reads-fast")
    line.wait_for()
    assert line.inner_text() == "3 fast reads (under 2 s)"


def test_the_404_page_is_styled_and_leads_back(browser, live_server, cast, shots):
    seen = Console()
    page = open_page(browser, seen, live_server, "reader1")
    answer = page.goto(f"{live_server.url}/no-such-page/")
    assert answer.status == 404
    heading = page.get_by_role("heading", name="Page not found")
    assert heading.is_visible()
    links = page.get_by_role("navigation", name="Where to go")
    assert links.get_by_role("link", name="Your campaigns").is_visible()
    assert links.get_by_role("button", name="Log out").is_visible()
    # The stylesheet applied: the card is the site's white box on its grey page.
    card = page.locator(".error-card")
    assert card.evaluate("(c) => getComputedStyle(c).backgroundColor") == (
        "rgb(255, 255, 255)"
    )
    page.set_viewport_size(NARROW)
    page.mouse.move(0, 0)
    path = shots / "error-404.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size < 300_000
    # The only console error is the browser's own note of the 404 itself.
    assert all("404" in error for error in seen.errors), seen.errors
    links.get_by_role("link", name="Your campaigns").click()
    page.wait_for_url(f"{live_server.url}/")
