"""The labeling page and the ECG viewer in headless Chromium (Playwright).

Readers log in through /login/ on a live server and label exams whose signals
are really stored (synthetic ECGs, pydicom's 12-lead sample, MIT-BIH record 100).
Every page must run without a console error. Screenshots (1366 and 1920 px
wide) go to a temporary folder, or to ``$SCREENSHOTS`` when it is set::

    SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser_reading.py
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from annotator import storage
from annotator.ingest.importer import import_exams
from annotator.models import Campaign, CampaignExam, Decision, Exam
from annotator.synthetic import synthesize
from tests import factories

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDE = {"width": 1920, "height": 1080}
NARROW = {"width": 1366, "height": 768}
# Every `drawn` event of the viewer (it does not bubble: listen while capturing).
RECORD_DRAWS = (
    "window.__drawn = [];"
    "document.addEventListener('drawn', (e) => window.__drawn.push(e.detail), true);"
)
GRAPH = "document.querySelector('#viewer .js-plotly-plot')"
LEADS = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


# --- Data ------------------------------------------------------------------------


def ecg_exam(exam_id: str, seed: int, **rhythm: str) -> Exam:
    """An exam with a synthetic 10 s, 500 Hz 12-lead signal in storage."""
    ecg = synthesize(seed=seed, **rhythm)
    return stored_exam(
        exam_id,
        ecg.signal_uv,
        ecg.fs,
        list(ecg.lead_names),
        patient_pseudonym=f"P{seed:06d}",
        age=40 + seed,
        sex="F",
        machine_statements=[f"Machine says {ecg.rhythm}"],
    )


def stored_exam(
    exam_id: str, signal: Any, fs: float, leads: list[str], **fields: Any
) -> Exam:
    """An exam of dataset "reading" whose int16 µV ``signal`` is in storage."""
    key = storage.signal_key("reading", exam_id)
    return Exam.objects.create(
        dataset="reading",
        exam_id=exam_id,
        sampling_rate=fs,
        n_samples=signal.shape[1],
        lead_names=leads,
        signal_key=key,
        signal_sha256=storage.save_signal(key, signal),
        source_format="npy",
        **fields,
    )


def imported(path: Path | str, dataset: str) -> Exam:
    summary = import_exams(path, dataset=dataset)
    assert summary.imported == 1, summary
    return Exam.objects.get(dataset=dataset)


def dicom_exam() -> Exam:
    """pydicom's real 12-lead ECG: 10 s at 1000 Hz."""
    from pydicom.data import get_testdata_file

    return imported(get_testdata_file("waveform_ecg.dcm"), "dicom")


@pytest.fixture
def pilot(cast) -> Campaign:
    """Two synthetic exams (sinus, atrial fibrillation) for both readers."""
    exams = [ecg_exam("R-001", 1), ecg_exam("R-002", 2, rhythm="af")]
    return factories.make_campaign(cast, exams, name="Reading pilot")


# --- Browser -----------------------------------------------------------------------


class Tab:
    """One logged-in page with its console errors and signal requests."""

    def __init__(self, page: Any, live_server: Any) -> None:
        self.page = page
        self.url = live_server.url
        self.errors: list[str] = []
        self.signals: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on(
            "request",
            lambda request: (
                "/signal/" in request.url and self.signals.append(request.url)
            ),
        )

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location}")

    def read(self, campaign: Campaign) -> dict[str, Any]:
        """Open the labeling page and wait for the first ECG."""
        self.page.goto(f"{self.url}/read/{campaign.pk}/")
        return self.drawn(1)

    def drawn(self, count: int) -> dict[str, Any]:
        """Wait until the viewer has drawn ``count`` times; the last draw's detail."""
        self.page.wait_for_function("(n) => window.__drawn.length >= n", arg=count)
        return self.page.evaluate("window.__drawn[window.__drawn.length - 1]")

    def draws(self) -> int:
        return self.page.evaluate("window.__drawn.length")

    def figure(self) -> dict[str, Any]:
        """What Plotly drew: traces (typed arrays as lists), axes and config."""
        return self.page.evaluate(
            f"""() => {{
            const gd = {GRAPH};
            const list = (a) => a && Array.from(a, (v) => isNaN(v) ? null : v);
            const axis = (a) => ({{
                range: a.range, length: a._length, dtick: a.dtick, tick0: a.tick0,
                minor: a.minor ? a.minor.dtick : null, showgrid: a.showgrid,
                minorGrid: a.minor ? a.minor.showgrid : false,
            }});
            return {{
                graphs: document.querySelectorAll('.js-plotly-plot').length,
                traces: gd.data.map((t) => ({{
                    name: t.name, meta: t.meta, type: t.type, x0: t.x0 ?? null,
                    dx: t.dx ?? null, n: t.y.length, x: t.x ? list(t.x) : null,
                    y: list(t.y), typed: ArrayBuffer.isView(t.y),
                    simplify: t.line ? t.line.simplify : null,
                }})),
                x: axis(gd._fullLayout.xaxis),
                y: axis(gd._fullLayout.yaxis),
                config: {{
                    displaylogo: gd._context.displaylogo,
                    showSendToCloud: gd._context.showSendToCloud,
                }},
                buttons: Array.from(
                    document.querySelectorAll('#viewer .modebar-btn'),
                    (b) => b.getAttribute('data-title'),
                ),
            }};
        }}"""
        )


@pytest.fixture
def login(browser: Any, live_server: Any) -> Iterator[Any]:
    """``login(username, viewport)``: a new tab logged in through /login/.

    Every tab must end the test without console errors.
    """
    tabs: list[Tab] = []

    def open_tab(username: str, viewport: dict[str, int] = WIDE) -> Tab:
        context = browser.new_context(viewport=viewport)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.add_init_script(RECORD_DRAWS)
        tab = Tab(page, live_server)
        tabs.append(tab)
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", factories.PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{live_server.url}/")
        return tab

    yield open_tab
    for tab in tabs:
        assert tab.errors == []


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_png(target: Any, path: Path) -> None:
    """Screenshot ``target`` (a page or locator) as a 256-colour PNG (< 300 KB).

    Chromium's full-colour PNG of a 1920 px page of ECG paper and text is about
    330 KB; a palette of 256 colours looks the same at a third of the size.
    """
    from PIL import Image  # installed with wfdb (through matplotlib)

    image = Image.open(io.BytesIO(target.screenshot())).convert("RGB")
    palette = image.quantize(
        colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    palette.save(path, optimize=True)
    assert path.stat().st_size < 300_000


def title(tab: Tab) -> str:
    return tab.page.text_content("#exam-title") or ""


def heading(source_id: str) -> str:
    """The reading page's title for an exam: its display key, not the source id."""
    return f"Exam {Exam.objects.get(exam_id=source_id).display_key}"


def decision(campaign: Campaign, reader: Any, exam_id: str) -> Decision:
    return Decision.objects.get(
        assignment__campaign=campaign,
        assignment__reader=reader,
        assignment__exam__exam_id=exam_id,
    )


def px_per_mm(axis: dict[str, Any]) -> float:
    """Pixels per minor grid step (1 mm of paper) on an axis."""
    return axis["length"] / (axis["range"][1] - axis["range"][0]) * axis["minor"]


# --- Labeling ----------------------------------------------------------------------


def test_two_readers_label_both_exams_and_disagree_on_one(pilot, cast, login):
    reader1 = login("reader1")
    reader1.read(pilot)
    assert title(reader1) == heading("R-001")
    page = reader1.page
    page.check("#class-SR")
    page.check("#class-NORM")
    page.fill("#comment", "Clean tracing")
    page.click("#submit")
    reader1.drawn(2)
    page.wait_for_function(
        "(key) => document.querySelector('#exam-title').textContent === key",
        arg=heading("R-002"),
    )
    # Progress comes from the campaign's counts, fetched after the next exam shows.
    page.wait_for_function(
        "document.querySelector('#progress-text').textContent === '1 of 2 exams read'"
    )
    page.check("#class-AF")
    page.check("#quality input[value=noise]")
    page.click("#submit")
    page.wait_for_selector("#done", state="visible")
    assert "No exams left" in page.text_content("#done")

    reader2 = login("reader2")
    reader2.read(pilot)
    page = reader2.page
    assert title(reader2) == heading("R-001")
    # Blinded: nothing of reader1 and no machine statements on reader2's screen,
    # and nothing of the source id (it can carry the acquisition time).
    assert "Clean tracing" not in page.content()
    assert "R-001" not in page.content()
    assert not page.is_visible("#machine")
    assert "Machine says" not in page.content()
    page.fill("#class-search", "sinus rhythm")
    page.press("#class-search", "Enter")
    page.check("#class-NORM")
    page.click("#submit")
    reader2.drawn(2)
    page.wait_for_function(
        "(key) => document.querySelector('#exam-title').textContent === key",
        arg=heading("R-002"),
    )
    page.fill("#class-search", "flutter")
    page.press("#class-search", "Enter")
    page.click("#submit")
    page.wait_for_selector("#done", state="visible")

    first = decision(pilot, cast.reader1, "R-001")
    assert set(first.labels) == {"SR", "NORM"}
    assert first.comment == "Clean tracing"
    assert 0 < first.duration_ms < 60_000
    assert decision(pilot, cast.reader1, "R-002").quality == ["noise"]
    assert set(decision(pilot, cast.reader2, "R-001").labels) == {"SR", "NORM"}
    assert decision(pilot, cast.reader2, "R-002").labels == ["AFL"]
    states = {
        link.exam.exam_id: link
        for link in CampaignExam.objects.filter(campaign=pilot).select_related("exam")
    }
    assert states["R-001"].consensus_state == CampaignExam.ConsensusState.UNANIMOUS
    assert states["R-002"].consensus_state == (
        CampaignExam.ConsensusState.NEEDS_ADJUDICATION
    )
    assert set(states["R-002"].disagreeing_classes) == {"AF", "AFL"}


def test_a_reader_labels_with_the_keyboard_only(pilot, cast, login):
    tab = login("reader1", NARROW)
    tab.read(pilot)
    keys = tab.page.keyboard
    checked = "(code) => document.getElementById('class-' + code).checked"

    keys.press("s")  # shortcut: sinus rhythm
    assert tab.page.evaluate(checked, "SR")
    keys.press("b")  # sinus bradycardia: the same exclusive group
    assert tab.page.evaluate(checked, "SB")
    assert not tab.page.evaluate(checked, "SR")
    tab.page.wait_for_function(
        "document.getElementById('status').textContent.includes('replaces SR')"
    )

    keys.press("/")
    assert tab.page.evaluate("document.activeElement.id") == "class-search"
    keys.type("lbbb")
    keys.press("Enter")  # the first match
    assert tab.page.evaluate(checked, "LBBB")
    assert tab.page.input_value("#class-search") == ""

    keys.press("Escape")  # leave the search box
    keys.press("?")
    assert tab.page.is_visible("#help")
    assert "Sinus bradycardia (SB)" in tab.page.text_content("#help-classes")
    keys.press("Escape")
    assert not tab.page.is_visible("#help")

    # Tab through the page to the noise flag; every stop shows its focus.
    for _ in range(150):
        keys.press("Tab")
        focused = tab.page.evaluate(
            "() => { const el = document.activeElement;"
            " return {value: el.value, visible: el.matches(':focus-visible'),"
            " labelled: Boolean(el.labels?.length || el.getAttribute('aria-label')"
            " || el.textContent.trim())}; }"
        )
        assert focused["visible"] and focused["labelled"], focused
        if focused["value"] == "noise":
            break
    else:
        pytest.fail("Tab never reached the noise flag")
    keys.press("Space")
    for _ in range(3):  # past the other flags
        keys.press("Tab")
        if tab.page.evaluate("document.activeElement.id") == "comment":
            break
    assert tab.page.evaluate("document.activeElement.id") == "comment"
    keys.type("Read without a mouse")
    keys.press("Control+Enter")

    tab.drawn(2)
    tab.page.wait_for_function(
        "(key) => document.querySelector('#exam-title').textContent === key",
        arg=heading("R-002"),
    )
    keys.press("a")  # atrial fibrillation
    keys.press("Enter")
    tab.page.wait_for_selector("#done", state="visible")

    first = decision(pilot, cast.reader1, "R-001")
    assert set(first.labels) == {"SB", "LBBB"}
    assert first.quality == ["noise"]
    assert first.comment == "Read without a mouse"
    assert decision(pilot, cast.reader1, "R-002").labels == ["AF"]


def test_the_next_exam_is_prefetched_and_drawn_without_a_signal_request(pilot, login):
    tab = login("reader1")
    tab.read(pilot)
    # The second exam is claimed ahead and its signal fetched while reading.
    tab.page.wait_for_function(
        "(n) => performance.getEntriesByType('resource')"
        ".filter((e) => e.name.includes('/signal/')).length >= n",
        arg=2,
    )
    before = list(tab.signals)
    assert len(before) == 2
    tab.page.keyboard.press("s")
    tab.page.keyboard.press("Enter")
    detail = tab.drawn(2)
    assert title(tab) == heading("R-002")
    assert tab.signals == before  # drawn from memory
    assert detail["ms"] < 1000


def test_an_empty_queue_and_api_errors_are_shown(cast, login):
    exam = ecg_exam("R-100", 5)
    campaign = factories.make_campaign(cast, [exam], name="Small")
    # A missing signal file: the API's own message reaches the reader.
    storage.delete_signal(exam.signal_key)
    tab = login("reader1")
    tab.page.goto(f"{tab.url}/read/{campaign.pk}/")
    tab.page.wait_for_selector("#alert:not([hidden])")
    assert "signal is not in storage" in tab.page.text_content("#alert")
    tab.page.check("#quality input[value=incomplete]")
    tab.page.click("#submit")
    tab.page.wait_for_selector("#done", state="visible")
    assert tab.page.evaluate("document.activeElement.id") == "done"
    assert decision(campaign, cast.reader1, "R-100").quality == ["incomplete"]
    # Opening the page again: nothing left.
    tab.page.goto(f"{tab.url}/read/{campaign.pk}/")
    tab.page.wait_for_selector("#done", state="visible")
    # The browser itself logs the signal's 404; nothing else may fail.
    tab.errors[:] = [e for e in tab.errors if "/signal/" not in e]


# --- The viewer ---------------------------------------------------------------------


def test_one_graph_holds_every_lead_on_square_millimetre_paper(cast, login):
    campaign = factories.make_campaign(cast, [dicom_exam()], name="DICOM")
    tab = login("reader1")
    tab.read(campaign)
    figure = tab.figure()

    assert figure["graphs"] == 1
    leads = [t for t in figure["traces"] if t["meta"].get("lead")]
    assert len(leads) == 13  # 3x4 + the lead II rhythm strip
    assert sorted({t["name"] for t in leads}) == sorted(LEADS)
    rhythm = [t for t in leads if t["meta"]["rhythm"]]
    assert [t["name"] for t in rhythm] == ["II"]
    assert rhythm[0]["meta"]["end"] - rhythm[0]["meta"]["start"] == pytest.approx(10)
    columns = [t for t in leads if not t["meta"]["rhythm"]]
    assert all(t["meta"]["end"] - t["meta"]["start"] == 2.5 for t in columns)
    assert all(t["typed"] and t["type"] == "scatter" for t in figure["traces"])

    # 25 mm/s and 10 mm/mV: 1 mm = 0.04 s = 100 µV, 5 mm = 0.2 s = 500 µV.
    x, y = figure["x"], figure["y"]
    assert (x["dtick"], x["minor"]) == pytest.approx((0.2, 0.04))
    assert (y["dtick"], y["minor"]) == pytest.approx((500, 100))
    assert x["showgrid"] and x["minorGrid"] and y["showgrid"] and y["minorGrid"]
    assert px_per_mm(x) == pytest.approx(px_per_mm(y), rel=0.01)

    # One calibration pulse per row: 1000 µV high, 0.2 s wide.
    (calibration,) = [t for t in figure["traces"] if t["name"] == "calibration"]
    pulses = split_at_gaps(calibration["x"], calibration["y"])
    assert len(pulses) == 4
    for xs, ys in pulses:
        top = max(ys)
        assert top - min(ys) == pytest.approx(1000)
        high = [xv for xv, yv in zip(xs, ys, strict=True) if yv == top]
        assert max(high) - min(high) == pytest.approx(0.2)
        assert max(xs) <= 0  # in the margin before the tracing starts

    assert figure["config"] == {"displaylogo": False, "showSendToCloud": False}
    assert not any(
        "cloud" in (b or "").lower() or "studio" in (b or "").lower()
        for b in figure["buttons"]
    )
    assert tab.page.locator(".modebar-btn--logo").count() == 0


def split_at_gaps(xs: list[Any], ys: list[Any]) -> list[tuple[list, list]]:
    parts: list[tuple[list, list]] = [([], [])]
    for xv, yv in zip(xs, ys, strict=True):
        if xv is None or yv is None:
            parts.append(([], []))
        else:
            parts[-1][0].append(xv)
            parts[-1][1].append(yv)
    return [p for p in parts if p[0]]


def test_speed_gain_and_layout_change_the_scale_not_the_data(pilot, login):
    tab = login("reader1")
    tab.read(pilot)
    before = tab.figure()
    samples = {t["name"]: t["n"] for t in before["traces"] if t["meta"].get("rhythm")}

    tab.page.select_option("#viewer select[name=speed]", "50")
    tab.drawn(2)
    fast = tab.figure()
    assert (fast["x"]["dtick"], fast["x"]["minor"]) == pytest.approx((0.1, 0.02))
    assert px_per_mm(fast["x"]) == pytest.approx(px_per_mm(before["x"]), rel=0.01)
    x_scale = fast["x"]["length"] / (fast["x"]["range"][1] - fast["x"]["range"][0])
    x_before = before["x"]["length"] / (
        before["x"]["range"][1] - before["x"]["range"][0]
    )
    assert x_scale == pytest.approx(2 * x_before, rel=0.01)  # px per second
    # A page is 250 mm: 5 s at 50 mm/s, so 3x4 shows 1.25 s per column, every
    # lead on screen, and the rhythm strip the page's 5 s (the record is paged).
    leads = [t for t in fast["traces"] if t["meta"].get("lead")]
    assert sorted({t["name"] for t in leads}) == sorted(LEADS)
    assert all(
        t["meta"]["end"] - t["meta"]["start"] == 1.25
        for t in leads
        if not t["meta"]["rhythm"]
    )
    (strip,) = [t for t in leads if t["meta"]["rhythm"]]
    assert (strip["meta"]["start"], strip["meta"]["end"]) == (0, 5)
    assert strip["n"] == pytest.approx(samples["II"] / 2, abs=1)  # 0-5 s inclusive

    tab.page.select_option("#viewer select[name=gain]", "20")
    tab.drawn(3)
    tall = tab.figure()
    assert (tall["y"]["dtick"], tall["y"]["minor"]) == pytest.approx((250, 50))
    y_scale = tall["y"]["length"] / (tall["y"]["range"][1] - tall["y"]["range"][0])
    y_before = before["y"]["length"] / (
        before["y"]["range"][1] - before["y"]["range"][0]
    )
    assert y_scale == pytest.approx(2 * y_before, rel=0.01)  # px per µV
    assert px_per_mm(tall["x"]) == pytest.approx(px_per_mm(tall["y"]), rel=0.01)

    tab.page.select_option("#viewer select[name=speed]", "12.5")
    tab.page.select_option("#viewer select[name=gain]", "5")
    tab.drawn(5)
    small = tab.figure()
    assert (small["x"]["minor"], small["y"]["minor"]) == pytest.approx((0.08, 200))
    assert signal_is_unchanged(samples, small)
    assert px_per_mm(small["x"]) == pytest.approx(px_per_mm(small["y"]), rel=0.01)

    for layout, rows in (("6x2", 6), ("12x1", 12)):
        tab.page.select_option("#viewer select[name=layout]", layout)
        tab.page.wait_for_function(
            "(l) => window.__drawn.at(-1).layout === l && window.__drawn.at(-1)"
            ".reason === 'layout'",
            arg=layout,
        )
        figure = tab.figure()
        leads = [t for t in figure["traces"] if t["meta"].get("lead")]
        assert len(leads) == 12 and {t["meta"]["row"] for t in leads} == set(
            range(rows)
        )
        span = 10 / (12 // rows)
        assert all(t["meta"]["end"] - t["meta"]["start"] == span for t in leads)
    assert len(tab.signals) <= 2  # the exam (and the prefetched next): no refetch


def signal_is_unchanged(samples: dict[str, int], figure: dict[str, Any]) -> bool:
    return samples == {
        t["name"]: t["n"] for t in figure["traces"] if t["meta"].get("rhythm")
    }


def test_zooming_a_long_record_refetches_the_window_at_full_resolution(
    cast, login, wfdb_dir
):
    mitdb = imported(wfdb_dir / "100.hea", "mitdb")  # 30 min, 2 leads at 360 Hz
    campaign = factories.make_campaign(cast, [mitdb], name="Holter")
    tab = login("reader1")
    first = tab.read(campaign)
    assert first["method"] == "m4" and first["layout"] == "overview"
    overview = tab.figure()
    assert {t["name"] for t in overview["traces"] if t["meta"].get("lead")} == {
        "II",
        "V5",
    }
    assert all(
        t["x"] is not None and not t["simplify"]
        for t in overview["traces"]
        if t["meta"].get("lead")
    )
    assert len(tab.signals) == 1

    tab.page.evaluate(f"Plotly.relayout({GRAPH}, {{'xaxis.range': [600, 610]}})")
    tab.page.wait_for_function(
        "window.__drawn.at(-1).reason === 'zoom' && window.__drawn.at(-1).method"
        " === 'raw'"
    )
    assert len(tab.signals) == 2
    query = parse_qs(urlparse(tab.signals[1]).query)
    assert float(query["start"][0]) == pytest.approx(595)
    assert float(query["end"][0]) == pytest.approx(615)
    zoomed = tab.figure()
    fs = mitdb.sampling_rate
    for trace in (t for t in zoomed["traces"] if t["meta"].get("lead")):
        assert trace["x"] is None and trace["dx"] == pytest.approx(1 / fs)
        assert trace["x0"] == pytest.approx(595, abs=1 / fs)
        assert trace["n"] == pytest.approx(20 * fs, abs=2)  # every sample
    assert zoomed["x"]["minor"] == pytest.approx(0.04)  # the mm grid again

    # Back to the whole record: drawn from memory, no request.
    tab.page.click("#viewer .ecg-reset")
    tab.page.wait_for_function("window.__drawn.at(-1).reason === 'reset'")
    assert len(tab.signals) == 2
    assert math.isclose(
        tab.figure()["x"]["range"][1], mitdb.n_samples / fs, rel_tol=1e-6
    )


def test_the_labeling_page_fits_1366_and_1920_and_screenshots(cast, login, shots):
    campaign = factories.make_campaign(
        cast, [dicom_exam(), ecg_exam("R-003", 3)], name="Screens"
    )
    for viewport, name in ((NARROW, "read"), (WIDE, "read-1920")):
        tab = login("reader1", viewport)
        tab.read(campaign)
        tab.page.wait_for_timeout(300)  # let the toast fade
        box = tab.page.locator("#viewer .js-plotly-plot").bounding_box()
        panel = tab.page.locator("#decision").bounding_box()
        assert box["x"] + box["width"] <= panel["x"]  # side by side
        assert box["y"] + box["height"] <= viewport["height"]  # the whole ECG
        assert tab.page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        )
        save_png(tab.page, shots / f"{name}.png")
        tab.page.context.close()

    tab = login("reader1", WIDE)
    tab.read(campaign)
    for layout in ("6x2", "12x1"):
        tab.page.select_option("#viewer select[name=layout]", layout)
        tab.page.wait_for_function(
            "(l) => window.__drawn.at(-1).layout === l", arg=layout
        )
        save_png(tab.page.locator("#viewer"), shots / f"viewer-{layout}.png")
