"""Measurements and evidence in headless Chromium: a caliper interval copied into
the Measure table with one key, evidence dragged on a lead and given a class,
both submitted with the read, drawn for the adjudicator in each reader's colour
and written to the JSON Lines export.

Screenshots (1366 px) go to a temporary folder, or to ``$SCREENSHOTS``::

    SCREENSHOTS=docs/screenshots pytest -m browser tests/test_browser_evidence.py
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from annotator import exports, services
from tests import factories
from tests.test_browser_instrument import axes, drag, pixel
from tests.test_browser_reading import (  # noqa: F401 (fixtures)
    GRAPH,
    NARROW,
    Tab,
    decision,
    ecg_exam,
    login,
    save_png,
    shots,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Okabe–Ito: the first two readers' colours (viewer-evidence.js PALETTE).
BLUE, VERMILLION = "#0072b2", "#d55e00"


def row_baseline(tab: Tab, row: int) -> float:
    """Paper y (µV) of a 3x4 row's baseline (rows 35 mm apart, 20 mm below the top)."""
    a = axes(tab)
    uv_per_mm = 1000 / float(tab.page.input_value("#viewer select[name=gain]"))
    top_mm = (a["y"][1] - a["y"][0]) / uv_per_mm
    return (top_mm - 35 * row - 20) * uv_per_mm


def bands(tab: Tab) -> list[dict[str, Any]]:
    """The evidence bands drawn: code, reader, colour and the band's pixels."""
    return tab.page.eval_on_selector_all(
        "#viewer .evidence-band",
        """(gs) => gs.map((g) => {
            const r = g.querySelector('rect');
            return {code: g.dataset.code, reader: g.dataset.reader ?? null,
                    colour: g.style.getPropertyValue('--colour').trim(),
                    stale: g.classList.contains('stale'),
                    x: +r.getAttribute('x'), width: +r.getAttribute('width'),
                    y: +r.getAttribute('y'), height: +r.getAttribute('height')};
        })""",
    )


def value(tab: Tab, name: str) -> str:
    return tab.page.input_value(f"#measure-{name}")


def test_bazetts_qtc_is_qt_over_the_root_of_rr_in_seconds(cast, login):
    campaign = factories.make_campaign(cast, [ecg_exam("R-001", 1)], name="QTc")
    tab = login("reader1", NARROW)
    tab.read(campaign)
    got = tab.page.evaluate(
        """async () => {
            const {bazett} = await import('/static/frontend/js/measurements.js');
            return [bazett(400, 1000), bazett(380, 640), bazett(350, 810.5),
                    bazett(400, 0), bazett(null, 800), bazett(400, NaN)];
        }"""
    )
    assert got == [400, 475, pytest.approx(388.8, abs=0.05), None, None, None]


def test_a_read_carries_caliper_measurements_and_evidence_to_the_export(
    cast, login, shots
):
    campaign = factories.make_campaign(
        cast, [ecg_exam("R-001", 1), ecg_exam("R-002", 2)], name="Evidence"
    )
    tab = login("reader1", NARROW)
    tab.read(campaign)
    page = tab.page
    page.keyboard.press("s")  # sinus rhythm
    page.keyboard.press("v")  # ventricular premature complexes
    assert page.locator("#chosen .chip").count() == 2

    # Calipers, then R: RR, and the row after it (PR) is selected next.
    page.keyboard.press("Shift+C")
    a = axes(tab)
    ii = row_baseline(tab, 1)
    tolerance = max(2, (a["x"][1] - a["x"][0]) / a["width"] * 1000)
    drag(tab, pixel(a, 0.5, ii), pixel(a, 1.3, ii))
    page.keyboard.press("Shift+R")
    assert float(value(tab, "RR")) == pytest.approx(800, abs=tolerance)
    assert page.is_checked("#measure input[value=PR]")
    page.keyboard.press("Shift+X")  # a new pair of cursors, not a dragged one
    drag(tab, pixel(a, 0.5, ii), pixel(a, 0.66, ii))
    page.keyboard.press("Shift+R")
    pr = float(value(tab, "PR"))
    assert pr == pytest.approx(160, abs=tolerance)
    assert page.is_checked("#measure input[value=QRS]")
    page.check("#measure input[value=QT]")
    page.keyboard.press("Shift+X")
    drag(tab, pixel(a, 0.5, ii), pixel(a, 0.88, ii))
    page.keyboard.press("Shift+R")
    rr, qt = float(value(tab, "RR")), float(value(tab, "QT"))
    assert qt == pytest.approx(380, abs=tolerance)
    assert float(value(tab, "QTc")) == pytest.approx(qt / (rr / 1000) ** 0.5, abs=0.1)
    assert "Bazett" in page.text_content("#measure .measure-note")

    # The Evidence tool (E) turns the calipers off; a drag on V1 (3x4: row 1,
    # third column, 5–7.5 s) opens the class menu, which the keys work.
    page.keyboard.press("Shift+E")
    tool = page.get_by_role("button", name="Evidence", exact=True)
    assert tool.get_attribute("aria-pressed") == "true"
    assert page.get_attribute(
        "#viewer .ecg-tool[title^='Calipers']", "aria-pressed"
    ) == ("false")
    v1 = row_baseline(tab, 0)
    drag(tab, pixel(a, 5.4, v1), pixel(a, 6.2, v1))
    menu = page.get_by_role("menu")
    assert menu.get_by_role("menuitem").all_text_contents()[:2] == [
        "SR Sinus rhythm",
        "PVC Ventricular premature complexes",
    ]
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    assert page.get_by_role("menu").count() == 0
    assert page.locator("#chosen .chip").count() == 2  # the keys chose no class
    (band,) = bands(tab)
    assert (band["code"], band["colour"]) == ("PVC", BLUE)
    assert band["x"] == pytest.approx(pixel(a, 5.4, v1)[0] - a["left"], abs=2)

    # A second span, on the rhythm strip (lead II, row 4), picked with the mouse.
    strip = row_baseline(tab, 3)
    drag(tab, pixel(a, 1.0, strip), pixel(a, 3.0, strip))
    page.get_by_role("menuitem", name="SR Sinus rhythm").click()
    # Lead II is drawn twice in 3x4: its cell (0–2.5 s) and the strip; both show it.
    assert sorted(b["code"] for b in bands(tab)) == ["PVC", "SR", "SR"]
    assert page.locator("#evidence-list li").count() == 2
    page.evaluate("document.getElementById('status').classList.remove('shown')")
    page.wait_for_timeout(300)
    save_png(page, shots / "read-evidence.png")

    # Zooming keeps the bands on the paper: the same times at the new scale.
    page.keyboard.press("+")
    page.wait_for_function(
        f"{GRAPH}._fullLayout.xaxis.range[1] - {GRAPH}._fullLayout.xaxis.range[0] < "
        f"{(a['x'][1] - a['x'][0]) * 0.9}"
    )
    page.wait_for_timeout(100)
    zoomed = axes(tab)
    pvc = next(b for b in bands(tab) if b["code"] == "PVC")
    assert pvc["x"] == pytest.approx(pixel(zoomed, 5.4, 0)[0] - zoomed["left"], abs=2)
    page.keyboard.press("Shift+Z")

    # A class dropped takes its evidence out of the read (struck in the list).
    page.keyboard.press("v")
    assert page.locator("#evidence-list li.stale").count() == 1
    page.keyboard.press("v")
    assert page.locator("#evidence-list li.stale").count() == 0

    page.click("#submit")
    tab.drawn(2)
    page.wait_for_function("document.getElementById('exam-title').textContent")
    stored = decision(campaign, cast.reader1, "R-001")
    api = page.evaluate(f"fetch('/api/decisions/{stored.pk}/').then((r) => r.json())")
    assert api["measurements"] == {
        "RR": pytest.approx(rr),
        "PR": pytest.approx(pr),
        "QT": pytest.approx(qt),
        "QTc": pytest.approx(qt / (rr / 1000) ** 0.5, abs=0.1),
    }
    spans = {e["code"]: e for e in api["evidence"]}
    assert spans["PVC"]["leads"] == ["V1"]
    assert spans["PVC"]["start"] == pytest.approx(5.4, abs=0.02)
    assert spans["PVC"]["end"] == pytest.approx(6.2, abs=0.02)
    assert spans["SR"]["leads"] == ["II"]
    assert spans["SR"]["end"] - spans["SR"]["start"] == pytest.approx(2, abs=0.03)
    # The next exam starts with an empty table and no evidence.
    assert value(tab, "RR") == "" and bands(tab) == []
    assert (
        page.locator("#evidence-list li.stale, #evidence-list .evidence-text").count()
        == 0
    )

    out = io.BytesIO()
    exports.write_export(campaign, "jsonl", out, include_unresolved=True)
    records = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    (read,) = next(r for r in records if r["exam_id"] == "R-001")["readers"]
    assert read["measurements"] == api["measurements"]
    for span in read["evidence"]:
        assert span["start_sample"] == round(span["start"] * 500)
        assert span["end_sample"] == round(span["end"] * 500)
    assert {s["code"]: s["leads"] for s in read["evidence"]} == {
        "PVC": ["V1"],
        "SR": ["II"],
    }


def test_the_adjudicator_sees_each_readers_evidence_in_their_colour(cast, login, shots):
    exam = ecg_exam("B-001", 3, rhythm="af")
    campaign = factories.make_campaign(cast, [exam], name="Disputed")
    reads = {
        cast.reader1: {
            "labels": ["AF"],
            "measurements": {"RR": 640, "QRS": 92},
            "evidence": [
                {"code": "AF", "start": 0.4, "end": 2.2, "leads": ["II"]},
                {"code": "AF", "start": 5.1, "end": 7.3, "leads": ["V1"]},
            ],
        },
        cast.reader2: {
            "labels": ["AFL"],
            "measurements": {"RR": 655.5, "QRS": 96, "QT": 360},
            "evidence": [
                {"code": "AFL", "start": 1.5, "end": 4.0, "leads": ["II"]},
            ],
        },
    }
    for reader, read in reads.items():
        assignment = services.claim_next(campaign=campaign, reader=reader)
        services.submit_decision(assignment=assignment, reader=reader, **read)
    tab = login("adjudicator", {"width": 1366, "height": 1450})
    tab.page.goto(f"{tab.url}/adjudicate/{campaign.pk}/")
    tab.drawn(1)
    tab.page.wait_for_selector("#viewer .evidence-band")
    drawn = bands(tab)
    by_reader = {(b["reader"], b["code"], b["colour"]) for b in drawn}
    assert by_reader == {("reader1", "AF", BLUE), ("reader2", "AFL", VERMILLION)}
    # Lead II: in its 3x4 cell (0–2.5 s) and on the rhythm strip; V1: its cell.
    assert sum(b["reader"] == "reader1" for b in drawn) == 3
    assert sum(b["reader"] == "reader2" for b in drawn) == 2
    legend = tab.page.text_content(".evidence-legend")
    assert "reader1 (evidence: 2)" in legend and "reader2 (evidence: 1)" in legend
    rows = tab.page.eval_on_selector_all(
        "#reader-measures tbody tr",
        "(rs) => rs.map((r) => [...r.children].map((c) => c.textContent.trim()))",
    )
    assert rows == [
        ["RR", "640", "655.5"],
        ["QRS", "92", "96"],
        ["QT", "—", "360"],
    ]
    tab.page.wait_for_timeout(200)
    save_png(tab.page, shots / "adjudicate-evidence.png")
