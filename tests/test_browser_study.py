"""Setting a study up in Chromium: the new-campaign page."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotator.models import Campaign
from tests import factories
from tests.test_browser_pages import (  # noqa: F401 (fixtures)
    console,
    open_page,
    screenshot,
    shots,
)

User = get_user_model()

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_creates_a_campaign_from_a_sample_with_classes_to_adjudicate(
    browser, console, live_server, cast, shots
):
    factories.default_taxonomy()  # as a fresh site has it (a migration loads it)
    factories.make_exams(30, dataset="code-15")
    factories.make_exams(10, dataset="ptb-xl")
    page = open_page(browser, console, live_server, "manager")
    page.get_by_role("link", name="New campaign").click()
    page.wait_for_url("**/campaigns/new/")
    page.get_by_label("Name", exact=True).fill("Sampled study")
    page.get_by_label("A random sample of the chosen datasets").check()
    expect(page.get_by_label("Exam ids", exact=True)).to_be_hidden()
    page.get_by_label("code-15 (30)").check()
    page.get_by_label("ptb-xl (10)").check()
    page.get_by_label("Sample size").fill("20")
    page.get_by_label("Seed").fill("7")
    for name in ("reader1", "reader2"):
        page.locator("#field-readers").get_by_label(name).check()
    page.locator("#field-adjudicators").get_by_label("adjudicator").check()
    # Classes to adjudicate, with the taxonomy picker (two of one exclusive group).
    expect(page.locator("#code-picker")).to_be_hidden()
    page.get_by_label("disagreements on chosen classes").check()
    expect(page.locator("#code-picker")).to_be_visible()
    expect(page.locator("#field-adjudication_codes")).to_be_hidden()
    for code in ("AF", "SR"):
        page.locator("#code-search").fill(code)
        page.locator("#code-search").press("Enter")
    expect(page.locator("#code-chosen .chip")).to_have_count(2)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview")).to_contain_text(
        "20 exams chosen: code-15 15, ptb-xl 5"
    )
    assert not Campaign.objects.exists()
    # The choice survives the preview: the chips come back from the form.
    expect(page.locator("#code-chosen .chip")).to_have_count(2)
    screenshot(page, shots, "campaign-new", full_page=True)
    page.get_by_role("button", name="Create campaign").click()
    campaign = Campaign.objects.get(name="Sampled study")
    page.wait_for_url(f"**/campaigns/{campaign.pk}/")
    assert campaign.n_exams == 20
    assert campaign.adjudication_policy == "classes"
    assert sorted(campaign.adjudication_codes) == ["AF", "SR"]
    assert sorted(campaign.readers.values_list("username", flat=True)) == [
        "reader1",
        "reader2",
    ]


def test_a_refusal_is_shown_next_to_its_field(
    browser, console, live_server, cast, shots
):
    factories.default_taxonomy()  # as a fresh site has it (a migration loads it)
    factories.make_exams(5)
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/campaigns/new/")
    page.get_by_label("Name", exact=True).fill("Too few readers")
    page.get_by_label("test (5)").check()
    page.locator("#field-readers").get_by_label("reader1").check()
    page.get_by_label("Readers per exam").fill("2")
    page.get_by_role("button", name="Create campaign").click()
    error = page.locator("#field-readers .field-error")
    expect(error).to_contain_text("2 readers per exam")
    assert not Campaign.objects.exists()
    screenshot(page, shots, "campaign-new-refused")


def test_the_manager_pauses_the_campaign_and_the_reader_is_told_why(
    browser, console, live_server, cast, shots
):
    campaign = factories.make_campaign(cast, factories.make_exams(4), name="Paused")
    factories.make_user("newcomer", "reader")
    manager = open_page(browser, console, live_server, "manager")
    manager.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    expect(manager.locator("#status-badge")).to_have_text("Open")
    rows = manager.locator("#activity-table tbody tr")
    expect(rows).to_have_count(2)
    expect(manager.locator("#activity-summary")).to_contain_text(
        "0 readers have an exam on screen now"
    )
    manager.locator("#status-box").get_by_role("button", name="Pause").click()
    expect(manager.locator("#status-badge")).to_have_text("Paused")
    expect(
        manager.locator("#status-box").get_by_role("button", name="Resume")
    ).to_be_visible()
    # A reader joins while it runs, another leaves.
    manager.locator("#member-new").select_option("newcomer")
    manager.get_by_role("button", name="Add", exact=True).click()
    expect(manager.locator(".member-list")).to_contain_text("newcomer")
    manager.get_by_role("button", name="Take reader2 out of the campaign").click()
    expect(manager.locator(".member-list")).not_to_contain_text("reader2")
    screenshot(manager, shots, "dashboard-status")
    campaign.refresh_from_db()
    assert campaign.status == "paused"
    assert sorted(campaign.readers.values_list("username", flat=True)) == [
        "newcomer",
        "reader1",
    ]

    console.expected.append((409, "/next/"))  # the refused claim
    reader = open_page(browser, console, live_server, "reader1")
    card = reader.locator(".campaign-card", has_text="Paused")
    expect(card.locator(".badge.status-paused")).to_have_text("Paused")
    card.get_by_role("link", name="Start reading").click()
    expect(reader.locator("#alert")).to_contain_text("This campaign is paused")
    expect(reader.locator("#exam-title")).to_have_text("No exam")
    assert console.seen_expected >= 1
    # No ECG is drawn, so no redraw to wait for at other widths: one picture.
    reader.screenshot(path=str(shots / "read-paused.png"))


def test_a_new_reader_sets_a_password_from_the_link_and_claims_an_exam(
    browser, console, live_server, cast, shots
):
    from tests.test_browser_pages import ecg_exam

    campaign = factories.make_campaign(
        cast, [ecg_exam("P-001", 5), ecg_exam("P-002", 6)], name="Welcome"
    )
    manager = open_page(browser, console, live_server, "manager")
    manager.get_by_role("link", name="People").click()
    manager.wait_for_url("**/people/")
    manager.get_by_label("Username", exact=True).fill("dr.souza")
    manager.get_by_label("Full name").fill("Bruno Souza")
    manager.get_by_role("button", name="Create account").click()
    link = manager.locator(".copy-link").input_value()
    assert "/set-password/" in link
    expect(manager.locator("#events")).to_contain_text("Account created: reader")
    screenshot(manager, shots, "people")
    campaign.readers.add(User.objects.get(username="dr.souza"))  # as the dashboard does

    fresh = browser.new_context(viewport={"width": 1366, "height": 768})
    page = fresh.new_page()
    page.on("console", console.on_console)
    page.goto(link)
    page.get_by_label("New password").fill("a long reader pass 5512")
    page.get_by_label("The same password again").fill("a long reader pass 5512")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password set")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.fill("input[name=username]", "dr.souza")
    page.fill("input[name=password]", "a long reader pass 5512")
    page.click("button[type=submit]")
    page.locator(".campaign-card", has_text="Welcome").get_by_role(
        "link", name="Start reading"
    ).click()
    from annotator.models import Assignment

    # The reading page claims an exam for the new reader (wait for the claim
    # itself: the title reads "Loading…" before it is back).
    mine = Assignment.objects.filter(reader__username="dr.souza")
    for _ in range(100):
        if mine.exists():
            break
        page.wait_for_timeout(100)
    assert mine.count() >= 1
    expect(page.locator("#exam-title")).not_to_have_text("No exam")
    fresh.close()


def test_a_manager_uploads_wfdb_and_hdf5_files_and_sees_the_summary(
    browser,
    console,
    live_server,
    cast,
    shots,
    wfdb_dir,
    settings,
    tmp_path,
    inline_tasks,
):
    from tests.test_ingest_formats import code15_tracings, write_code15

    settings.ANNOTATOR_UPLOAD_DIR = tmp_path / "uploads"
    hdf5 = write_code15(tmp_path / "exams_part0.hdf5", code15_tracings(3), [7, 8, 9])
    broken = tmp_path / "broken.hea"
    broken.write_text("not a header\n")
    page = open_page(browser, console, live_server, "manager")
    page.get_by_role("link", name="Imports").click()
    page.wait_for_url("**/imports/")
    page.locator("#upload-files").set_input_files(
        [wfdb_dir / n for n in ("s0010_re.hea", "s0010_re.dat", "s0010_re.xyz")]
        + [hdf5, broken]
    )
    page.locator("#upload-dataset").fill("study-upload")
    page.get_by_role("button", name="Upload and import", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Import job #")
    summary = page.locator("#import-summary")
    expect(summary).to_contain_text(
        "4 imported, 0 skipped (already stored), 1 rejected"
    )
    expect(summary.locator("tbody tr")).to_have_count(1)
    expect(summary.locator("tbody")).to_contain_text("broken.hea")
    from annotator.models import Exam

    assert Exam.objects.filter(dataset="study-upload").count() == 4
    with page.expect_download() as download:
        page.locator("#import-jobs").get_by_text("Rejections (CSV)").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0] == "file,exam_id,reason" and "broken.hea" in text
    screenshot(page, shots, "imports")
