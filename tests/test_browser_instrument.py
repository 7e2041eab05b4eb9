"""The viewer as a reading instrument, in headless Chromium: calipers, cursor
readout, a grid that is always 1 mm / 5 mm, pages at every speed, display
filters, keys that never collide with the taxonomy's, and the pages' widths.

Screenshots (1024, 1366 and 1920 px) go to a temporary folder, or to
``$SCREENSHOTS`` when it is set::

    SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser_instrument.py
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests import factories
from tests.test_browser_pages import read_all
from tests.test_browser_reading import (  # noqa: F401 (fixtures)
    GRAPH,
    LEADS,
    NARROW,
    WIDE,
    Tab,
    dicom_exam,
    ecg_exam,
    login,
    px_per_mm,
    save_png,
    shots,
    stored_exam,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SMALL = {"width": 1024, "height": 768}
READOUT = "#viewer .ecg-readout"


@pytest.fixture
def exam_campaign(cast):
    """One synthetic 10 s, 500 Hz exam with the machine's measurements."""
    exam = ecg_exam("R-001", 1)
    exam.measurements = {"hr_bpm": 72, "pr_ms": 164, "qrs_ms": 92, "qt_ms": 380}
    exam.save(update_fields=["measurements"])
    return factories.make_campaign(cast, [exam], name="Instrument")


def axes(tab: Tab) -> dict[str, Any]:
    """The plot's ranges, size and position on the page (css px)."""
    return tab.page.evaluate(
        f"""() => {{
        const gd = {GRAPH};
        const box = gd.getBoundingClientRect();
        const x = gd._fullLayout.xaxis, y = gd._fullLayout.yaxis;
        return {{x: x.range, y: y.range, width: x._length, height: y._length,
                 left: box.left, top: box.top}};
    }}"""
    )


def pixel(a: dict[str, Any], t: float, uv: float) -> tuple[float, float]:
    """Where time t (s) and paper y (µV) are on the page."""
    px = a["left"] + (t - a["x"][0]) / (a["x"][1] - a["x"][0]) * a["width"]
    py = a["top"] + (a["y"][1] - uv) / (a["y"][1] - a["y"][0]) * a["height"]
    return px, py


def drag(tab: Tab, start: tuple[float, float], end: tuple[float, float]) -> None:
    mouse = tab.page.mouse
    mouse.move(*start)
    mouse.down()
    mouse.move(*end, steps=4)
    mouse.up()


def readout(tab: Tab) -> dict[str, float]:
    data = tab.page.eval_on_selector(READOUT, "(n) => ({...n.dataset})")
    numbers = ("caliperMs", "caliperBpm", "caliperUv")
    return {k: float(v) for k, v in data.items() if k in numbers and v}


def baseline_of_lead_ii(tab: Tab) -> float:
    """Paper y (µV) of lead II's baseline in 3x4 (row 2 of 4, 35 mm pitch)."""
    a = axes(tab)
    gain = tab.page.evaluate(
        "document.querySelector('#viewer select[name=gain]').value"
    )
    uv_per_mm = 1000 / float(gain)
    top_mm = (a["y"][1] - a["y"][0]) / uv_per_mm  # the whole paper, footer included
    return (top_mm - 35 - 20) * uv_per_mm


def position(tab: Tab) -> tuple[float, float]:
    """What the position bar says is on screen (s)."""
    bar = "#viewer .ecg-position"
    start, end = (tab.page.get_attribute(bar, f"data-{k}") for k in ("start", "end"))
    return float(start), float(end)


# --- Calipers ----------------------------------------------------------------------


def test_calipers_measure_intervals_rates_and_amplitudes_to_a_pixel(
    exam_campaign, login
):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    tab.page.get_by_role("button", name="Calipers").click()
    a = axes(tab)
    base = baseline_of_lead_ii(tab)
    fs = 500
    pixel_ms = (a["x"][1] - a["x"][0]) / a["width"] * 1000
    tolerance = max(1000 / fs, pixel_ms)

    drag(tab, pixel(a, 0.5, base), pixel(a, 1.3, base + 1000))
    value = readout(tab)
    assert value["caliperMs"] == pytest.approx(800, abs=tolerance)
    assert value["caliperBpm"] == pytest.approx(60000 / value["caliperMs"], rel=1e-3)
    uv_per_px = (a["y"][1] - a["y"][0]) / a["height"]
    assert value["caliperUv"] == pytest.approx(1000, abs=max(uv_per_px, 5))
    assert tab.page.eval_on_selector(READOUT, "(n) => n.dataset.caliperLead") == "II"
    assert "ms" in tab.page.text_content(READOUT)

    # Nudges: 1 mm = 40 ms at 25 mm/s, Shift 5 mm, Alt one sample (2 ms).
    before = readout(tab)["caliperMs"]
    tab.page.keyboard.press("ArrowRight")
    assert readout(tab)["caliperMs"] == pytest.approx(before + 40, abs=0.2)
    tab.page.keyboard.press("Shift+ArrowRight")
    assert readout(tab)["caliperMs"] == pytest.approx(before + 240, abs=0.2)
    tab.page.keyboard.press("Alt+ArrowLeft")
    assert readout(tab)["caliperMs"] == pytest.approx(before + 238, abs=0.2)
    tab.page.keyboard.press("ArrowUp")  # the level: 1 mm = 100 µV at 10 mm/mV
    assert readout(tab)["caliperUv"] == pytest.approx(value["caliperUv"] + 100, abs=1)
    assert tab.page.evaluate("window.__drawn.length") == 1  # arrows did not page

    # Dragging a cursor moves it; the other stays.
    a = axes(tab)
    interval = readout(tab)["caliperMs"] / 1000
    drag(tab, pixel(a, 0.5 + interval, base), pixel(a, 1.5, base))
    assert readout(tab)["caliperMs"] == pytest.approx(1000, abs=tolerance)

    # March out: marks every interval across the strip, one interval apart.
    tab.page.keyboard.press("Shift+M")
    marks = tab.page.eval_on_selector_all(
        "#viewer .caliper-march", "(ns) => ns.map((n) => +n.getAttribute('x1'))"
    )
    assert len(marks) >= 5
    step = 1.0 / (a["x"][1] - a["x"][0]) * a["width"]
    gaps = [b - c for b, c in zip(sorted(marks)[1:], sorted(marks), strict=False)]
    assert all(g == pytest.approx(step, abs=0.01) or g > step for g in gaps)

    # Zooming keeps the cursors on the paper: same times, new pixels.
    tab.page.keyboard.press("+")
    tab.page.wait_for_function(
        f"{GRAPH}._fullLayout.xaxis.range[1] - {GRAPH}._fullLayout.xaxis.range[0] < "
        f"{(a['x'][1] - a['x'][0]) * 0.9}"
    )
    zoomed = axes(tab)
    assert readout(tab)["caliperMs"] == pytest.approx(1000, abs=tolerance)
    lines = tab.page.eval_on_selector_all(
        "#viewer .caliper-line", "(ns) => ns.map((n) => +n.getAttribute('x1'))"
    )
    expected = sorted(pixel(zoomed, t, 0)[0] - zoomed["left"] for t in (0.5, 1.5))
    assert sorted(lines) == pytest.approx(expected, abs=0.5)

    tab.page.keyboard.press("Shift+X")
    assert "caliperMs" not in readout(tab)


def test_cursor_readout_names_the_lead_time_and_amplitude(exam_campaign, login):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    a = axes(tab)
    base = baseline_of_lead_ii(tab)
    tab.page.mouse.move(*pixel(a, 1.0, base))
    assert not tab.page.locator("#viewer .cursor-line").count()  # off by default
    tab.page.keyboard.press("Shift+H")
    tab.page.mouse.move(*pixel(a, 1.2, base))
    text = tab.page.eval_on_selector(READOUT, "(n) => n.dataset.cursor")
    assert text.startswith("II") and "1.200 s" in text and "mV" in text
    assert tab.page.locator("#viewer .cursor-line").count() == 1


def test_viewer_keys_never_toggle_a_class_and_the_help_lists_them(exam_campaign, login):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    tab.page.keyboard.press("Shift+S")  # next speed; "s" is sinus rhythm's shortcut
    tab.page.wait_for_function("window.__drawn.at(-1).reason === 'speed'")
    assert tab.page.input_value("#viewer select[name=speed]") == "50"
    assert tab.page.locator("#chosen .chip").count() == 0
    tab.page.keyboard.press("s")
    assert tab.page.locator("#chosen .chip").count() == 1
    tab.page.keyboard.press("Shift+G")
    tab.page.wait_for_function("window.__drawn.at(-1).reason === 'gain'")
    assert tab.page.input_value("#viewer select[name=gain]") == "20"
    tab.page.keyboard.press("?")
    rows = tab.page.locator("#help-viewer-keys tr")
    assert rows.count() >= 15
    assert "Calipers" in tab.page.text_content("#help-viewer-keys")


def test_machine_measurements_are_shown_with_the_exam(exam_campaign, login):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    text = tab.page.text_content("#measurements")
    for expected in ("HR", "72 bpm", "PR", "164 ms", "QRS", "92 ms", "QT", "380 ms"):
        assert expected in text
    # Reader-facing text has no implementation jargon.
    assert "M4" not in tab.page.text_content("#viewer")


# --- Paper: grid, pages, gains, order ------------------------------------------------


@pytest.mark.parametrize("viewport", [SMALL, NARROW, WIDE], ids=lambda v: v["width"])
def test_the_grid_is_always_1_mm_and_5_mm(exam_campaign, login, viewport, shots):
    tab = login("reader1", viewport)
    tab.read(exam_campaign)
    figure = tab.figure()
    x, y = figure["x"], figure["y"]
    assert (x["dtick"], x["minor"]) == pytest.approx((0.2, 0.04))  # 25 mm/s
    assert (y["dtick"], y["minor"]) == pytest.approx((500, 100))  # 10 mm/mV
    mm = px_per_mm(x)
    assert x["minorGrid"] == (mm >= 2) and y["minorGrid"] == (mm >= 2)
    # Plotly's "double-click to zoom back out" tip would cover the page's controls.
    assert tab.page.evaluate(f"{GRAPH}._context.showTips") is False
    if viewport["width"] >= 1366:
        assert mm >= 3.5
    if viewport is SMALL:  # 1366 and 1920: test_browser_reading's read*.png
        save_png(tab.page, shots / "read-1024.png")
        # Folding the label panel gives the ECG the width.
        draws = tab.draws()
        tab.page.click("#panel-toggle")
        tab.drawn(draws + 1)
        assert px_per_mm(tab.figure()["x"]) >= 3.5
        assert tab.page.get_attribute("#panel-toggle", "aria-expanded") == "false"
        save_png(tab.page, shots / "read-1024-folded.png")


def test_the_adjudication_page_draws_at_3_5_px_per_mm_at_1366(cast, login, shots):
    exams = [ecg_exam("B-001", 1), ecg_exam("B-002", 2, rhythm="af")]
    campaign = factories.make_campaign(
        cast, exams, name="Disputed", display_filters={"highpass": 0.5, "notch": 50}
    )
    read_all(campaign, cast.reader1, {"B-001": ["SR"], "B-002": ["AF"]})
    read_all(campaign, cast.reader2, {"B-001": ["AF"], "B-002": ["SR"]})
    for viewport in (NARROW, SMALL):
        tab = login("adjudicator", viewport)
        tab.page.goto(f"{tab.url}/adjudicate/{campaign.pk}/")
        tab.drawn(1)
        mm = px_per_mm(tab.figure()["x"])
        if viewport is NARROW:
            assert mm >= 3.5
            # The campaign's display filters are where the adjudicator starts.
            assert tab.page.input_value("#viewer select[name=notch]") == "50"
            query = parse_qs(urlparse(tab.signals[0]).query)
            assert (query["highpass"], query["notch"]) == (["0.5"], ["50"])
        if viewport is SMALL:  # 1366: test_browser_pages's adjudicate.png
            save_png(tab.page, shots / "adjudicate-1024.png")
        tab.page.context.close()


def test_3x4_at_50_mm_s_shows_every_lead_and_pages_through_the_record(
    exam_campaign, login
):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    tab.page.select_option("#viewer select[name=speed]", "50")
    tab.drawn(2)
    figure = tab.figure()
    leads = [t for t in figure["traces"] if t["meta"].get("lead")]
    assert sorted({t["name"] for t in leads}) == sorted(LEADS)
    x = figure["x"]["range"]
    assert all(
        x[0] <= t["meta"]["start"] and t["meta"]["end"] <= x[1] + 1e-9 for t in leads
    )
    assert position(tab) == pytest.approx((0, 5), abs=0.01)

    tab.page.keyboard.press("ArrowRight")
    tab.page.wait_for_function("window.__drawn.at(-1).reason === 'page'")
    second = tab.figure()
    starts = {t["meta"]["start"] for t in second["traces"] if t["meta"].get("rhythm")}
    assert starts == {5}
    assert second["x"]["range"][0] < 5 < second["x"]["range"][1]
    assert position(tab) == pytest.approx(
        (4.76, 10), abs=0.01
    )  # the margin, then 5-10 s
    assert "2 of 2" in tab.page.text_content("#viewer .ecg-position")
    tab.page.keyboard.press("ArrowRight")  # the last page: nothing moves
    tab.page.keyboard.press("ArrowLeft")
    tab.page.wait_for_function(
        "window.__drawn.filter((d) => d.reason === 'page').length === 2"
    )
    assert tab.figure()["x"]["range"][0] < 0
    assert len(tab.signals) <= 2  # pages are drawn from memory


def test_chest_gain_and_cabrera_order_are_drawn_and_printed(exam_campaign, login):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    tab.page.select_option("#viewer select[name=chest-gain]", "5")
    tab.drawn(2)
    figure = tab.figure()
    gains = {
        t["name"]: t["meta"]["gain"] for t in figure["traces"] if t["meta"].get("lead")
    }
    assert gains["V1"] == 5 and gains["II"] == 10
    (text,) = [t for t in figure["traces"] if t["name"] == "labels"]
    assert text["meta"]["footer"] == "25 mm/s  10/5 mm/mV"
    # The chest rows' calibration pulse is 5 mm high: 500 µV of paper at 10 mm/mV.
    tab.page.keyboard.press("Shift+O")
    tab.drawn(3)
    figure = tab.figure()
    first_column = sorted(
        (
            t
            for t in figure["traces"]
            if t["meta"].get("column") == 0 and not t["meta"]["rhythm"]
        ),
        key=lambda t: t["meta"]["row"],
    )
    assert [t["name"] for t in first_column] == ["aVL", "I", "-aVR"]
    assert first_column[2]["meta"]["inverted"]


# --- Filters ----------------------------------------------------------------------


def test_filters_are_asked_of_the_server_printed_and_undone(exam_campaign, login):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    raw = {t["name"]: t["y"] for t in tab.figure()["traces"] if t["meta"].get("lead")}
    tab.page.select_option("#viewer select[name=filter]", label="0.5–40 Hz")
    tab.page.wait_for_function("window.__drawn.at(-1).reason === 'filters'")
    tab.page.select_option("#viewer select[name=notch]", "60")
    tab.page.wait_for_function(
        "window.__drawn.filter((d) => d.reason === 'filters').length === 2"
    )
    query = parse_qs(urlparse(tab.signals[-1]).query)
    assert (query["highpass"], query["lowpass"], query["notch"]) == (
        ["0.5"],
        ["40"],
        ["60"],
    )
    figure = tab.figure()
    (text,) = [t for t in figure["traces"] if t["name"] == "labels"]
    assert text["meta"]["footer"] == "25 mm/s  10 mm/mV  0.5–40 Hz 60 Hz"
    filtered = {t["name"]: t["y"] for t in figure["traces"] if t["meta"].get("lead")}
    assert filtered["II"] != raw["II"]

    tab.page.select_option("#viewer select[name=filter]", label="Off")
    tab.page.select_option("#viewer select[name=notch]", "")
    # The second change supersedes the first while it is on the way.
    tab.page.wait_for_function(
        "window.__drawn.at(-1).reason === 'filters' && !window.__drawn.at(-1).filters"
    )
    assert {
        t["name"]: t["y"] for t in tab.figure()["traces"] if t["meta"].get("lead")
    } == raw
    # Unfiltered again: the recorded signal, from memory.
    assert tab.page.evaluate("window.__drawn.at(-1).filters") is None


def test_lead_names_stay_on_screen_when_zoomed_and_ctrl_wheel_zooms(
    exam_campaign, login
):
    tab = login("reader1", NARROW)
    tab.read(exam_campaign)
    # Into the middle of aVL (row 2, 2.5-5 s): its name moves to the left edge.
    tab.page.evaluate(
        f"Plotly.relayout({GRAPH}, {{'xaxis.range': [3.4, 4.4], "
        "'yaxis.range': [7000, 10000]})"
    )
    tab.page.wait_for_timeout(300)
    figure = tab.figure()
    x, y = figure["x"]["range"], figure["y"]["range"]
    inside = tab.page.evaluate(
        f"""() => {{
        const t = {GRAPH}.data.at(-1);
        return t.text.filter((s, i) => t.x[i] >= {x[0]} && t.x[i] <= {x[1]}
                                   && t.y[i] >= {y[0]} && t.y[i] <= {y[1]});
    }}"""
    )
    assert any("aVL" in s for s in inside), (inside, x, y)

    tab.page.click("#viewer .ecg-reset")
    tab.page.wait_for_function("window.__drawn.at(-1).reason === 'reset'")
    home = tab.figure()["x"]["range"]
    a = axes(tab)
    tab.page.mouse.move(*pixel(a, 2.0, a["y"][1] / 2))
    tab.page.keyboard.down("Control")
    tab.page.mouse.wheel(0, -100)
    tab.page.keyboard.up("Control")
    tab.page.wait_for_function(
        f"{GRAPH}._fullLayout.xaxis.range[1] - {GRAPH}._fullLayout.xaxis.range[0]"
        f" < {(home[1] - home[0]) * 0.9}"
    )
    zoomed = tab.figure()["x"]["range"]
    # About the pointer: 2.0 s stays where it was on the screen.
    before = (2.0 - home[0]) / (home[1] - home[0])
    after = (2.0 - zoomed[0]) / (zoomed[1] - zoomed[0])
    assert after == pytest.approx(before, abs=0.01)


def noisy_exam() -> Any:
    """A synthetic exam with 60 Hz mains (150 µV) and 0.1 Hz drift (600 µV)."""
    import numpy as np

    from annotator.synthetic import synthesize

    ecg = synthesize(seed=4)
    t = np.arange(ecg.signal_uv.shape[1]) / ecg.fs
    noise = 150 * np.sin(2 * np.pi * 60 * t) + 600 * np.sin(2 * np.pi * 0.1 * t)
    signal = np.clip(ecg.signal_uv + noise, -32768, 32767).astype(np.int16)
    return stored_exam(
        "N-001", signal, ecg.fs, list(ecg.lead_names), patient_pseudonym="P000004"
    )


def quiet(tab: Tab) -> None:
    """Hide the page's passing status message before a screenshot."""
    tab.page.evaluate("document.getElementById('status').classList.remove('shown')")
    tab.page.wait_for_timeout(300)


def test_screenshots_of_calipers_and_filters(cast, login, shots):
    campaign = factories.make_campaign(
        cast, [ecg_exam("R-001", 1), noisy_exam()], name="Screens"
    )
    tab = login("reader1", NARROW)
    tab.read(campaign)
    tab.page.keyboard.press("Shift+C")
    a = axes(tab)
    base = baseline_of_lead_ii(tab)
    drag(tab, pixel(a, 0.32, base), pixel(a, 1.15, base + 1200))
    tab.page.keyboard.press("Shift+M")
    assert readout(tab)["caliperMs"] == pytest.approx(830, abs=11)
    quiet(tab)
    save_png(tab.page.locator("#viewer"), shots / "viewer-calipers.png")

    tab.page.keyboard.press("Shift+X")
    tab.page.keyboard.press("Shift+C")
    tab.page.keyboard.press("s")  # sinus rhythm
    tab.page.click("#submit")
    tab.drawn(2)
    quiet(tab)
    save_png(tab.page.locator("#viewer"), shots / "viewer-noisy.png")
    tab.page.select_option("#viewer select[name=filter]", label="0.5–40 Hz")
    tab.page.select_option("#viewer select[name=notch]", "60")
    tab.page.wait_for_function(
        "window.__drawn.at(-1).reason === 'filters' && "
        "window.__drawn.at(-1).filters === '0.5-40 Hz 60 Hz'"
    )
    quiet(tab)
    save_png(tab.page.locator("#viewer"), shots / "viewer-filtered.png")


def test_the_campaign_filters_are_where_a_reading_starts(cast, login):
    campaign = factories.make_campaign(
        cast,
        [ecg_exam("R-001", 1)],
        name="Filtered",
        display_filters={"highpass": 0.5, "lowpass": 40, "notch": 60},
    )
    tab = login("reader1", NARROW)
    tab.read(campaign)
    query = parse_qs(urlparse(tab.signals[0]).query)
    assert (query["highpass"], query["lowpass"], query["notch"]) == (
        ["0.5"],
        ["40"],
        ["60"],
    )
    assert tab.page.input_value("#viewer select[name=notch]") == "60"
    (text,) = [t for t in tab.figure()["traces"] if t["name"] == "labels"]
    assert text["meta"]["footer"] == "25 mm/s  10 mm/mV  0.5–40 Hz 60 Hz"
