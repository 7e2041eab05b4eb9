"""The adjudication, dashboard, jobs, exam browser and home pages in Chromium.

Each test logs in through /login/ on a live server, with exams whose signals are
really stored and reads made through the workflow's own services. Every page must
run without a console error. Screenshots (1024, 1366 and 1920 px wide) go to a
temporary folder, or to ``$SCREENSHOTS`` when it is set::

    SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser_pages.py
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from annotator import jobs, services, storage
from annotator.models import Adjudication, Campaign, CampaignExam, Exam, Job
from annotator.synthetic import synthesize
from tests import factories

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1920, "height": 1080}
NARROW = {"width": 1366, "height": 768}
SMALL = {"width": 1024, "height": 768}
# Every `drawn` event of the ECG viewer (it does not bubble, so listen while capturing).
RECORD_DRAWS = (
    "window.__drawn = [];"
    "document.addEventListener('drawn', (e) => window.__drawn.push(e.detail), true);"
)


# --- Data --------------------------------------------------------------------------


ACQUIRED = datetime.datetime(2019, 3, 4, 13, 47, 21, tzinfo=datetime.UTC)


def ecg_exam(exam_id: str, seed: int, **rhythm: str) -> Exam:
    """An exam with a synthetic 12-lead signal written to storage."""
    ecg = synthesize(seed=seed, **rhythm)
    key = storage.signal_key("browser", exam_id)
    digest = storage.save_signal(key, ecg.signal_uv)
    return Exam.objects.create(
        dataset="browser",
        exam_id=exam_id,
        patient_pseudonym=f"P{seed:06d}",
        age=30 + seed % 60,
        sex="F" if seed % 2 else "M",
        acquired_at=ACQUIRED,
        sampling_rate=ecg.fs,
        n_samples=ecg.signal_uv.shape[1],
        lead_names=list(ecg.lead_names),
        signal_key=key,
        signal_sha256=digest,
        source_format="npy",
        machine_statements=[f"Synthetic {ecg.rhythm} rhythm", *ecg.labels],
        measurements={"hr_bpm": round(ecg.heart_rate, 1), "qrs_ms": round(ecg.qrs_ms)},
    )


def read_all(campaign: Campaign, reader: Any, labels: dict[str, list[str]]) -> None:
    """The reader claims and submits exams until ``labels`` has none left for them."""
    for _ in range(len(labels)):
        assignment = services.claim_next(campaign=campaign, reader=reader)
        if assignment is None:
            return
        services.submit_decision(
            assignment=assignment,
            reader=reader,
            labels=labels[assignment.exam.exam_id],
            quality=["noise"] if assignment.exam.exam_id.endswith("1") else [],
            comment=f"{reader.username} on {assignment.exam.display_key}",
        )


@pytest.fixture
def pilot(cast) -> Campaign:
    """Three exams read by both readers: B-001 (SR against AF) and B-003 disagree."""
    exams = [
        ecg_exam("B-001", 1),
        ecg_exam("B-002", 2, conduction="rbbb"),
        ecg_exam("B-003", 3, rhythm="af"),
    ]
    campaign = factories.make_campaign(cast, exams, name="Pilot study")
    read_all(
        campaign,
        cast.reader1,
        {"B-001": ["SR", "LVH"], "B-002": ["SR", "RBBB"], "B-003": ["AF"]},
    )
    read_all(
        campaign,
        cast.reader2,
        {"B-001": ["AF", "LVH"], "B-002": ["SR", "RBBB"], "B-003": ["AF", "PVC"]},
    )
    return campaign


@pytest.fixture
def study(cast) -> Campaign:
    """Sixteen exams, fourteen read by both readers; four disagree, two adjudicated."""
    plan = [
        (["SR", "NORM"], ["SR", "NORM"]),
        (["SR", "LVH"], ["SR", "LVH"]),
        (["AF"], ["AF"]),
        (["SR", "RBBB"], ["SR", "RBBB"]),
        (["SR", "1dAVb"], ["SR"]),
        (["AF", "PVC"], ["AF"]),
        (["SR", "NORM"], ["SR", "NORM"]),
        (["SB"], ["SB"]),
        (["SR", "LVH"], ["SR"]),
        (["AF"], ["AFL"]),
        (["SR", "NORM"], ["SR", "NORM"]),
        (["SR", "RBBB"], ["SR", "RBBB"]),
        (["SR", "NORM"], ["SR", "NORM"]),
        (["AF", "RBBB"], ["AF", "RBBB"]),
    ]
    exams = [ecg_exam(f"S-{i:03d}", 10 + i) for i in range(16)]
    campaign = factories.make_campaign(cast, exams, name="Agreement study")
    first = {f"S-{i:03d}": a for i, (a, _) in enumerate(plan)}
    second = {f"S-{i:03d}": b for i, (_, b) in enumerate(plan)}
    read_all(campaign, cast.reader1, first)
    read_all(campaign, cast.reader2, second)
    for exam_id, labels in (("S-004", ["SR", "1dAVb"]), ("S-009", ["AF"])):
        services.adjudicate(
            campaign=campaign,
            exam=Exam.objects.get(exam_id=exam_id),
            adjudicator=cast.adjudicator,
            labels=labels,
        )
    return campaign


# --- Browser -----------------------------------------------------------------------


class Console:
    """Console errors and uncaught exceptions of every page of a test."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        # (status, url part) of answers a test expects, whose console line the
        # browser writes on its own (a refused request is not a page's error).
        self.expected: list[tuple[int, str]] = []
        self.seen_expected = 0

    def on_console(self, message: Any) -> None:
        # The site has no favicon yet (base template); the browser's own request
        # for it is not an error of these pages.
        url = message.location.get("url", "")
        if message.type != "error" or "favicon" in url:
            return
        if any(
            f"status of {status}" in message.text and part in url
            for status, part in self.expected
        ):
            self.seen_expected += 1
            return
        self.errors.append(f"console: {message.text} at {message.location}")

    def on_page_error(self, error: Any) -> None:
        self.errors.append(f"pageerror: {error}")


@pytest.fixture
def console() -> Iterator[Console]:
    seen = Console()
    yield seen
    assert seen.errors == []


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def open_page(browser: Any, console: Console, live_server: Any, username: str) -> Any:
    """A new tab, logged in as ``username`` through the login form."""
    context = browser.new_context(viewport=NARROW, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.add_init_script(RECORD_DRAWS)
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    return page


def wait_drawn(page: Any, count: int = 1) -> dict[str, Any]:
    """Wait until the ECG viewer has drawn ``count`` times; the last draw's detail."""
    page.wait_for_function("(n) => window.__drawn.length >= n", arg=count)
    return page.evaluate("window.__drawn[window.__drawn.length - 1]")


def wait_loaded(page: Any, exam: Exam) -> None:
    """Wait until the ECG viewer has drawn ``exam`` after loading it."""
    page.wait_for_function(
        "(id) => window.__drawn.some((d) => d.examId === id && d.reason === 'load')",
        arg=exam.pk,
    )


def screenshot(page: Any, folder: Path, name: str, *, full_page: bool = False) -> None:
    """``name``.png at 1366 px, ``name``-1024.png and ``name``-1920.png at 1024
    and 1920 px, each under 300 KB."""
    page.mouse.move(0, 0)  # no hover state in the pictures
    for size, suffix in ((SMALL, "-1024"), (WIDE, "-1920"), (NARROW, "")):
        drawn = page.evaluate("window.__drawn.length")
        resized = page.viewport_size != size
        page.set_viewport_size(size)
        if resized and page.locator(".ecg-graph").count():
            wait_drawn(page, drawn + 1)
        page.wait_for_timeout(400)  # Plotly's responsive relayout
        path = folder / f"{name}{suffix}.png"
        page.screenshot(path=str(path), full_page=full_page)
        assert path.stat().st_size < 300_000, f"{path.name} is too large"
    page.set_viewport_size(NARROW)


def plot_data(page: Any, element_id: str) -> list[dict[str, Any]]:
    """The traces Plotly drew in a chart, as plain JSON."""
    return page.evaluate(
        """(id) => document.getElementById(id).data.map((t) => ({
            type: t.type, name: t.name, x: Array.from(t.x || []),
            y: Array.from(t.y || []), error_y: t.error_y || null,
            hovertemplate: t.hovertemplate || null}))""",
        element_id,
    )


# --- Tests -------------------------------------------------------------------------


def test_adjudicator_settles_disagreements_with_the_keyboard(
    browser, console, live_server, pilot, shots
):
    # The campaign shows a model's readings to its adjudicators.
    services.change_campaign(campaign=pilot, show_machine_readings=True)
    services.record_machine_readings(
        campaign=pilot,
        machine=services.machine_account("ecg-dnn"),
        labels=[(Exam.objects.get(exam_id="B-001"), ["AF", "LVH"])],
    )
    page = open_page(browser, console, live_server, "adjudicator")
    page.get_by_role("link", name="Adjudicate (2 waiting)").click()
    page.wait_for_url(f"**/adjudicate/{pilot.pk}/**")
    first, second = Exam.objects.get(exam_id="B-001"), Exam.objects.get(exam_id="B-003")
    wait_loaded(page, first)

    assert page.locator("#queue-count").inner_text() == "2"
    assert page.locator("#queue-list .queue-item .code").all_inner_texts() == [
        first.display_key,
        second.display_key,
    ]
    assert page.locator("#exam-heading").inner_text() == f"Exam {first.display_key}"
    # Adjudicators know exams by their display key and the day only: neither
    # the source ids nor the time of day reach the page.
    html = page.content()
    assert "B-001" not in html and "B-003" not in html
    meta = page.inner_text("#exam-meta")
    assert "2019" in meta and "13:47" not in meta and "47:21" not in meta
    headers = page.locator("#reads-table thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers] == ["class", "reader1", "reader2"]
    models = page.locator("#model-reads")
    assert models.is_visible()
    assert models.locator("li").all_inner_texts() == ["ecg-dnn: AFLVH"]
    af = page.locator('#reads-table tr[data-code="AF"]')
    sr = page.locator('#reads-table tr[data-code="SR"]')
    lvh = page.locator('#reads-table tr[data-code="LVH"]')
    for row in (af, sr):
        assert "disputed" in row.get_attribute("class")
        assert "Disagree" in row.inner_text()  # said in words, not by colour alone
    assert "disputed" not in (lvh.get_attribute("class") or "")
    assert "Disagree" not in lvh.inner_text()
    colour = "(r) => getComputedStyle(r.querySelector('td')).backgroundColor"
    assert af.evaluate(colour) != lvh.evaluate(colour)
    votes = [text.split()[-1] for text in af.locator("td.vote").all_inner_texts()]
    assert votes == ["No", "Yes"]
    notes = page.locator("#reads-table .reader-notes").inner_text()
    assert "Noise / artefact" in notes and f"reader2 on {first.display_key}" in notes
    # Pre-filled with what both readers chose; the disputed classes listed first.
    assert page.locator("#chosen .chip .code").all_inner_texts() == ["LVH"]
    dispute = page.locator("#disputed-list li").evaluate_all(
        "(items) => items.map((li) => li.dataset.code)"
    )
    assert dispute == ["SR", "AF"]
    screenshot(page, shots, "adjudicate")

    # j and k move through the queue.
    page.locator("body").press("j")
    wait_loaded(page, second)
    assert page.locator("#exam-heading").inner_text() == f"Exam {second.display_key}"
    assert page.locator("#position").inner_text() == "2 of 2"
    page.locator("body").press("k")
    expect(page.locator("#exam-heading")).to_have_text(f"Exam {first.display_key}")

    # Keyboard only: "/" to search, a code and Enter to add, Ctrl+Enter to save.
    page.locator("body").press("/")
    assert page.evaluate("document.activeElement.id") == "class-search"
    page.keyboard.type("SR")
    page.keyboard.press("Enter")
    assert page.locator("#chosen .chip .code").all_inner_texts() == ["SR", "LVH"]
    # A class chosen, the keys are the page's again: "/" to search once more.
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("/")
    page.keyboard.type("atrial fib")
    page.keyboard.press("Enter")
    # SR and AF exclude each other: AF replaces SR.
    assert page.locator("#chosen .chip .code").all_inner_texts() == ["AF", "LVH"]
    assert "replaces SR" in page.locator("#form-status").inner_text()
    page.keyboard.press("Control+Enter")

    # Saved: B-001 leaves the queue and the next exam opens.
    expect(page.locator("#queue-count")).to_have_text("1")
    expect(page.locator("#exam-heading")).to_have_text(f"Exam {second.display_key}")
    assert page.locator("#queue-list .queue-item .code").all_inner_texts() == [
        second.display_key
    ]
    assert (
        f"Saved final labels for {first.display_key}:"
        in page.locator("#live").inner_text()
    )
    adjudication = Adjudication.objects.get(campaign=pilot, exam=first)
    assert adjudication.labels == ["AF", "LVH"]
    assert adjudication.adjudicator.username == "adjudicator"
    link = CampaignExam.objects.get(campaign=pilot, exam=first)
    assert link.consensus_state == "adjudicated"

    # The last one by mouse: tick the disputed class, save.
    page.locator('#disputed-list input[value="PVC"]').check()
    page.get_by_role("button", name="Save and next").click()
    page.locator("#empty").wait_for()
    assert "settled" in page.locator("#empty").inner_text()
    assert page.locator("#queue-list .queue-item").count() == 0
    expect(page.locator("#queue-count")).to_have_text("0")
    assert Adjudication.objects.get(exam=second).labels == ["AF", "PVC"]

    # Adjudicated exams are still there on request, with the decision shown.
    page.locator("#show-all").check()
    expect(page.locator("#queue-list .queue-item.done")).to_have_count(2)
    expect(page.locator("#exam-heading")).to_have_text(
        f"Exam {second.display_key}"
    )  # stays open
    assert "By adjudicator (version 1)" in page.locator("#prior").inner_text()
    assert page.locator("#chosen .chip .code").all_inner_texts() == ["AF", "PVC"]


def test_manager_dashboard_computes_agreement_and_charts_kappa_with_intervals(
    browser, console, live_server, study, cast, shots, inline_tasks
):
    factories.make_campaign(
        cast, [ecg_exam("X-001", 99)], name="AF substudy", description="Second look."
    ).readers.add(cast.manager)
    page = open_page(browser, console, live_server, "manager")
    cards = page.locator(".campaign-card")
    assert cards.count() == 2
    substudy = cards.filter(has_text="AF substudy")
    assert substudy.get_by_role("link", name="Start reading").count() == 1
    assert "Reader" in substudy.locator(".roles").inner_text()
    assert page.get_by_role("link", name="Exam browser").count() == 1
    screenshot(page, shots, "home")

    cards.filter(has_text="Agreement study").get_by_role(
        "link", name="Dashboard"
    ).click()
    page.wait_for_url(f"**/campaigns/{study.pk}/")
    page.wait_for_function("document.getElementById('reads-text').textContent !== ''")
    assert page.locator("#reads-text").inner_text() == "28 / 32"
    assert page.locator("#reads-bar").evaluate("(p) => [p.value, p.max]") == [28, 32]
    states = dict(
        row.split("\t")[0:3:2]
        for row in page.locator("#states-body tr").all_inner_texts()
    )
    needs = CampaignExam.objects.filter(
        campaign=study, consensus_state="needs_adjudication"
    ).count()
    assert states["Pending reads"].startswith("2 ")
    assert states["Needs adjudication"].startswith(f"{needs} ")
    expect(page.locator("#report-meta")).to_contain_text("No agreement report yet")
    services.set_reference_labels(
        campaign=study,
        actor=cast.manager,
        labels=[(exam, ["AF"]) for exam in study.exams.order_by("pk")[:6]],
    )

    page.get_by_role("button", name="Compute agreement").click()
    page.locator("#class-chart .main-svg").first.wait_for()
    job = Job.objects.get(campaign=study, kind="agreement")
    assert job.status == "succeeded" and job.params["bootstrap"] == 200
    report = job.result
    kappa, undefined, prevalence = plot_data(page, "class-chart")
    assert kappa["type"] == "bar" and kappa["name"] == "Fleiss' κ"
    assert kappa["x"], "no class has a kappa"
    prevalences = [report["classes"][code]["prevalence"] for code in prevalence["x"]]
    assert prevalences == sorted(prevalences, reverse=True)
    error = kappa["error_y"]
    assert error["visible"] and not error["symmetric"]
    with_interval = 0
    for code, value, up, down in zip(
        kappa["x"], kappa["y"], error["array"], error["arrayminus"], strict=True
    ):
        stats = report["classes"][code]
        assert value == pytest.approx(stats["fleiss_kappa"])
        if stats["ci95"].get("fleiss_kappa"):
            low, high = stats["ci95"]["fleiss_kappa"]
            assert value + up == pytest.approx(high)
            assert value - down == pytest.approx(low)
            with_interval += 1
    assert with_interval >= 3

    # Classes no reader chose: undefined, with the reason on hover.
    assert "WPW" not in undefined["x"]
    page.get_by_label("Include classes no reader chose").check()
    _, undefined, _ = plot_data(page, "class-chart")
    at = undefined["x"].index("WPW")
    assert "no positive reads" in undefined["hovertemplate"][at]
    page.get_by_label("Include classes no reader chose").uncheck()

    page.locator("label", has_text="Gwet's AC1").click()
    ac1 = plot_data(page, "class-chart")[0]
    assert ac1["name"] == "Gwet's AC1"
    assert ac1["y"] == pytest.approx(
        [report["classes"][code]["ac1"] for code in ac1["x"]]
    )
    page.locator("label", has_text="Fleiss' κ").click()

    tiles = page.locator("#summary").inner_text()
    assert f"{report['macro']['fleiss_kappa']:.2f}" in tiles
    # Each tile says over which classes its macro average is.
    n = report["macro"]["n_classes"]["fleiss_kappa"]
    assert f"macro over the {n} classes where it is defined" in tiles
    averaged = page.locator("#summary .tile-foot").first.get_attribute("title")
    defined = [c for c, e in report["classes"].items() if e["fleiss_kappa"] is not None]
    assert averaged == "Averaged over: " + ", ".join(defined)
    assert "reader1 · reader2" in page.locator("#pair-table").inner_text()
    readers = plot_data(page, "reader-chart")
    assert [t["name"] for t in readers] == ["reader1", "reader2", "Undefined"]
    # Against the other readers (leave one out) first; the consensus on demand.
    for against, stats in (
        ("loo", report["reader_stats_leave_one_out"]["readers"]),
        ("consensus", report["reader_stats"]),
    ):
        page.locator("#reader-against").select_option(against)
        bars = plot_data(page, "reader-chart")[0]
        expected = [stats["reader1"][code]["f1"] for code in bars["x"]]
        assert bars["y"] == [None if v is None else pytest.approx(v) for v in expected]
    assert (
        "majority of the exam's other readers"
        not in page.locator("#reader-chart-desc").inner_text()
    )
    page.locator("#reader-against").select_option("loo")
    expect(page.locator("#reader-chart-desc")).to_contain_text("other readers")

    # Scores against the reference standard, and the exclusive groups.
    expect(page.locator("#reference-meta")).to_contain_text(
        "imported reference standard on 6 exams"
    )
    rows = page.locator("#reference-table tbody tr").all_inner_texts()
    assert [row.split("\t")[0] for row in rows] == ["reader1", "reader2"]
    macro_f1 = report["reference"]["macro"]["reader1"]["f1"]
    assert f"{macro_f1:.3f}" in rows[0]
    # No calibration exams nor re-reads in this study: the sections say so.
    expect(page.locator("#calibration-meta")).to_contain_text(
        "No calibration reads yet"
    )
    expect(page.locator("#retest-meta")).to_contain_text("No re-reads yet")
    groups = page.locator("#groups-table").inner_text()
    rhythm = report["groups"]["dominant_rhythm"]
    assert "dominant rhythm" in groups and "none" in groups
    assert f"{rhythm['fleiss_kappa']:.3f}" in groups

    page.get_by_role("button", name="Export CSV").click()
    page.locator("#recent-jobs a", has_text="Download").first.wait_for()
    assert Job.objects.get(campaign=study, kind="export").status == "succeeded"
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, shots, "dashboard")
    # The readers, reference and group sections, below the first screen.
    page.locator("#readers-heading").scroll_into_view_if_needed()
    page.evaluate("document.getElementById('readers-heading').scrollIntoView()")
    screenshot(page, shots, "dashboard-readers")


def test_jobs_page_follows_a_running_job_and_downloads_its_output(
    browser, console, live_server, study, cast, shots
):
    services.start_agreement_job(campaign=study, user=cast.manager, bootstrap=20)
    services.start_export_job(campaign=study, user=cast.manager, fmt="jsonl")
    Job.objects.create(
        kind="agreement",
        campaign=study,
        params={"bootstrap": 200},
        status="failed",
        progress=35,
        error="MemoryError: the bootstrap did not fit; try fewer resamples.",
        created_by=cast.manager,
    )
    export = Job.objects.create(
        kind="export",
        campaign=study,
        params={"format": "csv", "include_unresolved": False},
        created_by=cast.manager,
    )
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/jobs/")
    row = page.locator(f'#jobs-body tr[data-job="{export.pk}"]')
    bar = row.locator("progress")
    row.wait_for()
    assert "queued" in row.inner_text()
    assert bar.evaluate("(p) => [p.value, p.max]") == [0, 100]
    failed = page.locator("#jobs-body tr.job-failed")
    assert "MemoryError: the bootstrap did not fit" in failed.inner_text()

    # The page polls while the job runs, then shows the finished job's downloads.
    Job.objects.filter(pk=export.pk).update(status="running", progress=40)
    page.wait_for_function(
        "(id) => document.querySelector(`tr[data-job='${id}'] progress`)?.value === 40",
        arg=export.pk,
    )
    assert "running" in row.inner_text()
    screenshot(page, shots, "jobs")
    jobs.run_export(export.pk)
    row.get_by_role("link", name="⤓ Download").wait_for(timeout=30_000)
    assert "succeeded" in row.inner_text()
    assert row.locator("progress").evaluate("(p) => p.value") == 100
    with page.expect_download() as download:
        row.get_by_role("link", name="⤓ Download").click()
    text = Path(download.value.path()).read_text()
    assert text.splitlines()[0].startswith("exam_id,")
    assert len(text.splitlines()) == 1 + export_rows(export.pk)
    with page.expect_download() as manifest:
        row.get_by_role("link", name="⤓ Manifest").click()
    assert '"sha256"' in Path(manifest.value.path()).read_text()


def export_rows(job_id: int) -> int:
    return Job.objects.get(pk=job_id).result["rows"]


def test_exam_browser_filters_pages_and_opens_an_exam(
    browser, console, live_server, cast, shots
):
    from pydicom.data import get_testdata_file

    from annotator.ingest.importer import import_exams

    import_exams([get_testdata_file("waveform_ecg.dcm")], dataset="pydicom-sample")
    sample = Exam.objects.get(dataset="pydicom-sample")
    for i in range(3):
        ecg_exam(f"B-{i:03d}", 20 + i)
    factories.make_exams(55, dataset="bulk")  # rows only, for a second page

    page = open_page(browser, console, live_server, "manager")
    page.get_by_role("link", name="Exam browser").click()
    page.wait_for_url("**/exams/")
    page.locator("#exam-body tr[data-id]").first.wait_for()
    assert page.locator("#exam-body tr[data-id]").count() == 50
    expect(page.locator("#list-total")).to_have_text("59 exams in all")
    first_page = page.locator("#exam-body .link-button").all_inner_texts()
    page.get_by_role("button", name="Next →").click()
    page.wait_for_function(
        "document.querySelectorAll('#exam-body tr[data-id]').length === 9"
    )
    assert not set(first_page) & set(
        page.locator("#exam-body .link-button").all_inner_texts()
    )
    page.get_by_role("button", name="← Previous").click()
    page.wait_for_function(
        "document.querySelectorAll('#exam-body tr[data-id]').length === 50"
    )

    page.get_by_label("Dataset").fill("pydicom-sample")
    page.get_by_label("Dataset").press("Enter")
    page.wait_for_function(
        "document.querySelectorAll('#exam-body tr[data-id]').length === 1"
    )
    button = page.locator("#exam-body .link-button")
    assert button.inner_text() == sample.exam_id
    button.focus()
    page.keyboard.press("Enter")
    wait_loaded(page, sample)
    assert page.locator("#detail-heading").inner_text() == f"Exam {sample.exam_id}"
    assert "pydicom-sample" in page.locator("#exam-meta").inner_text()
    statements = page.locator("#exam-statements li").all_inner_texts()
    assert statements == sample.machine_statements and statements
    assert f"exam={sample.pk}" in page.url

    page.get_by_label("Dataset").fill("")
    page.get_by_label("Exam id starts with").fill("B-00")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function(
        "document.querySelectorAll('#exam-body tr[data-id]').length === 3"
    )
    expect(page.locator("#list-total")).to_have_text("3 exams in all")
    page.get_by_label("Exam id starts with").fill("B-001")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_function(
        "document.querySelector('#exam-body .link-button')?.textContent === 'B-001'"
    )
    assert page.locator("#exam-body tr[data-id]").count() == 1
    page.locator("#exam-body tr[data-id] td").first.click()
    wait_loaded(page, Exam.objects.get(exam_id="B-001"))
    assert page.locator("#detail-heading").inner_text() == "Exam B-001"
    # The manager sees what readers and adjudicators call the exam.
    key = Exam.objects.get(exam_id="B-001").display_key
    assert f"Exam {key}" in page.locator("#exam-meta").inner_text()
    assert "Heart rate" in page.locator("#exam-measurements").inner_text()
    expect(page.locator("#exam-record")).to_have_text("In no campaign.")

    page.get_by_role("button", name="Clear").click()
    page.wait_for_function(
        "document.querySelectorAll('#exam-body tr[data-id]').length === 50"
    )
    selected = page.locator("#exam-body tr.selected")
    assert selected.locator(".link-button").inner_text() == "B-001"
    screenshot(page, shots, "exams")


def test_a_stalled_job_shows_as_stalled_and_retry_runs_it_again(
    browser, console, live_server, study, cast, shots, inline_tasks
):
    """After kill -9 of its worker a job sat at "running 91 %" for two hours."""
    import datetime as dt

    from django.utils import timezone

    stalled = Job.objects.create(
        kind="agreement",
        campaign=study,
        params={"bootstrap": 0, "seed": 0, "chunk_size": 1000},
        status="running",
        progress=91,
        attempts=1,
        started_at=timezone.now() - dt.timedelta(minutes=20),
        heartbeat_at=timezone.now() - dt.timedelta(minutes=10),
        created_by=cast.manager,
    )
    page = open_page(browser, console, live_server, "manager")
    page.goto(f"{live_server.url}/jobs/")
    row = page.locator(f'#jobs-body tr[data-job="{stalled.pk}"]')
    row.wait_for()
    assert "stalled" in row.inner_text().lower()
    screenshot(page, shots, "jobs-stalled")
    row.get_by_role("button", name=f"Retry #{stalled.pk}").click()
    # Without a broker the retried job runs at once; the row follows it.
    row.get_by_role("link", name="⤓ Report (JSON)").wait_for(timeout=30_000)
    assert "succeeded" in row.inner_text()
    stalled.refresh_from_db()
    assert (stalled.status, stalled.attempts) == ("succeeded", 2)
