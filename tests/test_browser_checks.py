"""The dashboard's reader checks (calibration exams by week, re-reads) in Chromium."""

from __future__ import annotations

import datetime as dt

import pytest

from annotator import services
from annotator.models import Assignment, Job
from tests import factories
from tests.test_browser_pages import (  # noqa: F401 (fixtures)
    console,
    open_page,
    plot_data,
    screenshot,
    shots,
)

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

START = dt.datetime(2026, 10, 5, 9, 0, tzinfo=dt.UTC)  # a Monday


def read_over_weeks(campaign, reader, *, slip_after: int) -> None:
    """The reader reads two claims a day; after ``slip_after`` claims they
    miss AF on every calibration exam (a reader who drifts)."""
    for i in range(200):
        now = START + dt.timedelta(hours=12 * i)
        claim = services.claim_next(campaign=campaign, reader=reader, now=now)
        if claim is None:
            return
        labels = ["AF"] if claim.exam_id % 2 else ["SR"]
        if claim.kind == Assignment.Kind.CALIBRATION:
            labels = ["SR"] if i > slip_after else ["AF"]
        if claim.kind == Assignment.Kind.REREAD and claim.exam_id % 4 == 1:
            labels = ["SR"]
        services.submit_decision(
            assignment=claim,
            reader=reader,
            labels=labels,
            quality=[],
            comment="",
            duration_ms=3000,
            now=now + dt.timedelta(minutes=3),
        )


@pytest.fixture
def checked(cast, settings):
    # Which claims are checks is keyed by the secret key: fixed here, so the
    # weeks the drifting reader's calibration reads fall in are the same anywhere.
    settings.SECRET_KEY = "a fixed key for the calibration schedule of this test 01"
    exams = factories.make_exams(72)
    campaign = factories.make_campaign(
        cast, exams, name="Checked study", calibration_every=4, reread_every=5
    )
    gold = exams[60:]
    services.set_reference_labels(
        campaign=campaign, actor=cast.manager, labels=[(e, ["AF"]) for e in gold]
    )
    services.set_calibration_exams(campaign=campaign, exams=gold)
    read_over_weeks(campaign, cast.reader1, slip_after=1000)
    read_over_weeks(campaign, cast.reader2, slip_after=30)
    return campaign


def test_the_dashboard_shows_calibration_by_week_and_test_retest_kappa(
    browser, console, live_server, checked, cast, shots, inline_tasks
):
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/campaigns/{checked.pk}/")
    page.get_by_role("button", name="Compute agreement").click()
    page.locator("#calibration-chart .main-svg").first.wait_for()
    report = Job.objects.get(campaign=checked, kind="agreement").result
    calibration = report["calibration"]
    expect(page.locator("#calibration-meta")).to_contain_text(
        f"{calibration['n_reads']} reads of {calibration['n_exams']} calibration exams"
    )
    rows = page.locator("#calibration-table tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in rows] == ["reader1", "reader2"]
    for row, reader in zip(rows, ("reader1", "reader2"), strict=True):
        mine = calibration["readers"][reader]
        assert row.split("\t")[1] == str(mine["n_reads"])
        assert f"{mine['micro']['f1']:.3f}" in row.split("\t")[2]
    traces = plot_data(page, "calibration-chart")
    assert [t["name"] for t in traces] == ["reader1", "reader2"]
    weeks = calibration["readers"]["reader2"]["periods"]
    assert traces[1]["x"] == sorted(weeks) and len(weeks) >= 3
    assert traces[1]["y"] == [pytest.approx(weeks[w]["f1"]) for w in sorted(weeks)]
    # The drifting reader: last week's F1 below their first.
    assert traces[1]["y"][-1] < traces[1]["y"][0]
    assert traces[0]["y"] == [pytest.approx(1.0)] * len(traces[0]["y"])
    page.locator("#calibration-stat").select_option("recall")
    recall = plot_data(page, "calibration-chart")[1]
    assert recall["y"] == [pytest.approx(weeks[w]["recall"]) for w in sorted(weeks)]
    expect(page.locator("#calibration-chart-desc")).to_contain_text("Recall")

    retest = report["retest"]
    expect(page.locator("#retest-meta")).to_contain_text(f"{retest['n_rereads']} exams")
    rows = page.locator("#retest-table tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in rows] == sorted(retest["readers"])
    for row in rows:
        mine = retest["readers"][row.split("\t")[0]]
        assert row.split("\t")[1] == str(mine["n_exams"])
        kappa = mine["macro"]["kappa"]
        assert (f"{kappa:.3f}" if kappa is not None else "—") in row.split("\t")[2]
    page.locator("#calibration-heading").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('calibration-heading').scrollIntoView()")
    screenshot(page, shots, "dashboard-checks")
